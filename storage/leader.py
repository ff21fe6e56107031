"""The scheduler leader's lock: a PostgreSQL session advisory lock, held on a connection of its
own for as long as the instance leads.

PostgreSQL frees a session lock the moment its connection ends, so a leader that dies (kill -9,
a lost network) hands leadership on without anyone having to notice: the next instance to try
gets it. On SQLite there is one process, which always leads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import text

from storage.db import is_sqlite
from storage.lockconn import LockConnection, connection_name
from storage.outbox import NOTIFY_CHANNEL

# One number for the whole deployment (advisory locks are per database): "grassroots" in hex.
LEADER_KEY = 0x6772617373726F6F
APPLICATION_NAME = "grassroots-leader"


def holder_name() -> str:
    """How the lock's connection names itself in pg_stat_activity: who leads, for operators."""
    return connection_name(APPLICATION_NAME)


class LeaderLock(Protocol):
    async def try_acquire(self, on_lost: Callable[[], None]) -> bool:
        """Take the lock if it is free; `on_lost` is called (once, from the event loop) if the
        connection holding it ends later."""
        ...

    async def alive(self) -> bool:
        """Whether the lock is still held (its connection answers)."""
        ...

    async def release(self) -> None: ...

    async def close(self) -> None: ...


class SoleLeader:
    """SQLite: one process, always the leader."""

    async def try_acquire(self, on_lost: Callable[[], None]) -> bool:
        return True

    async def alive(self) -> bool:
        return True

    async def release(self) -> None:
        return None

    async def close(self) -> None:
        return None


class AdvisoryLock:
    """`pg_try_advisory_lock` on one connection, kept open while held and between tries.
    While it holds the lock the connection also listens for new outbox rows (written by any
    instance) and calls `on_outbox`, so the leader's delivery worker wakes at once."""

    def __init__(
        self, url: str, key: int = LEADER_KEY, on_outbox: Callable[[], None] | None = None
    ) -> None:
        self.key = key
        self.on_outbox = on_outbox
        self._lock = LockConnection(url, APPLICATION_NAME)
        self._held = False

    async def try_acquire(self, on_lost: Callable[[], None]) -> bool:
        # The database away counts as not taken: we are not the leader, try later.
        if not await self._lock.try_lock("SELECT pg_try_advisory_lock(:key)", {"key": self.key}):
            return False
        self._held = True
        driver = await self._lock.driver()
        driver.add_termination_listener(lambda _conn: on_lost())
        if self.on_outbox is not None:
            wake = self.on_outbox
            await driver.add_listener(NOTIFY_CHANNEL, lambda *_args: wake())
        return True

    async def alive(self) -> bool:
        return self._held and await self._lock.answers()

    async def release(self) -> None:
        """Let go: closing the connection frees the lock (or PostgreSQL already did)."""
        self._held = False
        await self._lock.drop()

    async def close(self) -> None:
        self._held = False
        await self._lock.close()


def leader_lock(url: str, on_outbox: Callable[[], None] | None = None) -> SoleLeader | AdvisoryLock:
    return SoleLeader() if is_sqlite(url) else AdvisoryLock(url, on_outbox=on_outbox)


async def current_holder(session: Any, key: int = LEADER_KEY) -> str | None:
    """The application name of the connection holding the leader's lock, if any (for operators
    and tests: it names the host and process id)."""
    row = await session.execute(
        text(
            "SELECT DISTINCT a.application_name FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key"
        ),
        {"key": key},
    )
    # DISTINCT and first(): pg_locks may list one holder more than once (seen once in a run
    # as MultipleResultsFound); a lock has one holder, so any row names it.
    return row.scalars().first()
