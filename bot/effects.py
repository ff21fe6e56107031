"""Turns the core's effects into outbox rows, inside the event's transaction.

Cards, reporter notices and owner alerts are rendered here, in the reader's language, and
queued; the delivery worker sends them. Nothing staff-facing ever carries a hidden identity.
What a card is drawn from, and where it was posted, is read through storage/casecards.py.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.documents import strip_document
from handlers.cards import (
    card_buttons,
    duplicate_buttons,
    reporter_line,
    staff_card,
    typed_actions,
)
from handlers.casedesk import answer_button, resolution_question
from handlers.casework import Action
from handlers.context import CaseChanged, Effect, ReportSubmitted
from handlers.formrunner import describe_media
from handlers.forms import Catalog
from handlers.i18n import Translations, Translator
from handlers.ports import ReportView
from handlers.text import labelled
from storage import casecards
from storage.casecards import CaseFacts
from storage.db import Session, Sessions
from storage.models import Attachment, OutboxMessage
from storage.outbox import Queued, enqueue, enqueue_many
from storage.seal import HIDDEN


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

    async def apply(self, session: Session, effect: Effect) -> None:
        if isinstance(effect, ReportSubmitted):
            await self._new_report(session, effect.report_id)
        elif isinstance(effect, CaseChanged):
            await self._case_changed(session, effect)

    # -- rendering -------------------------------------------------------------------------------
    def card(self, facts: CaseFacts, audience: str) -> dict[str, Any]:
        """The card payload for one audience: `staff` or `department:CODE`."""
        view = facts.view
        t = self.translations(None)  # staff read the organisation's default language
        summary = describe_media(t, [{"kind": a.kind} for a in facts.attachments])
        locations = [
            (a.latitude, a.longitude)
            for a in facts.attachments
            if a.kind == "location" and a.latitude is not None and a.longitude is not None
        ]
        now = datetime.now(UTC)
        # Similar cases are named to the staff only: a department may not see other cases.
        similar = facts.similar if audience == "staff" else ()
        text = staff_card(
            t, self.catalog, view, facts.reporter, summary, locations, self.tz, now, similar
        )
        buttons: list[tuple[str, str]] = []
        if audience == "staff":
            buttons = card_buttons(t, view, "staff")
            buttons += duplicate_buttons(t, view, similar, "staff")
        elif audience == f"department:{view.department_code}":
            buttons = card_buttons(t, view, "department")
        return {
            "kind": "card",
            "report_id": view.id,
            "text": text,
            "choices": buttons,
            "typed": typed_actions(t, view.code, buttons),  # for chats without buttons
        }

    # -- a new report ----------------------------------------------------------------------------
    async def _new_report(self, session: Session, report_id: int) -> None:
        facts = await casecards.case_facts(session, report_id)
        assert facts is not None
        view = facts.view
        if view.anonymity in HIDDEN:
            await self._strip_documents(facts.attachments)
        hot = view.urgency == "hot"
        chats = await casecards.roles_chats(session, ["staff", "leaders"] if hot else ["staff"])
        # Every message of a new case in one statement: the leaders' alerts, then each staff
        # chat's card and its files, in the order they are to be delivered.
        messages = self._hot_alert(facts, chats["leaders"]) if hot else []
        payload = self.card(facts, "staff") if chats["staff"] else {}
        for channel, chat_id in chats["staff"]:
            messages.append((_card_key(view, channel, chat_id), channel, chat_id, payload))
            base = f"report:{view.code}:staff:{channel}:{chat_id}"
            for a in facts.attachments:
                if a.kind in ("photo", "document", "voice") and a.path:
                    file = {"kind": a.kind, "path": a.path, "caption": view.code}
                    messages.append((f"{base}:file:{a.id}", channel, chat_id, file))
        # A case this event created has no card anywhere yet: nothing to look up first.
        await casecards.record_new_cards(session, view.id, "staff", chats["staff"])
        await enqueue_many(session, messages)

    async def _strip_documents(self, attachments: list[Attachment]) -> None:
        """A hidden reporter's Word and PDF files lose their author and other properties before
        anyone can open them."""
        if self.attachments_dir is None:
            return
        for a in attachments:
            if a.kind == "document" and a.path:
                target = self.attachments_dir / a.path
                if target.is_file():
                    await asyncio.to_thread(strip_document, target, a.mime)

    def _hot_alert(self, facts: CaseFacts, leaders: list[casecards.Chat]) -> list[Message]:
        """Leaders hear of a hot report at once: code, category, unit and a short summary."""
        t = self.translations(None)
        view = facts.view
        category = self.catalog.category(view.category)
        summary = view.description.split("\n\n", 1)[0]
        if len(summary) > 400:
            summary = summary[:399] + "…"
        text = "\n".join(
            [
                t("🔥 HOT: {code}", code=view.code),
                labelled(t("Category"), category.label(t.locale) if category else view.category),
                labelled(t("Unit"), view.unit_name),
                labelled(t("Reporter"), reporter_line(t, view.anonymity, facts.reporter)),
                "",
                summary,
            ]
        )
        return [(f"hot:{view.id}:{ch}:{chat}", ch, chat, {"text": text}) for ch, chat in leaders]

    async def _post_card(
        self,
        session: Session,
        view: ReportView,
        audience: str,
        channel: str,
        chat_id: str,
        payload: dict[str, Any],
    ) -> None:
        await casecards.record_card(session, view.id, audience, channel, chat_id)
        await enqueue(session, _card_key(view, channel, chat_id), channel, chat_id, payload)

    async def _refresh_cards(self, session: Session, facts: CaseFacts) -> None:
        """Edit every posted card of this case to show its current state."""
        view = facts.view
        for card in await casecards.posted_cards(session, view.id):
            payload = self.card(facts, card.audience)
            payload["kind"] = "card_edit"
            key = f"cardedit:{view.id}:v{view.version}:{card.channel}:{card.chat_id}"
            await enqueue(session, key, card.channel, card.chat_id, payload)

    # -- a case moved ----------------------------------------------------------------------------
    async def _case_changed(self, session: Session, change: CaseChanged) -> None:
        facts = await casecards.case_facts(session, change.report_id)
        assert facts is not None
        action = Action(change.action)
        await self._refresh_cards(session, facts)
        if action == Action.ASSIGN:
            await self._post_to_department(session, facts)
        if action in (Action.ANSWER, Action.ADD_INFO, Action.DISPUTE, Action.REOPEN):
            await self._alert_owner(session, facts.view, action, change.note)
        await self._tell_reporter(session, facts.view, action, change.note)

    async def _post_to_department(self, session: Session, facts: CaseFacts) -> None:
        code = facts.view.department_code
        if not code:
            return
        audience = f"department:{code}"
        payload = self.card(facts, audience)
        for channel, chat_id in await casecards.department_chats(session, code):
            await self._post_card(session, facts.view, audience, channel, chat_id, payload)

    async def _alert_owner(
        self, session: Session, view: ReportView, action: Action, note: str
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
        text = texts[action].format(code=view.code, note=note)
        for channel, chat_id in await casecards.owner_chats(session, view.department_code):
            key = f"alert:{view.id}:v{view.version}:{channel}:{chat_id}"
            await enqueue(session, key, channel, chat_id, {"text": text})

    async def _tell_reporter(
        self, session: Session, view: ReportView, action: Action, note: str
    ) -> None:
        """Every public change reaches the reporter, through the sealed link of their person id."""
        target = await casecards.reporter_chat(session, view.id)
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
            choices = [answer_button(t, view)]
        payload = {"kind": "text", "text": text, "choices": choices, "reporter_of": view.id}
        await enqueue(session, f"notice:{view.id}:v{view.version}", channel, chat_id, payload)

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

    # -- delivery failures -----------------------------------------------------------------------
    async def delivery_failed(self, session: Session, row: OutboxMessage) -> None:
        """A reporter who blocked the bot does not break the case: the card says so."""
        report_id = row.payload.get("reporter_of")
        if not report_id:
            return
        if not await casecards.note_delivery_problem(session, report_id, row.last_error):
            return
        facts = await casecards.case_facts(session, report_id)
        assert facts is not None
        await self._refresh_cards(session, facts)


Message = tuple[str, str, str, dict[str, Any]]  # key, channel, chat id, payload (the outbox's)


def _card_key(view: ReportView, channel: str, chat_id: str) -> str:
    return f"card:{view.id}:v{view.version}:{channel}:{chat_id}"


class CardDelivery:
    """The delivery worker's hooks (scheduler/delivery.py `DeliveryHooks`) for case cards. A
    card is edited in place: an edit needs the id of the message it edits, and without one it
    is posted afresh; the id a posted card got is remembered. A notice the reporter can no
    longer receive is shown on the case's cards."""

    def __init__(self, sessions: Sessions, effects: EffectApplier) -> None:
        self.sessions = sessions
        self.effects = effects

    async def prepare(self, row: Queued, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("kind") != "card_edit":
            return payload
        async with self.sessions() as session:
            message_id = await casecards.card_message(
                session, payload.get("report_id") or 0, row.channel, row.chat_id
            )
        if message_id:
            return {**payload, "message_id": message_id}
        return {**payload, "kind": "card"}

    def sent(
        self, row: Queued, payload: dict[str, Any], message_id: str | None
    ) -> Callable[[Session], Awaitable[None]] | None:
        if payload.get("kind") not in ("card", "card_edit") or not message_id:
            return None
        report_id = payload.get("report_id") or 0
        return functools.partial(
            casecards.remember_card_message,
            report_id=report_id,
            channel=row.channel,
            chat_id=row.chat_id,
            message_id=message_id,
        )

    async def failed(self, session: Session, row: OutboxMessage) -> None:
        await self.effects.delivery_failed(session, row)
