"""The web admin dashboard's own figures: reports since a time, open cases that need eyes,
and the poll rounds still open (their rates come from storage.pollresults)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.casequery import OPEN
from storage.models import Department, OrgUnit, Poll, PollRound, Report

LIST_SIZE = 20


async def reports_since(session: AsyncSession, since: datetime) -> int:
    stmt = select(func.count()).select_from(Report).where(col(Report.created_at) >= since)
    return int((await session.execute(stmt)).scalar_one())


async def _open_cases(session: AsyncSession, where: Any) -> list[tuple[str, str, str, str]]:
    rows = await session.execute(
        select(Report.code, OrgUnit.name, Department.name, Report.status)
        .join(OrgUnit, col(OrgUnit.id) == col(Report.unit_id), isouter=True)
        .join(Department, col(Department.id) == col(Report.department_id), isouter=True)
        .where(col(Report.status).in_(OPEN), where)
        .order_by(col(Report.id))
        .limit(LIST_SIZE)
    )
    return [(c, u or "—", d or "", s) for c, u, d, s in rows.all()]


async def hot_cases(session: AsyncSession) -> list[tuple[str, str, str, str]]:
    """(code, unit, department, status) of open hot cases, oldest first."""
    return await _open_cases(session, col(Report.urgency) == "hot")


async def overdue_cases(session: AsyncSession, now: datetime) -> list[tuple[str, str, str, str]]:
    """(code, unit, department, status) of open cases past their due time, oldest first."""
    return await _open_cases(session, col(Report.due_at) < now)


async def open_rounds(session: AsyncSession) -> list[PollRound]:
    """Open rounds of polls and situation reports, closing soonest first."""
    stmt = (
        select(PollRound)
        .join(Poll, col(Poll.id) == col(PollRound.poll_id))
        .where(PollRound.status == "open")
        .order_by(col(PollRound.closes_at))
    )
    return list((await session.execute(stmt)).scalars())
