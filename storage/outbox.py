"""The outbox: proactive messages as rows, written in the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
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


def _new_row(
    key: str, channel: str, chat_id: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "channel": channel,
        "chat_id": chat_id,
        "payload": payload,
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


async def due(session: AsyncSession, now: datetime, limit: int) -> list[OutboxMessage]:
    """Rows to send now, oldest first; a row waits while an older one to its chat waits to be
    retried or is on the wire, so each chat receives its messages in order."""
    earlier = aliased(OutboxMessage)
    waiting_before = (
        select(earlier.id)
        .where(
            earlier.channel == OutboxMessage.channel,
            earlier.chat_id == OutboxMessage.chat_id,
            col(earlier.id) < col(OutboxMessage.id),
            or_(
                and_(col(earlier.status) == "pending", col(earlier.next_attempt_at) > now),
                col(earlier.status) == "sending",
            ),
        )
        .exists()
    )
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            col(OutboxMessage.next_attempt_at) <= now,
            ~waiting_before,
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


# The delivery worker's bookkeeping runs once per message, so these are plain Core statements
# (no ORM unit of work) that SQLAlchemy compiles once and caches.
_table = OutboxMessage.__table__  # type: ignore[attr-defined]
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
