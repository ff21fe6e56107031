"""Conversation state rows and the inbound deduplication log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import String, and_, bindparam, delete, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable
from sqlmodel import col

from handlers.ports import PersonView
from storage.models import Conversation, Identity, InboundUpdate, OrgUnit, Person, utcnow
from storage.prebuilt import Insert, dialect_of, per_dialect, run
from storage.seal import sealer_of

# Parts of the state that can name a person's reports (the /my list, the case a reporter is
# answering): stored sealed, so a dump does not link a hidden reporter's chat to their report.
SEALED_STATE = ("scratch", "reporter_input")


# How one person's events are kept one at a time across instances on PostgreSQL (both were
# measured, see docs/performance.md "Scale-out"): "advisory" takes pg_advisory_xact_lock on a
# hash of the person before anything else; "row" reads the conversation row FOR UPDATE.
PersonLock = Literal["advisory", "row"]
# PostgreSQL's "try again" answers: a deadlock victim or a serialization failure rolled back
# whole, like SQLite's busy writer, so the event can simply run again; so can one whose
# connection was refused for lack of slots (several instances' pools at their peak, seen on a
# shared server) or while the server starts: nothing of it ran.
RETRYABLE_SQLSTATES = ("40P01", "40001", "53300", "57P03")


class ConcurrentUpdate(Exception):
    """Another process changed this conversation first; the event must be retried."""


def one_writer(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Whether the database takes one writer at a time (SQLite): then waiting for the turn in
    this process, in order, beats SQLite's busy handler, which polls with sleeps of up to 100 ms
    while the lock may already be free."""
    bind = sessions.kw.get("bind")
    return bind is not None and bind.dialect.name == "sqlite"


# One 64-bit key (hashtextextended); a collision only makes two people wait for each other.
_HOLD = sa_select(
    func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key", type_=String), 0))
)


async def hold_person(
    session: AsyncSession, channel: str, user_id: str, how: PersonLock = "advisory"
) -> None:
    """Wait until no other transaction, on any instance, works on this person; the lock is
    the transaction's and ends with it. Only PostgreSQL needs it: SQLite has one process,
    whose in-process lock (bot/locks.py) already serialises a person, and one writer.
    With "row" the lock is taken by `load_conversation(..., for_update=True)` instead."""
    if how != "advisory" or dialect_of(session) != "postgresql":
        return
    await run(session, _HOLD, {"key": f"person:{channel}:{user_id}"})


def retryable(exc: BaseException) -> bool:
    """Whether PostgreSQL rolled the transaction back so that running it again is right."""
    if not isinstance(exc, DBAPIError):
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in RETRYABLE_SQLSTATES


def _claim(insert: Insert) -> Executable:
    return (
        insert(_updates)
        .values(
            channel=bindparam("channel"),
            update_key=bindparam("update_key"),
            received_at=bindparam("received_at"),
        )
        .on_conflict_do_nothing(index_elements=["channel", "update_key"])
    )


_updates = InboundUpdate.__table__  # type: ignore[attr-defined]
_CLAIM = per_dialect(_claim)


async def claim_update(session: AsyncSession, channel: str, update_key: str) -> bool:
    """Record the update; False when it was seen before (a replay or a webhook retry).
    One INSERT … ON CONFLICT DO NOTHING: no savepoint round trips on the hot path."""
    params = {"channel": channel, "update_key": update_key, "received_at": utcnow()}
    result = await run(session, _CLAIM[dialect_of(session)], params)
    return bool(result.rowcount)


class StateRow(NamedTuple):
    """The conversation row an event read: what its save checks it still is."""

    id: int
    version: int


_conversations = Conversation.__table__  # type: ignore[attr-defined]
_c = _conversations.c
_LOAD = sa_select(_c.id, _c.version, _c.state).where(
    _c.channel == bindparam("channel"), _c.user_id == bindparam("user_id")
)
_LOAD_FOR_UPDATE = _LOAD.with_for_update()


# The conversation and who is talking in one round trip: both rows are optional (a stranger,
# a first message), so they hang off a one-row anchor of the two keys.
_keys = sa_select(
    bindparam("channel", type_=String).label("channel"),
    bindparam("user_id", type_=String).label("user_id"),
).subquery("k")
_i = Identity.__table__  # type: ignore[attr-defined]
_p = Person.__table__  # type: ignore[attr-defined]
_u = OrgUnit.__table__  # type: ignore[attr-defined]
_LOAD_WITH_PERSON = sa_select(
    _c.id,
    _c.version,
    _c.state,
    _p.c.id.label("person_id"),
    _p.c.display_name,
    _p.c.role,
    _u.c.code.label("unit_code"),
    _p.c.locale,
    _p.c.last_channel,
).select_from(
    _keys.outerjoin(
        _conversations, and_(_c.channel == _keys.c.channel, _c.user_id == _keys.c.user_id)
    )
    .outerjoin(_i, and_(_i.c.channel == _keys.c.channel, _i.c.external_id == _keys.c.user_id))
    .outerjoin(_p, _p.c.id == _i.c.person_id)
    .outerjoin(_u, _u.c.id == _p.c.unit_id)
)


