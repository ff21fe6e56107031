"""The few queries operations need: is the database there, what time does it say it is, and how
much is waiting in the outbox. Cheap enough for a probe every few seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlmodel import col

from storage.db import Database, Session
from storage.models import OutboxMessage

WAITING = ("pending", "sending")


async def database_now(db: Database) -> datetime:
    """The database server's clock, in UTC (raises if the database cannot be reached)."""
    async with db.connect() as conn:
        if db.dialect.name == "sqlite":
            raw = (await conn.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))).scalar()
            return datetime.fromisoformat(str(raw)).replace(tzinfo=UTC)
        value = (await conn.execute(text("SELECT now()"))).scalar_one()
        return value.astimezone(UTC)


async def outbox_backlog(session: Session) -> tuple[int, datetime | None]:
    """How many rows wait to be sent (or are on the wire), and when the oldest was written."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(OutboxMessage.created_at)).where(
                col(OutboxMessage.status).in_(WAITING)
            )
        )
    ).one()
    if isinstance(oldest, str):  # SQLite's min() of a text column loses the column's type
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest
