"""The delivery worker: sends outbox rows through the channels, with retries and backoff.

A row is marked sent only after the channel accepted it; one failing message never blocks the
others, and permanent failures are recorded on the row for digests and cards to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol

from scheduler.ledger import Extra, Ledger
from scheduler.ratelimit import Limits, RateLimiter
from scheduler.sender import DeliveryError, Sender
from scheduler.telemetry import NO_TELEMETRY, Telemetry
from storage import outbox
from storage.db import Session, Sessions
from storage.models import OutboxMessage, utcnow
from storage.outbox import Queued
from storage.seal import SEALED_CHANNEL, SealError, open_payload, resolve_sealed

log = logging.getLogger(__name__)
# Rows fetched at a time: two seconds' worth of the fastest pace, between 4 x the sends in
# flight and 500. Fetching 500 rows blocks the event loop for ~10 ms, which at 30/s sends
# late; a few seconds' worth keeps sending from waiting on a query all the same.
BATCH = 500
BATCH_SECONDS = 2.0
# Sends in flight at once: a quarter of a second's worth of the fastest pace, never fewer than
# 8 nor more than 64. Each one is claimed (committed "sending") before it waits for its send
# slot, so the more are in hand, the more claims and "sent" marks share one transaction (the
# ledger lingers while the pacer is booked ahead): at 200/s, 20 in hand made a transaction per
# ~4.5 messages, 50 one per ~11. The rows in hand are also the ones in doubt if the process
# dies (at most one per chat), and an urgent row waits for its slot behind them. At least two
# of the pacer's bursts (`Limits.burst`): at 30/s 20 in hand, two thirds of a second.
PARALLEL_CHATS = 8
MAX_PARALLEL = 64
IN_FLIGHT_SECONDS = 0.25
DEFAULT_LIMITS = {
    "telegram": Limits(per_second=30, per_chat_per_second=1, per_group_per_minute=20),
    "zalo": Limits(per_second=10, per_chat_per_second=1, per_group_per_minute=20),
}
MAX_ATTEMPTS = 12
# A claim is committed at least this long before its send slot.
COMMIT_SECONDS = 0.03
# A chat held back (over its own rate, or its row to be retried) is looked at again after this
# long within the same pass: a pass lasts as long as rows keep coming, and a group's cards must
# not wait for a whole poll round to go out.
HOLD_SECONDS = 1.0


class DeliveryHooks(Protocol):
    """What the rest of the application does around a send (bot/effects.py `CardDelivery`:
    case cards edited in place); the worker itself knows nothing of what a payload means."""

    async def prepare(self, row: Queued, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload to send for this row."""
        ...

    def sent(self, row: Queued, payload: dict[str, Any], message_id: str | None) -> Extra | None:
        """Writes to make in the transaction that records the row as sent, if any."""
        ...

    async def failed(self, session: Session, row: OutboxMessage) -> None:
        """The row failed for good (called in the transaction that records it)."""
        ...


def parallel_sends(limits: Iterable[Limits]) -> int:
    """Also two bursts' worth (`Limits.burst`): the next burst is claimed while one is sent."""
    limits = list(limits)
    fastest = max((lim.per_second for lim in limits), default=0.0)
    bursts = max((2 * lim.burst for lim in limits), default=0)
    in_flight = min(MAX_PARALLEL, max(bursts, math.ceil(fastest * IN_FLIGHT_SECONDS)))
    return max(PARALLEL_CHATS, in_flight)


def batch_size(limits: Iterable[Limits], parallel: int) -> int:
    fastest = max((lim.per_second for lim in limits), default=0.0)
    return max(4 * parallel, min(BATCH, math.ceil(fastest * BATCH_SECONDS)))


def backoff(attempts: int) -> float:
    """Exponential with jitter, capped at five minutes."""
    return min(300.0, 2.0 ** min(attempts, 8)) * random.uniform(0.5, 1.0)


