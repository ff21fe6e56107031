"""Which instances are alive, asked of PostgreSQL itself (no heartbeats).

Each instance holds, for its whole life, a session advisory lock keyed by its own instance
number, on a connection of its own. PostgreSQL frees a session lock the moment its connection
ends, so an instance that dies (kill -9, a crash) is seen dead at once, and the inbox rows it
kept and never handled may be taken by the leader; a slow but live instance keeps its rows.
SQLite has one process: no numbers, no locks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from storage.leader import KEEPALIVES, STATEMENT_SECONDS

log = logging.getLogger(__name__)
# The two-key form of the advisory lock (pg_locks.objsubid = 2) is a keyspace apart from the
# one-key locks (the leader's, migrations', each person's), so no number can meet theirs.
NAMESPACE = 0x6772  # "gr"
APPLICATION_NAME = "grassroots-instance"
# Instance numbers are positive int4s: pg_locks shows them as the oid `objid`.
MAX_NUMBER = 2**31 - 1
HELD = (
    "SELECT l.objid::bigint FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
    "AND l.objsubid = 2 AND l.classid = :ns "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class InstanceLock:
    """This instance's number, and the lock on it held on a connection of its own."""

    def __init__(self, url: str) -> None:
        self.number: int | None = None
        self._engine = create_async_engine(
            url,
            poolclass=NullPool,  # closing the connection must really end the session
            hide_parameters=True,
            connect_args={
                "server_settings": {
                    "application_name": f"{APPLICATION_NAME} {socket.gethostname()[:30]} "
                    f"pid {os.getpid()}",
                    **KEEPALIVES,
                }
            },
        )
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> int:
        """Pick a number no live instance holds, and hold it."""
        for _ in range(10):  # a clash of random numbers is rare; ten failures mean no database
            number = random.randint(1, MAX_NUMBER)
            if await self._take(number):
                self.number = number
                return number
        raise RuntimeError("liveness: could not take an instance lock in the database")

    async def keep(self) -> None:
        """Take the lock again if its connection was lost (a database restart): until then
        this instance's inbox rows look orphaned, which costs a harmless double pickup."""
        if self.number is None or await self._answers():
            return
        await self._drop()
        if not await self._take(self.number):
            log.warning("liveness: could not take this instance's lock again; will retry")

    async def close(self) -> None:
        await self._drop()
        await self._engine.dispose()

    async def _take(self, number: int) -> bool:
        try:
            if self._conn is None:
                conn = await self._engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return bool(
                await asyncio.wait_for(
                    self._conn.scalar(
                        text("SELECT pg_try_advisory_lock(:ns, :n)"), {"ns": NAMESPACE, "n": number}
                    ),
                    STATEMENT_SECONDS,
                )
            )
        except Exception as exc:
            log.warning("liveness: cannot reach the database (%s)", type(exc).__name__)
            await self._drop()
            return False

    async def _answers(self) -> bool:
        if self._conn is None:
            return False
        try:
            await asyncio.wait_for(self._conn.scalar(text("SELECT 1")), STATEMENT_SECONDS)
        except Exception:
            return False
        return True

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), STATEMENT_SECONDS)
            except Exception:  # already gone, or hung: make sure the pool forgets it
                await conn.invalidate()
