"""Which instances are alive, asked of PostgreSQL itself (no heartbeats).

Each instance holds, for its whole life, a session advisory lock keyed by its own instance
number, on a connection of its own. PostgreSQL frees a session lock the moment its connection
ends, so an instance that dies (kill -9, a crash) is seen dead at once, and the inbox rows it
kept and never handled may be taken by the leader; a slow but live instance keeps its rows.
SQLite has one process: no numbers, no locks.
"""

from __future__ import annotations

import logging
import random

from storage.lockconn import LockConnection

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
        self._lock = LockConnection(url, APPLICATION_NAME)

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
        if self.number is None or await self._lock.answers():
            return
        await self._lock.drop()
        if not await self._take(self.number):
            log.warning("liveness: could not take this instance's lock again; will retry")

    async def close(self) -> None:
        await self._lock.close()

    async def _take(self, number: int) -> bool:
        return await self._lock.try_lock(
            "SELECT pg_try_advisory_lock(:ns, :n)", {"ns": NAMESPACE, "n": number}
        )
