"""The outbox: proactive messages as rows, written in the caller's transaction."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, func, literal_column, or_, text, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnClause
from sqlmodel import col, select

from storage.models import OutboxMessage, utcnow

# On PostgreSQL every transaction that queues a message notifies this channel when it commits,
# so the leader (which listens on its lock's connection, storage/leader.py) delivers a row
# written by any instance at once instead of at its next idle poll.
NOTIFY_CHANNEL = "grassroots_outbox"
_NOTIFY = text(f"NOTIFY {NOTIFY_CHANNEL}")


async def _notify(session: AsyncSession, dialect: str) -> None:
    if dialect == "postgresql":  # several in one transaction are delivered as one
        await session.execute(_NOTIFY)


# Which rows go first when the queue is long (lower first, then oldest first): what someone is
# waiting for now before what can wait a minute. A row's priority follows from its key's
# prefix (each kind of message has one; see the callers of `enqueue`), so the code that
# queues messages need not know about it; a key no pattern knows is "normal".
URGENT, NORMAL, BULK = 0, 1, 2
_PRIORITIES = [
    # hot alerts, escalations, replies, case cards and what a reporter is told of their case
    (re.compile(r"(hot|alert|reply|notice|card|cardedit|report):|nudge:escalated:"), URGENT),
    (re.compile(r"poll:\d+:escalate:"), URGENT),
    # poll invitations, reminders and results, digests, nudges to finish a draft
    (re.compile(r"poll:\d+:(invite|remind|resend|results):|nudge:draft:"), BULK),
    (re.compile(r"(daily|weekly|monthly)_\w+:"), BULK),
]


def priority_of(key: str) -> int:
    for pattern, priority in _PRIORITIES:
        if pattern.match(key):
            return priority
    return NORMAL


def _new_row(
    key: str, channel: str, chat_id: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "channel": channel,
        "chat_id": chat_id,
        "payload": payload,
        "priority": priority_of(key),
        "status": "pending",
        "attempts": 0,
        "last_error": "",
        "created_at": now,
        "next_attempt_at": now,
    }


async def enqueue(
    session: AsyncSession, key: str, channel: str, chat_id: str, payload: dict[str, Any]
) -> None:
    """Add a message once: a second call with the same key is a no-op, so reruns are safe."""
    values = _new_row(key, channel, chat_id, payload, utcnow())
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    await session.execute(stmt)
    await _notify(session, dialect)


async def enqueue_many(
    session: AsyncSession, messages: list[tuple[str, str, str, dict[str, Any]]]
) -> None:
    """`enqueue` for many messages at once, each (key, channel, chat id, payload): one statement
    for all of them, so a poll to thousands of people holds the write lock for a moment, not
    for seconds. A key already queued is skipped, as with `enqueue`."""
    if not messages:
        return
    now = utcnow()
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"])
    for start in range(0, len(messages), 1000):
        await session.execute(
            stmt,
            [_new_row(*message, now) for message in messages[start : start + 1000]],
        )
    await _notify(session, dialect)


class Queued(NamedTuple):
    """A row to deliver, as the worker needs it: a plain tuple, not an ORM object."""

    id: int
    channel: str
    chat_id: str
    payload: dict[str, Any]
    attempts: int
    priority: int


_t = OutboxMessage.__table__  # type: ignore[attr-defined]
_ahead = _t.alias("ahead")
# The statuses are written into the SQL, not bound: only then can the planner see that the
# partial indexes (on pending and on unsettled rows, storage/models.py) cover the query. With
# a bound status SQLite sorted every pending row and ran the subquery for each: 9.5 s for a
# fetch from 5,000 pending rows instead of milliseconds.
_PENDING: ColumnClause[str] = literal_column("'pending'")
_SENDING: ColumnClause[str] = literal_column("'sending'")
# A row waits while its chat has a row on the wire, or one ahead of it in the order rows go
# out (priority, then age) waiting to be retried: each chat gets its messages in that order,
# and after a crash at most one row per chat is in doubt.
_BLOCKED = (
    core_select(_ahead.c.id)
    .where(
        _ahead.c.chat_id == _t.c.chat_id,
        _ahead.c.channel == _t.c.channel,
        _ahead.c.status.in_([_PENDING, _SENDING]),
        or_(
            _ahead.c.status == _SENDING,
            and_(
                _ahead.c.next_attempt_at > bindparam("now"),
                or_(
                    _ahead.c.priority < _t.c.priority,
                    and_(_ahead.c.priority == _t.c.priority, _ahead.c.id < _t.c.id),
                ),
            ),
        ),
    )
    .exists()
)
_DUE = core_select(
    _t.c.id, _t.c.channel, _t.c.chat_id, _t.c.payload, _t.c.attempts, _t.c.priority
).where(_t.c.status == _PENDING, _t.c.next_attempt_at <= bindparam("now"), ~_BLOCKED)
# Every priority named, though that filters nothing: SQLite (without statistics) otherwise
# prefers the index on status, and sorted every pending row, running the subquery for each
# (~10 ms for 5,000, each fetch); so it walks ix_outbox_due in order and stops at the limit.
_URGENT_FIRST = (
    _DUE.where(_t.c.priority.in_([literal_column(str(p)) for p in (URGENT, NORMAL, BULK)]))
    .order_by(_t.c.priority, _t.c.id)
    .limit(bindparam("urgent_first"))
)
_OLDEST_FIRST = _DUE.order_by(_t.c.id).limit(bindparam("oldest_first"))
# The share of every fetch that goes to the oldest rows whatever their priority, so a stream of
# urgent messages slows a poll round down but never stops it.
OLDEST_SHARE = 0.2


async def due(session: AsyncSession, now: datetime, limit: int) -> list[Queued]:
    """Rows to send now: most of them in priority order, then oldest first, and a share the
    oldest whatever their priority; sorted in the order they go out."""
    oldest = max(1, int(limit * OLDEST_SHARE))
    urgent_first = max(1, limit - oldest)
    params = {"now": now, "urgent_first": urgent_first, "oldest_first": oldest}
    first = (await session.execute(_URGENT_FIRST, params)).all()
    rows = {row.id: Queued(*row) for row in first}
    if len(first) >= urgent_first:  # else that was every due row
        for row in (await session.execute(_OLDEST_FIRST, params)).all():
            rows.setdefault(row.id, Queued(*row))
    return sorted(rows.values(), key=lambda row: (row.priority, row.id))


# The delivery worker's bookkeeping runs once per message, so these are plain Core statements
# (no ORM unit of work) that SQLAlchemy compiles once and caches.
_table = _t
# On PostgreSQL a row another worker is claiming right now is skipped, not waited for (FOR
# UPDATE SKIP LOCKED); SQLite, with its one writer, leaves the clause out.
_CLAIMABLE = (
    select(_table.c.id)
    .where(_table.c.id.in_(bindparam("ids", expanding=True)), _table.c.status == "pending")
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(_table)
    .where(_table.c.id.in_(_CLAIMABLE.scalar_subquery()), _table.c.status == "pending")
    .values(status="sending")
    .returning(_table.c.id)
)
_SENT = (
    update(_table)
    .where(_table.c.id == bindparam("row_id"))
    .values(status="sent", sent_at=bindparam("at"), attempts=_table.c.attempts + 1)
)


async def claim(session: AsyncSession, ids: list[int]) -> set[int]:
    """Mark rows as on the wire before their request goes out; returns the ids this caller won
    (a row another worker claimed first, or already settled, is not returned)."""
    if not ids:
        return set()
    result = await session.execute(_CLAIM, {"ids": ids})
    return {row_id for (row_id,) in result.all()}


async def mark_sent_many(session: AsyncSession, ids: list[int]) -> None:
    if ids:
        now = utcnow()
        await session.execute(_SENT, [{"row_id": i, "at": now} for i in ids])


async def mark_sent(session: AsyncSession, message_id: int) -> None:
    await mark_sent_many(session, [message_id])


async def mark_retry(session: AsyncSession, message_id: int, error: str, delay: float) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(
            status="pending",
            attempts=OutboxMessage.attempts + 1,
            last_error=error[:500],
            next_attempt_at=utcnow() + timedelta(seconds=delay),
        )
    )


async def release(session: AsyncSession, ids: list[int]) -> None:
    """Hand claimed rows back untouched: their request never went out."""
    if ids:
        await session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(ids), col(OutboxMessage.status) == "sending")
            .values(status="pending")
        )


async def mark_failed(session: AsyncSession, message_id: int, error: str) -> None:
    await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status="failed", last_error=error[:500], attempts=OutboxMessage.attempts + 1)
    )


async def recover_in_flight(session: AsyncSession) -> int:
    """At start-up: rows left `sending` were on the wire when the last process died. Telegram
    has no idempotency key and no way to ask what was delivered, so we cannot know whether
    they arrived. We send them again (an alert that arrives twice beats one that never does)
    and mark them in doubt, so operators see how many may have been duplicated.

    Only one delivery worker runs per database, the leader's (scheduler/leader.py): it calls
    this when it takes office, after the previous leader stopped or died."""
    result = await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == "sending")
        .values(status="pending", in_doubt=True)
        .returning(col(OutboxMessage.id))
    )
    return len(result.all())


async def status_summary(session: AsyncSession) -> dict[str, Any]:
    """For operators: counts, the age of the oldest pending row and the commonest failures."""
    by_status = await counts(session)
    oldest = (
        await session.execute(
            select(func.min(OutboxMessage.created_at)).where(
                col(OutboxMessage.status).in_(("pending", "sending"))
            )
        )
    ).scalar_one_or_none()
    age = "none"
    if oldest is not None:
        seconds = (utcnow() - oldest).total_seconds()  # min() keeps the column's UTC type
        age = f"{int(seconds // 60)} min" if seconds >= 60 else f"{int(seconds)} s"
    errors = (
        await session.execute(
            select(OutboxMessage.last_error, func.count())
            .where(OutboxMessage.status == "failed")
            .group_by(col(OutboxMessage.last_error))
            .order_by(func.count().desc())
            .limit(5)
        )
    ).all()
    in_doubt = (
        await session.execute(
            select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.in_doubt))
        )
    ).scalar_one()
    return {
        "pending": by_status.get("pending", 0),
        "sending": by_status.get("sending", 0),
        "in_doubt": int(in_doubt),
        "failed": by_status.get("failed", 0),
        "sent": by_status.get("sent", 0),
        "oldest_pending": age,
        "errors": [(e, int(n)) for e, n in errors],
    }


async def counts(session: AsyncSession) -> dict[str, int]:
    stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    return {status: n for status, n in (await session.execute(stmt)).all()}