class DeliveryWorker:
    def __init__(
        self,
        sessions: Sessions,
        senders: Mapping[str, Sender],
        hooks: DeliveryHooks | None = None,
        limits: Mapping[str, Limits] | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.sessions = sessions
        self.telemetry = telemetry
        self.senders = senders
        self.hooks = hooks
        self.limiters = {
            channel: RateLimiter(lim) for channel, lim in (limits or DEFAULT_LIMITS).items()
        }
        self.ledger = Ledger(sessions)
        self._soonest = 0.0
        # 1 gives a fixed order across chats (transcripts)
        self.parallel_chats = parallel_sends((limits or DEFAULT_LIMITS).values())
        self.batch = batch_size((limits or DEFAULT_LIMITS).values(), self.parallel_chats)
        self._wake = asyncio.Event()
        self._stopping = False
        self._pass: DeliveryPass | None = None

    def wake(self) -> None:
        """New rows were queued: a running pass fetches them now, not when its rows run low."""
        self._wake.set()
        if self._pass is not None:
            self._pass.running_low.set()

    def stop(self) -> None:
        """Start no new send; `run` returns once the sends on the wire are answered and
        recorded, so a graceful stop leaves no row in doubt."""
        self._stopping = True
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def soonest(self) -> float:
        """Seconds until a chat the last pass held back (over its rate) may be sent to; 0 when
        none was held."""
        return self._soonest

    async def run(self, idle_seconds: float = 2.0) -> None:
        recovered = False
        try:
            while not self._stopping:
                try:
                    if not recovered:
                        await self.recover()
                        recovered = True
                    sent = await self.run_once(stoppable=True)
                except Exception:  # the database went away for a moment: try again shortly
                    log.exception("delivery pass failed")
                    sent = 0
                if sent == 0 and not self._stopping:
                    wait = min(idle_seconds, self._soonest) if self._soonest > 0 else idle_seconds
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=wait)
                    self._wake.clear()
        finally:  # stopped mid-pass: what was sent must still be recorded as sent
            await asyncio.shield(self.ledger.flush())

    async def recover(self) -> int:
        """Rows left on the wire by a process that died go out again, marked in doubt."""
        async with self.sessions() as session, session.begin():
            count = await outbox.recover_in_flight(session)
        if count:
            log.warning(
                "%d outbox messages were on the wire when the last process stopped; sending "
                "them again (each may arrive twice)",
                count,
            )
        return count

    async def run_once(self, stoppable: bool = False) -> int:
        """Deliver what is due now; returns how many rows were sent.

        Chats are served concurrently (a slow chat does not hold up the others) and each chat's
        rows strictly in order; a chat over its rate, or whose row must be retried, waits.
        Everything sent in the pass is committed as sent before it returns.
        """
        self._soonest = 0.0
        self._pass = DeliveryPass(self, stoppable)
        try:
            return await self._pass.run()
        finally:
            self._pass = None
            await asyncio.shield(self.ledger.flush())

    async def _deliver_one(self, row: Queued) -> bool:
        """Send one row; False when it was not sent and its chat must wait.

        The row is marked "sending" (committed) before its request goes out and "sent" right
        after the answer, so after a crash only the rows then on the wire are in doubt.
        """
        route = await self._route(row)
        if isinstance(route, bool):
            return route
        sender, chat_id, limiter = route
        # The send slot is booked first, so the claim may wait for others to share its
        # transaction until just before it (a slot left unused when the claim fails is rare).
        slot = limiter.reserve() if limiter is not None else None
        linger = 0.0
        if limiter is not None and slot is not None:
            linger = slot - limiter.clock.now() - COMMIT_SECONDS
        try:
            if not await self.ledger.claim(row.id, linger):
                return False  # another worker has it, or it was settled meanwhile
        except Exception:
            log.exception("outbox %s: could not claim it", row.id)
            return False
        return await self._send(row, sender, chat_id, limiter, slot)

    @staticmethod
    def _linger(limiter: RateLimiter | None) -> float:
        """A sent mark may wait for others to share its transaction for most of the time the
        pacer is booked ahead: the next claims come within that time and take it along."""
        return 0.75 * limiter.booked() if limiter is not None else 0.0

    async def _route(self, row: Queued) -> tuple[Sender, str, RateLimiter | None] | bool:
        """The sender, chat and rate limiter the row goes through now; or, when it cannot go
        now, what `_deliver_one` answers (True: settled for good, the chat goes on)."""
        channel, chat_id = row.channel, row.chat_id
        if channel == SEALED_CHANNEL:
            target = await self._resolve(row)
            if isinstance(target, bool):
                return target
            channel, chat_id = target
        limiter = self.limiters.get(channel)
        if limiter is not None:
            delay = limiter.delay_for(chat_id)
            if delay > 0:
                self._soonest = delay if not self._soonest else min(self._soonest, delay)
                return False
        sender = self.senders.get(channel)
        if sender is None:
            async with self.sessions() as session, session.begin():
                await outbox.mark_retry(session, row.id, f"channel {channel} is off", 60)
            return False
        return sender, chat_id, limiter

    async def _send(
        self,
        row: Queued,
        sender: Sender,
        chat_id: str,
        limiter: RateLimiter | None,
        slot: float | None = None,
    ) -> bool:
        """Send a claimed row and record the outcome."""
        on_the_wire = False
        try:
            payload = dict(row.payload)
            if "sealed" in payload:  # a deferred reply (bot/dispatcher.py): opened only here
                async with self.sessions() as session:
                    payload = open_payload(session, payload)
            if self.hooks is not None:
                payload = await self.hooks.prepare(row, payload)
            # No transaction is open while we wait on the network.
            wire = (
                limiter.sending(chat_id, slot) if limiter is not None else contextlib.nullcontext()
            )
            async with wire:
                on_the_wire = True
                message_id = await sender.deliver(chat_id, payload)
        except asyncio.CancelledError:
            if not on_the_wire:
                await asyncio.shield(self.ledger.release([row.id]))
            raise
        except DeliveryError as exc:
            if exc.retry_after is not None and limiter is not None:
                limiter.pause(exc.retry_after)  # flood control is per bot, not per chat
            return await self._settle_error(row, exc)
        except Exception as exc:  # a bug in a sender must not stall the queue
            log.exception("outbox %s: unexpected error", row.id)
            async with self.sessions() as session, session.begin():
                await outbox.mark_retry(session, row.id, repr(exc), backoff(row.attempts))
            return False
        extra = self.hooks.sent(row, payload, message_id) if self.hooks else None
        self.ledger.sent(row.id, extra, self._linger(limiter))
        self.telemetry.delivered(row.channel, "sent")
        return True

    async def _resolve(self, row: Queued) -> tuple[str, str] | bool:
        """A hidden reporter's address, unsealed now and kept only in memory. A reporter who
        can no longer be found fails the row, which the case's card then shows."""
        try:
            async with self.sessions() as session:
                target = await resolve_sealed(session, row.chat_id)
        except SealError:  # keys rotated under a running bot: this row waits for a restart
            log.error("outbox %s: the seal key cannot open its address; restart the bot", row.id)
            async with self.sessions() as session, session.begin():
                await outbox.mark_retry(session, row.id, "seal key cannot open the address", 300)
            return False
        if target is None:
            return await self._settle_error(
                row, DeliveryError("the reporter cannot be reached", True)
            )
        return target

    async def _settle_error(self, row: Queued, exc: DeliveryError) -> bool:
        """Record a failed send: permanently (the chat's next rows may go) or for a retry."""
        final = exc.permanent or row.attempts + 1 >= MAX_ATTEMPTS
        self.telemetry.delivered(
            row.channel,
            "failed" if final else "retry" if exc.retry_after is None else "rate_limited",
        )
        async with self.sessions() as session, session.begin():
            if final:
                log.warning("outbox %s failed permanently: %s", row.id, exc)
                await outbox.mark_failed(session, row.id, str(exc))
                if self.hooks is not None:
                    failed = await session.get(OutboxMessage, row.id)  # the hooks' whole row
                    if failed is not None:
                        await self.hooks.failed(session, failed)
                return True
            delay = exc.retry_after if exc.retry_after is not None else backoff(row.attempts)
            await outbox.mark_retry(session, row.id, str(exc), delay)
        return False


