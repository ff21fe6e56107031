"""Rate limits and lockouts kept in the database, so every instance sees the same counts and
a restart does not forgive an attacker. Each counted event is a row that expires by itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlmodel import col, select

from storage.models import RateHit, RateWindow
from storage.prebuilt import Insert, dialect_of, per_dialect, run

_windows = RateWindow.__table__  # type: ignore[attr-defined]


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
    now_ms = int(time.time() * 1000)
    await session.execute(delete(RateWindow).where(col(RateWindow.expires_ms) <= now_ms))


def _bump(insert: Insert) -> Executable:
    ended = _windows.c.started_ms <= bindparam("ended_before", type_=BigInteger)
    now, expires = bindparam("now", type_=BigInteger), bindparam("expires", type_=BigInteger)
    return (
        insert(_windows)
        .values(key=bindparam("key"), started_ms=now, hits=1, expires_ms=expires)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "hits": case((ended, 1), else_=_windows.c.hits + 1),
                "started_ms": case((ended, now), else_=_windows.c.started_ms),
                "expires_ms": case((ended, expires), else_=_windows.c.expires_ms),
            },
        )
        .returning(_windows.c.hits)
    )


_BUMP = per_dialect(_bump)  # built once: it runs on every inbound event


async def bump(session: AsyncSession, key: str, window: timedelta) -> int:
    """Count one event under `key` and return how many its current window holds, this one
    included. A window starts at the first event after the last one ended (fixed windows:
    a burst straddling two may reach twice the limit, never more). One upsert, no read."""
    params = bump_params(key, window)
    return int((await run(session, _BUMP[dialect_of(session)], params)).scalar_one())


def bump_params(key: str, window: timedelta) -> dict[str, Any]:
    """The parameters of `bump`'s upsert (storage/event_start.py runs it too)."""
    now = int(time.time() * 1000)
    span = max(1, int(window.total_seconds() * 1000))
    return {"key": key[:200], "now": now, "ended_before": now - span, "expires": now + span}
