"""Turns the core's effects into outbox rows, inside the event's transaction."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.cards import ReporterInfo, staff_card
from handlers.engine import Effect, ReportSubmitted
from handlers.formrunner import describe_media
from handlers.forms import Catalog
from handlers.i18n import Translations
from storage.admin import attachments_of, bindings_for, reporter_of
from storage.models import Report
from storage.outbox import enqueue
from storage.store import SqlStore


class EffectApplier:
    def __init__(self, catalog: Catalog, translations: Translations, tz: ZoneInfo) -> None:
        self.catalog = catalog
        self.translations = translations
        self.tz = tz

    async def apply(self, session: AsyncSession, effect: Effect) -> None:
        if isinstance(effect, ReportSubmitted):
            await self._notify_staff(session, effect.report_id)

    async def _notify_staff(self, session: AsyncSession, report_id: int) -> None:
        bindings = await bindings_for(session, "staff")
        if not bindings:
            return
        report = await session.get(Report, report_id)
        assert report is not None
        view = await SqlStore(session).report_view(report)
        found = await reporter_of(session, report) if report.anonymity == "named" else None
        reporter = ReporterInfo(found.name, found.username, found.unit_name) if found else None
        attachments = await attachments_of(session, report_id)
        t = self.translations(None)  # staff read the organisation's default language
        summary = describe_media(t, [{"kind": a.kind} for a in attachments])
        locations = [
            (a.latitude, a.longitude)
            for a in attachments
            if a.kind == "location" and a.latitude is not None and a.longitude is not None
        ]
        text = staff_card(t, self.catalog, view, reporter, summary, locations, self.tz)
        for binding in bindings:
            base = f"report:{report.code}:staff:{binding.channel}:{binding.chat_id}"
            await enqueue(session, f"{base}:card", binding.channel, binding.chat_id, {"text": text})
            for a in attachments:
                if a.kind in ("photo", "document", "voice") and a.path:
                    await enqueue(
                        session,
                        f"{base}:file:{a.id}",
                        binding.channel,
                        binding.chat_id,
                        {"kind": a.kind, "path": a.path, "caption": report.code},
                    )
