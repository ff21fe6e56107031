"""One leader among the instances: it alone runs the timed jobs, the outbox delivery worker and
the messengers' long polls (getUpdates allows one consumer).

The leader holds a lock (storage/leader.py: a PostgreSQL session advisory lock; on SQLite the
one process always leads). Followers try again every few seconds. A leader whose lock's
connection ends steps down at once, stopping what it ran, before anyone else can have taken
over for long; the jobs' own records (job_run, nudges, unique rounds, outbox keys) make a run
cut short, or overlapping a new leader's for a moment, harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from storage.leader import LeaderLock, SoleLeader

log = logging.getLogger(__name__)
# A follower tries for the lock this often, so a dead leader's successor is in office within
# about that (kill -9 closes the socket, and PostgreSQL frees the lock at once).
RETRY_SECONDS = 3.0
# A leader asks its lock's connection whether it still answers this often (a dropped connection
# is noticed at once anyway, through the driver's termination callback).
HEARTBEAT_SECONDS = 2.0
# How long a stop waits for the campaign to end before cancelling it again.
CANCEL_AGAIN_SECONDS = 0.1
Hook = Callable[[], Awaitable[None]]


class Leadership:
    """Whether this instance leads now, for whoever needs to know (readiness, metrics, pages):
    read-only to them; only the `Election` changes it."""

    def __init__(self) -> None:
        self._leader = False
        self._since: float | None = None
        self.terms = 0  # how many times this instance has taken office

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def seconds_in_office(self) -> float | None:
        return None if self._since is None else time.monotonic() - self._since

    def _set(self, leader: bool) -> None:
        if leader and not self._leader:
            self.terms += 1
            self._since = time.monotonic()
        if not leader:
            self._since = None
        self._leader = leader


class Election:
    """Campaigns for the lock; `on_elected` starts the leader's work, `on_deposed` stops it."""

    def __init__(
        self,
        lock: LeaderLock,
        leadership: Leadership,
        on_elected: Hook,
        on_deposed: Hook,
        retry_seconds: float = RETRY_SECONDS,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.lock = lock
        self.leadership = leadership
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.retry_seconds = retry_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Try once now, so a lone instance leads before start-up returns; then keep trying."""
        if await self._campaign():
            await self._take_office()
        self._task = asyncio.create_task(self._run(), name="leader-election")

    async def stop(self) -> None:
        """Step down (stopping the leader's work first, then freeing the lock) and stop trying."""
        task, self._task = self._task, None
        # Cancelled until it has ended: on Python 3.11 asyncio.wait_for returns the result of a
        # statement that completes in the tick the cancel lands, and the campaign went on, so
        # a rolling restart's SIGTERM hung the instance for good (and it later led, half
        # stopped).
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CANCEL_AGAIN_SECONDS)
        if self.leadership.is_leader:
            await self._leave_office()
        await self.lock.close()

    async def _run(self) -> None:
        while True:
            if self.leadership.is_leader:
                await self._hold()
                await self._leave_office()
            await asyncio.sleep(self.retry_seconds)
            if await self._campaign():
                await self._take_office()

    async def _campaign(self) -> bool:
        self._lost.clear()
        try:
            return await self.lock.try_acquire(self._on_lost)
        except Exception:
            log.exception("leader election failed; trying again")
            return False

    def _on_lost(self) -> None:
        """The lock's connection ended: PostgreSQL has freed the lock, another instance may
        take it now. Stop claiming leadership this instant; the work stops next."""
        self.leadership._set(False)
        self._lost.set()

    async def _hold(self) -> None:
        """Return when the lock is lost: its connection ended, or stopped answering."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.heartbeat_seconds)
            if self._lost.is_set() or not await self.lock.alive():
                log.error("lost the leader's lock: stopping timed jobs and delivery")
                return

    async def _take_office(self) -> None:
        self.leadership._set(True)
        if not isinstance(self.lock, SoleLeader):  # one process on SQLite: nothing to say
            log.info("this instance leads: it runs the timed jobs and delivers the outbox")
        try:
            await self.on_elected()
        except Exception:
            log.exception("starting the leader's work failed; stepping down")
            await self._leave_office()

    async def _leave_office(self) -> None:
        self.leadership._set(False)
        # Shielded: a stop that cancels us still waits until the leader's work has stopped.
        await asyncio.shield(self._stop_work())

    async def _stop_work(self) -> None:
        try:
            await self.on_deposed()
        except Exception:
            log.exception("stopping the leader's work failed")
        await self.lock.release()
