"""A PostgreSQL connection of its own, kept open to hold session advisory locks.

The leader's lock (storage/leader.py) and each instance's liveness lock (storage/liveness.py)
live on such a connection: PostgreSQL frees a session lock the moment its connection ends, so
closing the connection (or the process dying) is what lets the lock go.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
# Every statement on the lock's connection answers within this, or the connection counts as lost.
STATEMENT_SECONDS = 5.0
# PostgreSQL's side: a client that vanished without closing its socket (a dead network, a
# powered-off host) is noticed after about 5 + 2 × 3 = 11 s, and its lock freed.
KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}


def connection_name(role: str) -> str:
    """How a lock's connection names itself in pg_stat_activity: role, host and process id,
    so an operator sees who holds what."""
    return f"{role} {socket.gethostname()[:30]} pid {os.getpid()}"


class LockConnection:
    """One connection, opened on first use and again after it was lost, in autocommit (no
    transaction stays open between statements: the locks are the session's)."""

    def __init__(self, url: str, role: str) -> None:
        self.role = role
        self._engine: AsyncEngine = create_async_engine(
            url,
            poolclass=NullPool,  # closing the connection must really end the session
            hide_parameters=True,
            connect_args={
                "server_settings": {"application_name": connection_name(role), **KEEPALIVES}
            },
        )
        self._conn: AsyncConnection | None = None

    async def try_lock(self, statement: str, params: dict[str, int]) -> bool:
        """Run one `pg_try_advisory_lock` statement: whether the lock was taken. A database
        that does not answer counts as not taken (and the connection is dropped)."""
        try:
            conn = await self._connection()
            return bool(
                await asyncio.wait_for(conn.scalar(text(statement), params), STATEMENT_SECONDS)
            )
        except Exception as exc:
            log.warning("%s: cannot reach the database (%s)", self.role, type(exc).__name__)
            await self.drop()
            return False

    async def driver(self) -> Any:
        """The driver's own connection (asyncpg), for listeners on the lock's session."""
        raw = await (await self._connection()).get_raw_connection()
        return raw.driver_connection

    async def answers(self) -> bool:
        """Whether the connection is open and answers (so its locks are still held)."""
        if self._conn is None:
            return False
        try:
            await asyncio.wait_for(self._conn.scalar(text("SELECT 1")), STATEMENT_SECONDS)
        except Exception:
            return False
        return True

    async def drop(self) -> None:
        """Close the connection: PostgreSQL frees its locks (or already did)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), STATEMENT_SECONDS)
            except Exception:  # already gone, or hung: make sure the pool forgets it
                await conn.invalidate()

    async def close(self) -> None:
        await self.drop()
        await self._engine.dispose()

    async def _connection(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            conn = await self._engine.connect()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn
