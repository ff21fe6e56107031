"""Rate limits and lockouts kept in the database, so every instance sees the same counts and
a restart does not forgive an attacker. Each counted event is a row that expires by itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import RateHit


async def record(session: AsyncSession, key: str, keep: timedelta) -> int:
    """Count one event; its id, to take it back with `forget` (e.g. a try that succeeded)."""
    now = datetime.now(UTC)
    hit = RateHit(key=key[:200], at=now, expires_at=now + keep)
    session.add(hit)
    await session.flush()
    assert hit.id is not None
    return hit.id


async def forget(session: AsyncSession, ids: list[int]) -> None:
    await session.execute(delete(RateHit).where(col(RateHit.id).in_(ids)))


async def recent(session: AsyncSession, key: str, window: timedelta) -> tuple[int, datetime | None]:
    """How many events under `key` in the last `window`, and when the latest was."""
    since = datetime.now(UTC) - window
    row = (
        await session.execute(
            select(func.count(), func.max(RateHit.at)).where(
                col(RateHit.key) == key[:200], col(RateHit.at) > since
            )
        )
    ).one()
    latest = row[1]
    if latest is not None and latest.tzinfo is None:  # SQLite hands back naive datetimes
        latest = latest.replace(tzinfo=UTC)
    return int(row[0]), latest


async def clear(session: AsyncSession, key: str) -> None:
    await session.execute(delete(RateHit).where(col(RateHit.key) == key[:200]))


async def prune(session: AsyncSession) -> None:
    await session.execute(delete(RateHit).where(col(RateHit.expires_at) <= datetime.now(UTC)))
