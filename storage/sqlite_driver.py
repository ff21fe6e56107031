"""SQLAlchemy's aiosqlite driver, with one trip to the database thread per statement.

aiosqlite runs sqlite3 in a thread of its own and every call is a trip there and back (a queue
put that wakes the thread, a wake-up of the event loop when it answers). SQLAlchemy's adapter
makes three or four trips per statement: open a cursor, execute, fetch the rows, close. On a
loaded machine each trip costs the event loop 0.1–0.5 ms, the largest share of a step's CPU
(see docs/performance.md, "Where a step's time goes"). Here the cursor runs the whole statement
in one trip: open, execute, fetch, close, and hands back the rows with the description, row
count and last row id. Server-side cursors (streamed results) keep SQLAlchemy's own.

It leans on two private details, pinned by uv.lock and covered by the storage tests:
aiosqlite's `Connection._execute` (queue a function on the connection's thread, the way all
its own methods do) and SQLAlchemy's adapter cursor (`_execute_async`, `_rows`).
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.exc import DBAPIError

# What one trip hands back: description, rows, row count, last row id, and whether a
# transaction is open after it (sqlite3's `in_transaction`, read in the database thread).
Outcome = tuple[Any, list[Any], int, int | None, bool]


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool = False) -> Outcome:
    """In the database thread: the whole statement, start to end."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid, conn.in_transaction
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement runs in one trip; nothing to open or close after."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:  # no aiosqlite cursor: no trip here
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    async def _async_soft_close(self) -> None:
        return None  # the rows are already here and the sqlite3 cursor closed

    def close(self) -> None:
        self._rows.clear()

    async def _trip(self, operation: Any, parameters: Any, many: bool) -> None:
        adapted: Any = self._adapt_connection
        async with adapted._execute_mutex:
            adapted.idle = False  # until the trip says otherwise
            conn = self._connection
            outcome: Outcome = await conn._execute(_run, conn._conn, operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid, open_ = outcome
        adapted.idle = not open_
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._trip(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        await self._trip(operation, seq_of_parameters, True)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Also knows when SQLite has no transaction open (`idle`: sqlite3's `in_transaction`, as
    the last trip found it; SELECTs alone open none): its commit or rollback would do nothing,
    so they cost no trip. The pool's rollback of a connection handed back after its session
    committed, or after reads only, was a whole trip each time."""

    __slots__ = ("idle",)
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.idle = False  # not known: the first commit or rollback makes its trip

    def cursor(self, server_side: bool = False) -> Any:
        self.idle = False
        return super().cursor(server_side)

    def commit(self) -> None:
        if not self.idle:
            super().commit()
            self.idle = True

    def rollback(self) -> None:
        if not self.idle:
            super().rollback()
            self.idle = True


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's aiosqlite dialect is given (`create_async_engine(module=)`)."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def one_trip_dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)


def _with_state(conn: sqlite3.Connection, fn: Any, *args: Any) -> tuple[Any, bool]:
    return fn(conn, *args), conn.in_transaction


async def in_thread(adapted: Any, fn: Any, *args: Any) -> Any:
    """Run `fn(sqlite3_connection, *args)` in the connection's thread, in one trip, between
    the statements SQLAlchemy sends (same mutex): for a few statements the hot path runs back
    to back (storage/event_start.py). sqlite3 errors come back as SQLAlchemy's, as from a
    statement, so callers tell a busy database the same way."""
    try:
        async with adapted._execute_mutex:
            adapted.idle = False
            conn = adapted._connection
            result, open_ = await conn._execute(_with_state, conn._conn, fn, *args)
        adapted.idle = not open_
        return result
    except sqlite3.Error as exc:
        raise DBAPIError.instance(
            "(statements run in one trip)", None, exc, sqlite3.Error, hide_parameters=True
        ) from exc
