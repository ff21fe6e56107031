"""The audit log: who changed what in the organisation's set-up, and when.

`record` adds an entry to the caller's session, so it commits (or rolls back) together with the
change it describes. Callers pass codes, names and counts only: never a secret, a password, a
sign-in token or anything that would tell who sent a hidden report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import AuditEntry

PAGE_SIZE = 50


async def record(
    session: AsyncSession,
    actor_person_id: int | None,
    actor_name: str,
    action: str,
    target: str = "",
    **details: Any,
) -> None:
    session.add(
        AuditEntry(
            actor_person_id=actor_person_id,
            actor_name=actor_name[:200],
            action=action,
            target=target[:200],
            details=details,
        )
    )


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor_person_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None  # keyset page: entries older than this one


async def entries(
    session: AsyncSession, flt: AuditFilter, limit: int = PAGE_SIZE
) -> list[AuditEntry]:
    """Newest first, one page; ask for the next page with before_id = the last id shown."""
    stmt = select(AuditEntry)
    if flt.action:
        stmt = stmt.where(col(AuditEntry.action) == flt.action)
    if flt.actor_person_id is not None:
        stmt = stmt.where(col(AuditEntry.actor_person_id) == flt.actor_person_id)
    if flt.since is not None:
        stmt = stmt.where(col(AuditEntry.at) >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(col(AuditEntry.at) < flt.until)
    if flt.before_id is not None:
        stmt = stmt.where(col(AuditEntry.id) < flt.before_id)
    stmt = stmt.order_by(col(AuditEntry.id).desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def actions(session: AsyncSession) -> list[str]:
    rows = await session.execute(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
    return [a for (a,) in rows.all()]
