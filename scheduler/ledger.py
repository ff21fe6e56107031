"""The delivery worker's bookkeeping, written in shared transactions (group commit).

Every message needs two writes: "on the wire" before its request goes out, and "sent" right
after the channel accepted it. One transaction per write would cost more than the send itself,
so writes that arrive while a transaction is being committed wait for the next one and all go
together. Nothing waits longer than one commit: a message is marked sent within a few
milliseconds of its answer, so a crash leaves at most the messages then on the wire in doubt.

Writes are applied in the order they were asked for, one transaction after another. A chat's
next message is claimed only after its previous one was recorded as sent, in the same
transaction or an earlier one, so after a crash a chat has at most one message in doubt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from storage import outbox
from storage.db import Session, Sessions

log = logging.getLogger(__name__)
Extra = Callable[[Session], Awaitable[None]]
WRITE_ATTEMPTS = 5


class Ledger:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self._claims: list[tuple[int, asyncio.Future[bool]]] = []
        self._sent: list[tuple[int, Extra | None]] = []
        self._writer: asyncio.Task[None] | None = None

    async def claim(self, row_id: int) -> bool:
        """Mark a row on the wire and wait until that is committed; False if it was not ours
        to take (another worker has it, or it is settled)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._claims.append((row_id, future))
        self._start()
        return await future

    def sent(self, row_id: int, extra: Extra | None = None) -> None:
        """Record a row as sent (with `extra` writes in the same transaction); the caller need
        not wait: the next claim, and `flush`, come after it."""
        self._sent.append((row_id, extra))
        self._start()

    async def flush(self) -> None:
        """Wait until everything asked for so far is committed (or given up on)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    def _start(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="outbox-ledger")

    async def _write_all(self) -> None:
        failures = 0
        while self._claims or self._sent:
            claims, self._claims = self._claims, []
            sent, self._sent = self._sent, []
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
            async with self.sessions() as session, session.begin():
                await outbox.release(session, ids)
        except Exception:  # they stay "sending" and come back, in doubt, at the next start-up
            log.exception("could not release %d claimed outbox rows", len(ids))

    async def _write(
        self, claims: list[tuple[int, asyncio.Future[bool]]], sent: list[tuple[int, Extra | None]]
    ) -> set[int]:
        async with self.sessions() as session, session.begin():
            await outbox.mark_sent_many(session, [row_id for row_id, _ in sent])
            for _, extra in sent:
                if extra is not None:
                    await extra(session)
            return await outbox.claim(session, [row_id for row_id, _ in claims])
