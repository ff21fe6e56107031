"""The inbox: updates fetched from a messenger, kept until they are handled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.liveness import HELD, NAMESPACE
from storage.models import InboxUpdate, OutboxMessage, utcnow
from storage.prebuilt import run


async def store(
    session: AsyncSession,
    channel: str,
    updates: list[tuple[str, dict[str, Any]]],
    owner: int | None = None,
) -> list[str]:
    """Keep each (key, raw update), received by instance `owner` (storage/liveness.py); returns
    the keys that were new. A key already waiting is being handled (or will be, after a
    restart), so it is not handled a second time."""
    if not updates:
        return []
    now = utcnow()
    rows = [
        {"channel": channel, "update_key": key, "payload": raw, "received_at": now, "owner": owner}
        for key, raw in updates
    ]
    # One prebuilt statement, its rows sent as one INSERT per batch by SQLAlchemy's
    # "insertmanyvalues": building a VALUES list of every update's values each time cost
    # more than half of the loop's 0.3 ms of CPU per update kept (docs/performance.md, intake).
    connection = await session.connection()
    found = await connection.execute(_STORE[connection.dialect.name], rows)
    new = set(found.scalars().all())
    return [key for key, _ in updates if key in new]


def _store(insert: Any) -> Any:
    return (
        insert(_inbox)
        .values(
            channel=bindparam("channel"),
            update_key=bindparam("update_key"),
            payload=bindparam("payload"),
            received_at=bindparam("received_at"),
            owner=bindparam("owner"),
        )
        .on_conflict_do_nothing(index_elements=["channel", "update_key"])
        .returning(_inbox.c.update_key)
    )


_inbox = InboxUpdate.__table__  # type: ignore[attr-defined]
_STORE = {"postgresql": _store(pg_insert), "sqlite": _store(sqlite_insert)}


async def waiting(
    session: AsyncSession, channel: str, received_before: datetime | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Updates of `channel` not yet handled, in the order they were fetched, leaving out
    those a live instance received (it handles them: on PostgreSQL, the owner's lock is held);
    with `received_before`, only those kept before then."""
    stmt = (
        select(InboxUpdate.update_key, InboxUpdate.payload)
        .where(col(InboxUpdate.channel) == channel)
        .order_by(col(InboxUpdate.id))
    )
    if received_before is not None:
        stmt = stmt.where(col(InboxUpdate.received_at) < received_before)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        alive = (await session.execute(text(HELD), {"ns": NAMESPACE})).scalars().all()
        # A row of unknown owner (kept before owners were recorded) is taken, as before.
        stmt = stmt.where(
            col(InboxUpdate.owner).is_(None) | col(InboxUpdate.owner).not_in(list(alive))
        )
    return [(key, dict(payload)) for key, payload in (await session.execute(stmt)).all()]


_DONE = delete(InboxUpdate).where(
    col(InboxUpdate.channel) == bindparam("channel"),
    col(InboxUpdate.update_key) == bindparam("key"),
)


async def done(session: AsyncSession, channel: str, key: str) -> bool:
    """Forget a handled update; whether it was still kept. Prebuilt: runs on every event."""
    result = await run(session, _DONE, {"channel": channel, "key": key})
    return bool(result.rowcount)


async def queued_for(session: AsyncSession, channel: str, chat_id: str) -> int:
    """Outbox messages to this chat not yet delivered (a reply must not overtake them)."""
    stmt = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.chat_id) == chat_id,
            col(OutboxMessage.status).in_(("pending", "sending")),
        )
    )
    return int((await session.execute(stmt)).scalar_one())
