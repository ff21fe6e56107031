"""The statements every inbound event starts with, on SQLite in one trip to the database thread.

Each event's transaction begins the same way: the update leaves the inbox, the person's rate
window counts it, its deduplication key is claimed, and the conversation and the person are
read. SQLite takes one writer at a time, so these trips sit in the one queue every event waits
in; each trip costs the event loop a thread hand-off (0.3–0.9 ms on a loaded machine, many times
running the statement). So on SQLite the four run back to back in the database thread, with the
same stops as one by one (a flooded event claims nothing; a replay reads nothing). On
PostgreSQL they run one by one through SQLAlchemy. See docs/performance.md, intake.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, NamedTuple

from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from handlers.ports import PersonView
from storage import inbox, ratelimit
from storage.conversations import (
    _CLAIM,
    _CREATE,
    _LOAD_WITH_PERSON,
    _SAVE,
    ConcurrentUpdate,
    StateRow,
    claim_update,
    load_step,
    person_of,
    save_statement,
    state_of,
)
from storage.models import utcnow
from storage.prebuilt import run
from storage.sqlite_driver import OneTripConnection, in_thread


class EventStart(NamedTuple):
    """What the first statements found: whether the inbox still held the update, the hits in
    the person's rate window, whether the update is new, and (only when `load` was asked, the
    event is within its budget and new) the conversation and who is talking."""

    cleared: bool
    hits: int
    claimed: bool
    row: StateRow | None = None
    state: dict[str, Any] = {}
    person: PersonView | None = None
    trip: OneTripConnection | None = None  # SQLite's driver connection, for `end_event`


class _Compiled(NamedTuple):
    """A prebuilt statement as SQLite text, with its parameters' order and conversions."""

    statement: Any  # the compiled form, for its constructed parameters
    sql: str
    order: tuple[str, ...]
    to_db: tuple[Callable[[Any], Any] | None, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        values = self.statement.construct_params(dict(params))
        return [
            v(values[n]) if v else values[n] for n, v in zip(self.order, self.to_db, strict=True)
        ]


_DIALECT = aiosqlite_dialect()


def compiled_for_sqlite(statement: Executable) -> _Compiled:
    """`statement` compiled once for the one-trip SQLite paths (here and storage/newreport.py)."""
    compiled = statement.compile(dialect=_DIALECT)  # type: ignore[attr-defined]
    order = tuple(compiled.positiontup or ())
    to_db = tuple(compiled.binds[n].type.bind_processor(_DIALECT) for n in order)
    return _Compiled(compiled, compiled.string, order, to_db)


# Compiled once, at import, like storage/prebuilt.py's statements.
_DONE_SQL = compiled_for_sqlite(inbox._DONE)
_BUMP_SQL = compiled_for_sqlite(ratelimit._BUMP["sqlite"])
_CLAIM_SQL = compiled_for_sqlite(_CLAIM["sqlite"])
_LOAD_SQL = compiled_for_sqlite(_LOAD_WITH_PERSON)
_SAVES = {
    id(_SAVE): compiled_for_sqlite(_SAVE),
    id(_CREATE["sqlite"]): compiled_for_sqlite(_CREATE["sqlite"]),
}
_LOADED = tuple(c.name for c in _LOAD_WITH_PERSON.selected_columns)
_FROM_DB = tuple(
    c.type.result_processor(_DIALECT, None) for c in _LOAD_WITH_PERSON.selected_columns
)


class _Loaded(NamedTuple):
    id: int | None
    version: int | None
    state: Any
    person_id: int | None
    display_name: str | None
    role: str | None
    unit_code: str | None
    locale: str | None
    last_channel: str | None


assert _Loaded._fields == _LOADED, "the load statement's columns changed: update _Loaded"


def _in_thread(
    conn: sqlite3.Connection, args: tuple[list[Any], ...], limit: int, load: bool
) -> tuple[bool, int, bool, Any]:
    """In the database thread: the four statements, stopping where the one-by-one path does."""
    done, bump, claim, read = args
    cursor = conn.cursor()
    try:
        cleared = cursor.execute(_DONE_SQL.sql, done).rowcount > 0
        hits = int(cursor.execute(_BUMP_SQL.sql, bump).fetchone()[0])
        if hits > limit:
            return cleared, hits, False, None
        claimed = cursor.execute(_CLAIM_SQL.sql, claim).rowcount > 0
        if not claimed or not load:
            return cleared, hits, claimed, None
        return cleared, hits, claimed, cursor.execute(_LOAD_SQL.sql, read).fetchone()
    finally:
        cursor.close()


class EventKeys(NamedTuple):
    """Which update this is, whose rate window counts it, and what the event may spend."""

    channel: str
    update_key: str
    user_id: str
    rate_key: str
    window: timedelta
    limit: int
    load: bool = True


async def start_event(session: AsyncSession, event: EventKeys) -> EventStart:
    """Clear the update from the inbox, count it in `rate_key`'s window, and if that stays
    within `limit`, claim it; if it is new and `load`, read the conversation and the person."""
    adapted = (await (await session.connection()).get_raw_connection()).dbapi_connection
    if not isinstance(adapted, OneTripConnection):
        return await _one_by_one(session, event)
    args = (
        _DONE_SQL.args({"channel": event.channel, "key": event.update_key}),
        _BUMP_SQL.args(ratelimit.bump_params(event.rate_key, event.window)),
        _CLAIM_SQL.args(
            {"channel": event.channel, "update_key": event.update_key, "received_at": utcnow()}
        ),
        _LOAD_SQL.args({"channel": event.channel, "user_id": event.user_id}),
    )
    cleared, hits, claimed, raw = await in_thread(
        adapted, _in_thread, args, event.limit, event.load
    )
    if raw is None:
        return EventStart(cleared, hits, claimed, trip=adapted)
    found = _Loaded(*(f(v) if f else v for f, v in zip(_FROM_DB, raw, strict=True)))
    row, state = state_of(session, found if found.id is not None else None)
    return EventStart(cleared, hits, claimed, row, state, person_of(found), adapted)


async def _one_by_one(session: AsyncSession, event: EventKeys) -> EventStart:
    cleared = await inbox.done(session, event.channel, event.update_key)
    hits = await ratelimit.bump(session, event.rate_key, event.window)
    if hits > event.limit:
        return EventStart(cleared, hits, False)
    if not await claim_update(session, event.channel, event.update_key):
        return EventStart(cleared, hits, False)
    if not event.load:
        return EventStart(cleared, hits, True)
    row, state, person = await load_step(session, event.channel, event.user_id)
    return EventStart(cleared, hits, True, row, state, person)


def _save_in_thread(conn: sqlite3.Connection, sql: str, args: list[Any]) -> int:
    """In the database thread: the conversation's save, and the commit if it saved (a save
    that found another instance's version first is rolled back by the caller)."""
    cursor = conn.cursor()
    try:
        saved = int(cursor.execute(sql, args).rowcount)
    finally:
        cursor.close()
    if saved == 1:
        conn.commit()
    return saved


async def end_event(
    session: AsyncSession,
    row: StateRow | None,
    conversation: tuple[str, str, str],
    state: dict[str, Any],
    trip: OneTripConnection | None = None,
) -> None:
    """Save the conversation (`conversation`: channel, user id, chat id) as the event's last
    statement; on SQLite its COMMIT goes in the same trip, and the session's own commit after
    it then finds no transaction open and costs no trip (storage/sqlite_driver.py `idle`). `trip` is the one
    `start_event` found in this transaction (saves two hand-offs to SQLAlchemy's greenlet).
    Raises `ConcurrentUpdate` when another instance saved this person first."""
    statement, params = save_statement(session, row, *conversation, state)
    adapted: Any = trip
    if adapted is None:
        adapted = (await (await session.connection()).get_raw_connection()).dbapi_connection
    compiled = _SAVES.get(id(statement))
    if not isinstance(adapted, OneTripConnection) or compiled is None:
        saved = (await run(session, statement, params)).rowcount
    else:
        if session.new or session.dirty or session.deleted:
            await session.flush()  # the ORM's pending rows go before the commit
        saved = await in_thread(adapted, _save_in_thread, compiled.sql, compiled.args(params))
    if saved != 1:
        raise ConcurrentUpdate(conversation[1])
