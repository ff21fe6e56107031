"""The delivery worker: sends outbox rows through the channels, with retries and backoff.

A row is marked sent only after the channel accepted it; one failing message never blocks the
others, and permanent failures are recorded on the row for digests and cards to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from scheduler.ratelimit import Limits, RateLimiter
from storage import outbox
from storage.models import CaseCard, OutboxMessage, utcnow

log = logging.getLogger(__name__)
BATCH = 50
DEFAULT_LIMITS = {
    "telegram": Limits(per_second=30, per_chat_per_second=1, per_group_per_minute=20),
    "zalo": Limits(per_second=10, per_chat_per_second=1, per_group_per_minute=20),
}
MAX_ATTEMPTS = 12


class DeliveryError(Exception):
    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Sender(Protocol):
    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        """Send one outbox payload; returns the message id where the channel has one."""
        ...


FailureHook = Callable[[AsyncSession, OutboxMessage], Awaitable[None]]


def backoff(attempts: int) -> float:
    """Exponential with jitter, capped at five minutes."""
    return min(300.0, 2.0 ** min(attempts, 8)) * random.uniform(0.5, 1.0)


class DeliveryWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        senders: Mapping[str, Sender],
        on_failure: FailureHook | None = None,
        limits: Mapping[str, Limits] | None = None,
    ) -> None:
        self.sessions = sessions
        self.senders = senders
        self.on_failure = on_failure
        self.limiters = {
            channel: RateLimiter(lim) for channel, lim in (limits or DEFAULT_LIMITS).items()
        }
        self._soonest = 0.0
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self, idle_seconds: float = 2.0) -> None:
        while not self._stopping:
            try:
                sent = await self.run_once()
            except Exception:  # the database went away for a moment: try again shortly
                log.exception("delivery pass failed")
                sent = 0
            if sent == 0 and not self._stopping:
                wait = min(idle_seconds, self._soonest) if self._soonest > 0 else idle_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                self._wake.clear()

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many rows were handled."""
        async with self.sessions() as session:
            rows = await outbox.due(session, utcnow(), BATCH)
        handled = 0
        held: set[tuple[str, str]] = set()  # chats over their rate: keep their order, skip them
        self._soonest = 0.0
        for row in rows:
            assert row.id is not None
            chat = (row.channel, row.chat_id)
            limiter = self.limiters.get(row.channel)
            if chat in held:
                continue
            if limiter is not None:
                delay = limiter.delay_for(row.chat_id)
                if delay > 0:
                    held.add(chat)
                    self._soonest = delay if not self._soonest else min(self._soonest, delay)
                    continue
                await limiter.acquire(row.chat_id)
            sender = self.senders.get(row.channel)
            async with self.sessions() as session, session.begin():
                if sender is None:
                    await outbox.mark_retry(session, row.id, f"channel {row.channel} is off", 60)
                    continue
                try:
                    payload = await self._with_card_message(session, row)
                    message_id = await sender.deliver(row.chat_id, payload)
                    if payload.get("kind") in ("card", "card_edit") and message_id:
                        await self._remember_card(session, row, message_id)
                except DeliveryError as exc:
                    if exc.permanent or row.attempts + 1 >= MAX_ATTEMPTS:
                        log.warning("outbox %s failed permanently: %s", row.id, exc)
                        await outbox.mark_failed(session, row.id, str(exc))
                        if self.on_failure is not None:
                            row.last_error = str(exc)
                            await self.on_failure(session, row)
                    else:
                        delay = (
                            exc.retry_after
                            if exc.retry_after is not None
                            else backoff(row.attempts)
                        )
                        await outbox.mark_retry(session, row.id, str(exc), delay)
                        held.add(chat)  # the rest of this chat waits behind it
                    continue
                except Exception as exc:  # a bug in a sender must not stall the queue
                    log.exception("outbox %s: unexpected error", row.id)
                    await outbox.mark_retry(session, row.id, repr(exc), backoff(row.attempts))
                    held.add(chat)
                    continue
                await outbox.mark_sent(session, row.id)
                handled += 1
        return handled

    async def _card(self, session: AsyncSession, row: OutboxMessage) -> CaseCard | None:
        stmt = select(CaseCard).where(
            CaseCard.report_id == row.payload.get("report_id"),
            CaseCard.channel == row.channel,
            CaseCard.chat_id == row.chat_id,
        )
        return (await session.execute(stmt)).scalar_one_or_none()

    async def _with_card_message(self, session: AsyncSession, row: OutboxMessage) -> dict[str, Any]:
        """An edit needs the id of the message it edits; without one it is posted afresh."""
        payload = dict(row.payload)
        if payload.get("kind") == "card_edit":
            card = await self._card(session, row)
            if card is None or not card.message_id:
                payload["kind"] = "card"
            else:
                payload["message_id"] = card.message_id
        return payload

    async def _remember_card(
        self, session: AsyncSession, row: OutboxMessage, message_id: str
    ) -> None:
        card = await self._card(session, row)
        if card is not None and card.message_id != message_id:
            card.message_id = message_id
            session.add(card)
