"""The delivery worker's bookkeeping, written in shared transactions (group commit).

Every message needs two writes: "on the wire" before its request goes out, and "sent" right
after the channel accepted it. One transaction per write would cost more than the send itself,
so writes that arrive while a transaction is being committed wait for the next one and all go
together. Nothing waits longer than one commit: a message is marked sent within a few
milliseconds of its answer, so a crash leaves at most the messages then on the wire in doubt.

Writes are applied in the order they were asked for, one transaction after another. A chat's
next message is claimed only after its previous one was recorded as sent, in the same
transaction or an earlier one, so after a crash a chat has at most one message in doubt.

At a messenger's pace (30/s) writes come one at a time, and a transaction each cost more CPU
than the send. So a write may linger: when the sender's pace is booked ahead (a claimed message
waits for its send slot anyway), the transaction waits up to most of that time for more writes
to share it. The claim is still committed before its slot; an idle pacer lingers not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable

from storage import outbox
from storage.db import Session, Sessions, write_turn

log = logging.getLogger(__name__)
Extra = Callable[[Session], Awaitable[None]]
WRITE_ATTEMPTS = 5
MAX_LINGER = 0.5  # seconds a write may wait for others to share its transaction


class Ledger:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self._claims: list[tuple[int, asyncio.Future[bool]]] = []
        self._sent: list[tuple[int, Extra | None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._write_at = 0.0  # loop time the next transaction starts, at the latest
        self._hurry = asyncio.Event()

    async def claim(self, row_id: int, linger: float = 0.0) -> bool:
        """Mark a row on the wire and wait until that is committed; False if it was not ours
        to take (another worker has it, or it is settled). `linger`: seconds the transaction
        may wait for other writes to share it."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._claims.append((row_id, future))
        self._start(linger)
        return await future

    def sent(self, row_id: int, extra: Extra | None = None, linger: float = 0.0) -> None:
        """Record a row as sent (with `extra` writes in the same transaction); the caller need
        not wait: the next claim, and `flush`, come after it."""
        self._sent.append((row_id, extra))
        self._start(linger)

    async def flush(self) -> None:
        """Wait until everything asked for so far is committed (or given up on)."""
        if self._writer is not None and not self._writer.done():
            self._start(0.0)  # no lingering now
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    def _start(self, linger: float) -> None:
        at = asyncio.get_running_loop().time() + min(MAX_LINGER, max(0.0, linger))
        if self._writer is None or self._writer.done():
            self._write_at = at
            self._writer = asyncio.create_task(self._write_all(), name="outbox-ledger")
        elif at < self._write_at:  # a hastier write: the lingering transaction starts sooner
            self._write_at = at
            self._hurry.set()

    async def _linger(self) -> None:
        loop = asyncio.get_running_loop()
        while (wait := self._write_at - loop.time()) > 0:
            self._hurry.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), wait)

    async def _write_all(self) -> None:
        failures = 0
        while self._claims or self._sent:
            await self._linger()
            claims, self._claims = self._claims, []
            sent, self._sent = self._sent, []
            # Writes asked for from now on set the next transaction's time; they wait for
            # others too rather than following this commit at once.
            self._write_at = math.inf
            try:
                won = await self._write(claims, sent)
            except Exception as exc:
                failures += 1
                for _, future in claims:  # not claimed: the message was not sent, and waits
                    if not future.done():
                        future.set_exception(exc)
                if failures >= WRITE_ATTEMPTS:
                    # The rows stay "sending"; the next start-up sends them again, in doubt.
                    log.exception("could not record %d sent outbox rows", len(sent))
                    failures = 0
                    continue
                log.warning("recording outbox deliveries failed (%s); trying again", exc)
                self._sent = sent + self._sent  # the sends happened: keep them, in order
                self._write_at = 0.0  # and try again right after the pause
                await asyncio.sleep(0.2 * 2**failures)
                continue
            failures = 0
            abandoned = []
            for row_id, future in claims:
                if future.cancelled() and row_id in won:
                    abandoned.append(row_id)  # its sender stopped before sending it
                elif not future.done():
                    future.set_result(row_id in won)
            if abandoned:
                await self.release(abandoned)

    async def release(self, ids: list[int]) -> None:
        """Hand claimed rows back as pending: their request never went out."""
        try:
            async with write_turn(self.sessions), self.sessions() as session, session.begin():
                await outbox.release(session, ids)
        except Exception:  # they stay "sending" and come back, in doubt, at the next start-up
            log.exception("could not release %d claimed outbox rows", len(ids))

    async def _write(
        self, claims: list[tuple[int, asyncio.Future[bool]]], sent: list[tuple[int, Extra | None]]
    ) -> set[int]:
        async with write_turn(self.sessions), self.sessions() as session, session.begin():
            await outbox.mark_sent_many(session, [row_id for row_id, _ in sent])
            for _, extra in sent:
                if extra is not None:
                    await extra(session)
            return await outbox.claim(session, [row_id for row_id, _ in claims])