def _create(insert: Insert) -> Executable:
    return (
        insert(_conversations)
        .values(
            channel=bindparam("channel"),
            user_id=bindparam("user_id"),
            chat_id=bindparam("chat_id"),
            state=bindparam("state"),
            version=1,
            updated_at=bindparam("updated_at"),
        )
        .on_conflict_do_nothing(index_elements=["channel", "user_id"])
    )


_CREATE = per_dialect(_create)
_SAVE = (
    update(_conversations)
    .where(_c.id == bindparam("row_id"), _c.version == bindparam("row_version"))
    .values(
        state=bindparam("state"),
        version=bindparam("version"),
        updated_at=bindparam("updated_at"),
        chat_id=bindparam("chat_id"),
    )
)


async def load_conversation(
    session: AsyncSession, channel: str, user_id: str, for_update: bool = False
) -> tuple[StateRow | None, dict[str, Any]]:
    """The person's state; `for_update` (PostgreSQL) also holds the row until commit, so a
    second instance's event for them waits here and then reads what this one saved.
    Prebuilt Core statements: this runs on every event (see docs/performance.md)."""
    locking = for_update and dialect_of(session) == "postgresql"
    params = {"channel": channel, "user_id": user_id}
    found = (await run(session, _LOAD_FOR_UPDATE if locking else _LOAD, params)).first()
    return state_of(session, found)


async def load_step(
    session: AsyncSession, channel: str, user_id: str
) -> tuple[StateRow | None, dict[str, Any], PersonView | None]:
    """`load_conversation` and who is talking (`storage.people.talking`), in one statement."""
    params = {"channel": channel, "user_id": user_id}
    found = (await run(session, _LOAD_WITH_PERSON, params)).one()
    row, state = state_of(session, found if found.id is not None else None)
    return row, state, person_of(found)


def person_of(found: Any) -> PersonView | None:
    """Who is talking, from a row of `_LOAD_WITH_PERSON` (None: a stranger)."""
    if found.person_id is None:
        return None
    return PersonView(
        id=found.person_id,
        display_name=found.display_name,
        role=found.role,
        unit_code=found.unit_code,
        locale=found.locale,
        last_channel=found.last_channel,
    )


def state_of(session: AsyncSession, found: Any) -> tuple[StateRow | None, dict[str, Any]]:
    if found is None:
        return None, {}
    state = dict(found.state)
    token = state.pop("sealed", None)
    sealer = sealer_of(session)
    if token and sealer is not None:
        state.update(sealer.open(token))
    return StateRow(found.id, found.version), state


def _sealed(session: AsyncSession, state: dict[str, Any]) -> dict[str, Any]:
    sealer = sealer_of(session)
    private = {key: state[key] for key in SEALED_STATE if key in state}
    if sealer is None or not private:
        return state
    public = {key: value for key, value in state.items() if key not in SEALED_STATE}
    return {**public, "sealed": sealer.seal(private)}


def save_statement(
    session: AsyncSession,
    row: StateRow | None,
    channel: str,
    user_id: str,
    chat_id: str,
    state: dict[str, Any],
) -> tuple[Executable, dict[str, Any]]:
    """The statement saving `state` and its parameters: an INSERT for a first conversation,
    else an UPDATE of the row read, checked against its version. Either changes one row, or
    another instance got there first (`ConcurrentUpdate`)."""
    params = {"chat_id": chat_id, "state": _sealed(session, state), "updated_at": utcnow()}
    if row is None:
        return _CREATE[dialect_of(session)], {**params, "channel": channel, "user_id": user_id}
    return _SAVE, {
        **params,
        "row_id": row.id,
        "row_version": row.version,
        "version": row.version + 1,
    }


async def save_conversation(
    session: AsyncSession,
    row: StateRow | None,
    channel: str,
    user_id: str,
    chat_id: str,
    state: dict[str, Any],
) -> None:
    statement, params = save_statement(session, row, channel, user_id, chat_id, state)
    saved = await run(session, statement, params)
    if saved.rowcount != 1:
        raise ConcurrentUpdate(user_id)  # another instance saved this person first


async def prune_updates(session: AsyncSession, older_than: datetime) -> int:
    """Forget old deduplication keys: messengers stop retrying within hours, not weeks."""
    result = await session.execute(
        delete(InboundUpdate).where(col(InboundUpdate.received_at) < older_than)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