Chat = tuple[str, str]


class PriorityGate:
    """A semaphore that lets its waiters in by priority, then in the order they came: an urgent
    row's chat is served next however many chats of a poll round wait for a slot."""

    def __init__(self, slots: int) -> None:
        self.free = slots
        self.waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self.arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        if self.free > 0 and not self.waiting:
            self.free -= 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self.waiting, (priority, next(self.arrivals), future))
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # handed the slot just as it was cancelled
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self.waiting:
            future = heapq.heappop(self.waiting)[2]
            if not future.done():  # a cancelled waiter is skipped
                future.set_result(None)
                return
        self.free += 1


class DeliveryPass:
    """One pass over the queue. It fetches more due rows before the chats in hand run out, so
    sending never pauses for a query or for the slowest chat of a batch; a chat is served by one
    task at a time, and a held chat waits for the next pass."""

    def __init__(self, worker: DeliveryWorker, stoppable: bool = False) -> None:
        self.stoppable = stoppable  # the running worker's pass ends early on `stop`
        self.worker = worker
        self.gate = PriorityGate(worker.parallel_chats)
        self.busy: set[Chat] = set()  # served now, or held for a while
        self.held: dict[Chat, float] = {}  # a held chat: since when
        self.queued = 0  # rows handed to a chat's task and not yet started
        self.running_low = asyncio.Event()
        self.tasks: list[asyncio.Task[int]] = []

    async def run(self) -> int:
        try:
            while not self._stopped():
                self.running_low.clear()  # before the query: a wake during it is kept
                got = await self._top_up()
                if not got and not self.queued:
                    break
                if not got or self.queued >= self.worker.parallel_chats:
                    await self.running_low.wait()
            return sum(await asyncio.gather(*self.tasks))
        except BaseException:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            raise

    async def _top_up(self) -> int:
        """Start tasks for the chats with due rows not yet in hand; returns how many rows."""
        now = time.monotonic()
        for chat, since in list(self.held.items()):
            if now - since >= HOLD_SECONDS:  # its rows are fetched again if they are due
                del self.held[chat]
                self.busy.discard(chat)
        skip = set(self.busy)  # also a chat that finishes during the query: its rows are stale
        async with self.worker.sessions() as session:
            rows = await outbox.due(session, utcnow(), self.worker.batch + self.queued)
        by_chat: dict[Chat, list[Queued]] = {}
        for row in rows:
            chat = (row.channel, row.chat_id)
            if chat not in skip and chat not in self.busy:
                by_chat.setdefault(chat, []).append(row)
        for chat, chat_rows in by_chat.items():
            self.busy.add(chat)
            self.queued += len(chat_rows)
            self.tasks.append(asyncio.create_task(self._serve(chat, chat_rows)))
        return sum(len(chat_rows) for chat_rows in by_chat.values())

    async def _serve(self, chat: Chat, rows: list[Queued]) -> int:
        sent = 0
        held = False
        started = 0
        try:
            async with self.gate.slot(rows[0].priority):
                for row in rows:
                    if self._stopped():
                        break
                    started += 1
                    self._started(1)
                    if not await self.worker._deliver_one(row):
                        held = True  # the chat's later rows keep their place in line
                        self.held[chat] = time.monotonic()
                        break
                    sent += 1
        finally:
            self._started(len(rows) - started)
            if not held:
                self.busy.discard(chat)
        return sent

    def _stopped(self) -> bool:
        return self.stoppable and self.worker.stopping

    def _started(self, count: int) -> None:
        self.queued -= count
        if self.queued < self.worker.parallel_chats:
            self.running_low.set()
