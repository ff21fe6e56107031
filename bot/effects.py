"""Turns the core's effects into outbox rows, inside the event's transaction.

Cards, reporter notices and owner alerts are rendered here, in the reader's language, and
queued; the delivery worker sends them. Nothing staff-facing ever carries a hidden identity.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.documents import strip_document
from handlers.cards import ReporterInfo, card_buttons, reporter_line, staff_card
from handlers.casedesk import resolution_question
from handlers.casework import Action
from handlers.context import CaseChanged, Effect, ReportSubmitted
from handlers.formrunner import describe_media
from handlers.forms import Catalog
from handlers.i18n import Translations, Translator
from handlers.ports import ReportView
from handlers.text import labelled
from storage.admin import attachments_of, bindings_for, reporter_of
from storage.models import CaseCard, Department, Identity, OutboxMessage, Person, Report
from storage.outbox import enqueue
from storage.seal import HIDDEN, SEALED_CHANNEL, reporter_address, sealed_address
from storage.store import SqlStore


class EffectApplier:
    def __init__(
        self,
        catalog: Catalog,
        translations: Translations,
        tz: ZoneInfo,
        attachments_dir: Path | None = None,
    ) -> None:
        self.catalog = catalog
        self.translations = translations
        self.tz = tz
        self.attachments_dir = attachments_dir

    async def apply(self, session: AsyncSession, effect: Effect) -> None:
        if isinstance(effect, ReportSubmitted):
            await self._new_report(session, effect.report_id)
        elif isinstance(effect, CaseChanged):
            await self._case_changed(session, effect)

    # -- rendering -------------------------------------------------------------------------------
    async def card(self, session: AsyncSession, report: Report, audience: str) -> dict[str, Any]:
        """The card payload for one audience: `staff` or `department:CODE`."""
        view = await SqlStore(session).report_view(report, with_events=True)
        found = await reporter_of(session, report) if report.anonymity == "named" else None
        reporter = ReporterInfo(found.name, found.username, found.unit_name) if found else None
        attachments = await attachments_of(session, report.id or 0)
        t = self.translations(None)  # staff read the organisation's default language
        summary = describe_media(t, [{"kind": a.kind} for a in attachments])
        locations = [
            (a.latitude, a.longitude)
            for a in attachments
            if a.kind == "location" and a.latitude is not None and a.longitude is not None
        ]
        text = staff_card(
            t, self.catalog, view, reporter, summary, locations, self.tz, datetime.now(UTC)
        )
        buttons: list[tuple[str, str]] = []
        if audience == "staff":
            buttons = card_buttons(t, view, "staff")
        elif audience == f"department:{view.department_code}":
            buttons = card_buttons(t, view, "department")
        return {"kind": "card", "report_id": report.id, "text": text, "choices": buttons}

    # -- a new report ----------------------------------------------------------------------------
    async def _new_report(self, session: AsyncSession, report_id: int) -> None:
        report = await session.get(Report, report_id)
        assert report is not None
        if report.anonymity in HIDDEN:
            await self._strip_documents(session, report_id)
        if report.urgency == "hot":
            await self._hot_alert(session, report)
        bindings = await bindings_for(session, "staff")
        if not bindings:
            return
        payload = await self.card(session, report, "staff")
        attachments = await attachments_of(session, report_id)
        for binding in bindings:
            await self._post_card(
                session, report, "staff", binding.channel, binding.chat_id, payload
            )
            base = f"report:{report.code}:staff:{binding.channel}:{binding.chat_id}"
            for a in attachments:
                if a.kind in ("photo", "document", "voice") and a.path:
                    await enqueue(
                        session,
                        f"{base}:file:{a.id}",
                        binding.channel,
                        binding.chat_id,
                        {"kind": a.kind, "path": a.path, "caption": report.code},
                    )

    async def _strip_documents(self, session: AsyncSession, report_id: int) -> None:
        """A hidden reporter's Word and PDF files lose their author and other properties before
        anyone can open them."""
        if self.attachments_dir is None:
            return
        for a in await attachments_of(session, report_id):
            if a.kind == "document" and a.path:
                target = self.attachments_dir / a.path
                if target.is_file():
                    await asyncio.to_thread(strip_document, target, a.mime)

    async def _hot_alert(self, session: AsyncSession, report: Report) -> None:
        """Leaders hear of a hot report at once: code, category, unit and a short summary."""
        t = self.translations(None)
        view = await SqlStore(session).report_view(report)
        category = self.catalog.category(report.category)
        found = await reporter_of(session, report) if report.anonymity == "named" else None
        reporter = ReporterInfo(found.name, found.username, found.unit_name) if found else None
        summary = report.description.split("\n\n", 1)[0]
        if len(summary) > 400:
            summary = summary[:399] + "…"
        text = "\n".join(
            [
                t("🔥 HOT: {code}", code=report.code),
                labelled(t("Category"), category.label(t.locale) if category else report.category),
                labelled(t("Unit"), view.unit_name),
                labelled(t("Reporter"), reporter_line(t, report.anonymity, reporter)),
                "",
                summary,
            ]
        )
        for binding in await bindings_for(session, "leaders"):
            key = f"hot:{report.id}:{binding.channel}:{binding.chat_id}"
            await enqueue(session, key, binding.channel, binding.chat_id, {"text": text})

    async def _post_card(
        self,
        session: AsyncSession,
        report: Report,
        audience: str,
        channel: str,
        chat_id: str,
        payload: dict[str, Any],
    ) -> None:
        existing = (
            await session.execute(
                select(CaseCard).where(
                    CaseCard.report_id == report.id,
                    CaseCard.channel == channel,
                    CaseCard.chat_id == chat_id,
                )
            )
        ).scalar_one_or_none()
        if existing is None:
            session.add(
                CaseCard(
                    report_id=report.id or 0, audience=audience, channel=channel, chat_id=chat_id
                )
            )
            await session.flush()
        key = f"card:{report.id}:v{report.version}:{channel}:{chat_id}"
        await enqueue(session, key, channel, chat_id, payload)

    async def refresh_cards(self, session: AsyncSession, report: Report) -> None:
        """Edit every posted card of this case to show its current state."""
        cards = (
            await session.execute(select(CaseCard).where(CaseCard.report_id == report.id))
        ).scalars()
        for card in cards:
            payload = await self.card(session, report, card.audience)
            payload["kind"] = "card_edit"
            key = f"cardedit:{report.id}:v{report.version}:{card.channel}:{card.chat_id}"
            await enqueue(session, key, card.channel, card.chat_id, payload)

    # -- a case moved ----------------------------------------------------------------------------
    async def _case_changed(self, session: AsyncSession, change: CaseChanged) -> None:
        report = await session.get(Report, change.report_id, populate_existing=True)
        assert report is not None
        action = Action(change.action)
        await self.refresh_cards(session, report)
        view = await SqlStore(session).report_view(report, with_events=True)
        if action == Action.ASSIGN:
            await self._post_to_department(session, report, view)
        if action in (Action.ANSWER, Action.ADD_INFO, Action.DISPUTE, Action.REOPEN):
            await self._alert_owner(session, report, view, action, change.note)
        await self._tell_reporter(session, report, view, action, change.note)

    async def owner_view(self, session: AsyncSession, report: Report) -> ReportView:
        return await SqlStore(session).report_view(report)

    async def person_locale(
        self, session: AsyncSession, channel: str, external_id: str
    ) -> str | None:
        person = await SqlStore(session).person_for(channel, external_id)
        return person.locale if person else None

    async def owner_chats(self, session: AsyncSession, view: ReportView) -> list[tuple[str, str]]:
        return await self._owner_chats(session, view)

    async def _owner_chats(self, session: AsyncSession, view: ReportView) -> list[tuple[str, str]]:
        """Where the case's owner is: its department's chats or handlers, else the staff chats."""
        if view.department_code:
            chats = await self._department_chats(session, view.department_code)
            if chats:
                return chats
        return [(b.channel, b.chat_id) for b in await bindings_for(session, "staff")]

    async def _department_chats(self, session: AsyncSession, code: str) -> list[tuple[str, str]]:
        bound = [(b.channel, b.chat_id) for b in await bindings_for(session, f"department:{code}")]
        if bound:
            return bound
        # No group chat: the department's named handlers, privately.
        stmt = (
            select(Identity.channel, Identity.external_id)
            .join(Person, col(Person.id) == col(Identity.person_id))
            .join(Department, col(Department.id) == col(Person.department_id))
            .where(Department.code == code)
        )
        return [(channel, chat) for channel, chat in (await session.execute(stmt)).all()]

    async def _post_to_department(
        self, session: AsyncSession, report: Report, view: ReportView
    ) -> None:
        code = view.department_code
        if not code:
            return
        audience = f"department:{code}"
        payload = await self.card(session, report, audience)
        for channel, chat_id in await self._department_chats(session, code):
            await self._post_card(session, report, audience, channel, chat_id, payload)

    async def _alert_owner(
        self, session: AsyncSession, report: Report, view: ReportView, action: Action, note: str
    ) -> None:
        t = self.translations(None)
        texts = {
            Action.ANSWER: t("💬 The reporter answered on {code}: {note}"),
            Action.ADD_INFO: t("📎 The reporter added to {code}: {note}"),
            Action.DISPUTE: t(
                "⚠️ {code} was reopened: the reporter says it is not resolved: {note}"
            ),
            Action.REOPEN: t("⚠️ {code} was reopened and needs your attention again."),
        }
        text = texts[action].format(code=report.code, note=note)
        for channel, chat_id in await self._owner_chats(session, view):
            key = f"alert:{report.id}:v{report.version}:{channel}:{chat_id}"
            await enqueue(session, key, channel, chat_id, {"text": text})

    async def _tell_reporter(
        self, session: AsyncSession, report: Report, view: ReportView, action: Action, note: str
    ) -> None:
        """Every public change reaches the reporter, through the sealed link of their person id."""
        target = await self.reporter_chat(session, report)
        if target is None:
            return
        channel, chat_id, locale = target
        t = self.translations(locale)
        text = self.reporter_notice(t, view, action, note)
        if text is None:
            return
        choices: list[tuple[str, str]] = []
        if action == Action.RESOLVE:
            question, choices = resolution_question(t, view)
            text += "\n\n" + question
        elif action == Action.ASK:
            choices = [(f"r:{view.id}:answer:{view.version}", t("Answer the question"))]
        payload = {"kind": "text", "text": text, "choices": choices, "reporter_of": report.id}
        await enqueue(session, f"notice:{report.id}:v{report.version}", channel, chat_id, payload)

    @staticmethod
    def reporter_notice(t: Translator, view: ReportView, action: Action, note: str) -> str | None:
        code = view.code
        texts = {
            Action.ACKNOWLEDGE: t(
                "Your report {code} has been received by the committee's staff and is being handled."
            ),
            Action.ASSIGN: t("Your report {code} has been passed to {department} for handling."),
            Action.ASK: t(
                "About your report {code}, the people handling it ask:\n{note}\n\nReply here with your answer."
            ),
            Action.RESOLVE: t("Your report {code} has been resolved:\n{note}"),
            Action.REJECT: t("Your report {code} was not taken up:\n{note}"),
            Action.DUPLICATE: t("Your report {code} is being handled together with {note}."),
            Action.REOPEN: t("Your report {code} has been reopened."),
            Action.HAND_BACK: None,
            Action.AUTO_CLOSE: t("Your report {code} has been closed. Thank you for reporting it."),
        }
        text = texts.get(action)
        if text is None:
            return None
        return text.format(code=code, department=view.department_name, note=note)

    async def reporter_chat(
        self, session: AsyncSession, report: Report
    ) -> tuple[str, str, str] | None:
        """(channel, chat id, locale) to address the reporter. A hidden reporter is addressed by
        a sealed handle naming only the report; the delivery worker resolves it at send time."""
        found = await reporter_address(session, report)
        if found is None:
            return None
        if report.sealed_reporter and report.id is not None:
            return SEALED_CHANNEL, sealed_address(report.id), found[2]
        return found

    # -- delivery failures -----------------------------------------------------------------------
    async def delivery_failed(self, session: AsyncSession, row: OutboxMessage) -> None:
        """A reporter who blocked the bot does not break the case: the card says so."""
        report_id = row.payload.get("reporter_of")
        if not report_id:
            return
        report = await session.get(Report, report_id)
        if report is None:
            return
        report.delivery_problem = row.last_error[:300] or "delivery failed"
        report.version += 1
        session.add(report)
        await session.flush()
        await self.refresh_cards(session, report)
