"""The scheduler leader's lock: a PostgreSQL session advisory lock, held on a connection of its
own for as long as the instance leads.

PostgreSQL frees a session lock the moment its connection ends, so a leader that dies (kill -9,
a lost network) hands leadership on without anyone having to notice: the next instance to try
gets it. On SQLite there is one process, which always leads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import is_sqlite
from storage.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)
# One number for the whole deployment (advisory locks are per database): "grassroots" in hex.
LEADER_KEY = 0x6772617373726F6F
# Every statement on the lock's connection answers within this, or the connection counts as lost.
STATEMENT_SECONDS = 5.0
# PostgreSQL's side: a client that vanished without closing its socket (a dead network, a
# powered-off host) is noticed after about 5 + 2 × 3 = 11 s, and its lock freed.
KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}
APPLICATION_NAME = "grassroots-leader"


def holder_name() -> str:
    """How the lock's connection names itself in pg_stat_activity: who leads, for operators."""
    return f"{APPLICATION_NAME} {socket.gethostname()[:30]} pid {os.getpid()}"


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
        self._engine: AsyncEngine = create_async_engine(
            url,
            poolclass=NullPool,  # closing the connection must really close it: that frees the lock
            hide_parameters=True,
            connect_args={"server_settings": {"application_name": holder_name(), **KEEPALIVES}},
        )
        self._conn: AsyncConnection | None = None
        self._held = False

    async def try_acquire(self, on_lost: Callable[[], None]) -> bool:
        try:
            conn = await self._connection()
            got = await asyncio.wait_for(
                conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}),
                STATEMENT_SECONDS,
            )
        except Exception as exc:  # the database is away: we are not the leader, try later
            log.warning("leader election: cannot reach the database (%s)", type(exc).__name__)
            await self._drop()
            return False
        if not got:
            return False
        self._held = True
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        driver.add_termination_listener(lambda _conn: on_lost())
        if self.on_outbox is not None:
            wake = self.on_outbox
            await driver.add_listener(NOTIFY_CHANNEL, lambda *_args: wake())
        return True

    async def alive(self) -> bool:
        if self._conn is None or not self._held:
            return False
        try:
            await asyncio.wait_for(self._conn.scalar(text("SELECT 1")), STATEMENT_SECONDS)
        except Exception:
            return False
        return True

    async def release(self) -> None:
        """Let go: closing the connection frees the lock (or PostgreSQL already did)."""
        self._held = False
        await self._drop()

    async def close(self) -> None:
        await self.release()
        await self._engine.dispose()

    async def _connection(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            conn = await self._engine.connect()
            # No transaction stays open between statements: the lock is the session's.
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), STATEMENT_SECONDS)
            except Exception:  # already gone, or hung: make sure the pool forgets it
                await conn.invalidate()


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
