"""Delivery hooks that try a person's other messenger before giving up on them.

Wraps the application's hooks (`DeliveryHooks`, e.g. bot/effects.py `CardDelivery`): when a
private message fails for good (blocked, unfollowed, gone), storage/fallback.py queues it on the
person's next linked messenger, in the transaction that records the failure. Only when there is
none left do the wrapped hooks hear of the failure (a reporter's case then shows it), and a
contact point nobody can reach is reported to their unit's secretary, or to the staff chats
when the unit has none. A reporter's notice that arrived through a fallback is noted in the
case's history with the messenger that delivered it.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any

from handlers.i18n import Translations
from scheduler.delivery import DeliveryHooks
from scheduler.ledger import Extra
from storage.db import Session
from storage.fallback import Unreachable, record_delivery, reroute
from storage.models import OutboxMessage
from storage.outbox import Queued, enqueue

log = logging.getLogger(__name__)


class FallbackHooks:
    def __init__(self, inner: DeliveryHooks, translations: Translations) -> None:
        self.inner = inner
        self.translations = translations

    async def prepare(self, row: Queued, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.inner.prepare(row, payload)

    def sent(self, row: Queued, payload: dict[str, Any], message_id: str | None) -> Extra | None:
        extra = self.inner.sent(row, payload, message_id)
        via, report_id = payload.get("delivered_via"), payload.get("reporter_of")
        if not via or not report_id:
            return extra
        noted = functools.partial(record_delivery, report_id=int(report_id), channel=str(via))
        if extra is None:
            return noted

        async def both(session: Session) -> None:
            await extra(session)
            await noted(session)

        return both

    async def failed(self, session: Session, row: OutboxMessage) -> None:
        outcome = await reroute(session, row)
        if isinstance(outcome, str):
            log.info("outbox %s: refused for good; trying the person's %s instead", row.id, outcome)
            return
        await self.inner.failed(session, row)
        if isinstance(outcome, Unreachable):
            await self._report(session, outcome)

    async def _report(self, session: Session, who: Unreachable) -> None:
        t = self.translations(None)
        text = t(
            "⚠ {name} ({unit}), a contact point, cannot be reached on any messenger: every one of their linked messengers refused our messages. Please contact them another way and ask them to open the bot again.",
            name=who.name,
            unit=who.unit_name or "—",
        )
        day = datetime.now(UTC).date().isoformat()
        for channel, chat_id in who.tell:  # at most once a day per person and chat
            key = f"unreachable:{who.person_id}:{day}:{channel}:{chat_id}"[:128]
            await enqueue(session, key, channel, chat_id, {"kind": "text", "text": text})
