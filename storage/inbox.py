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
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    new: set[str] = set()
    # One statement per batch a poll fetched (up to 100 updates), not one per update.
    for start in range(0, len(updates), 200):
        stmt = (
            insert(InboxUpdate)
            .values(
                [
                    {
                        "channel": channel,
                        "update_key": key,
                        "payload": raw,
                        "received_at": now,
                        "owner": owner,
                    }
                    for key, raw in updates[start : start + 200]
                ]
            )
            .on_conflict_do_nothing(index_elements=["channel", "update_key"])
            .returning(col(InboxUpdate.update_key))
        )
        new.update((await session.execute(stmt)).scalars().all())
    return [key for key, _ in updates if key in new]


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
