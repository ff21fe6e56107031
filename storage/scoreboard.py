"""What the leaders' scoreboard reads: the cases a period touched, with their events (the SLA
clock pauses are computed from them in reports.scoreboard), and reports filed per unit.

Bounds are compared in UTC, as the digest's are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.digests import OPEN
from storage.models import Department, OrgUnit, Report, ReportEvent

CHUNK = 500  # ids per IN (...) list: well under every driver's parameter limit


@dataclass(frozen=True)
class CaseEvent:
    at: datetime
    action: str
    from_status: str
    to_status: str


@dataclass
class ScoreCase:
    """One case as the scoreboard judges it."""

    id: int
    department: str  # the department's name; "" while not assigned
    status: str
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    due_at: datetime | None
    rating: int | None
    events: list[CaseEvent] = field(default_factory=list)


async def period_cases(session: AsyncSession, since: datetime, until: datetime) -> list[ScoreCase]:
    """Cases received before `until` that the period touched: received, acknowledged,
    resolved or closed in it, or still open; each with its events in order."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)

    def within(column: Any) -> Any:
        return (col(column) >= since) & (col(column) < until)

    rows = await session.execute(
        sa_select(
            col(Report.id),
            col(Department.name),
            col(Report.status),
            col(Report.created_at),
            col(Report.acknowledged_at),
            col(Report.resolved_at),
            col(Report.closed_at),
            col(Report.due_at),
            col(Report.rating),
        )
        .select_from(Report)
        .join(Department, col(Department.id) == col(Report.department_id), isouter=True)
        .where(
            col(Report.created_at) < until,
            or_(
                within(Report.created_at),
                within(Report.acknowledged_at),
                within(Report.resolved_at),
                within(Report.closed_at),
                col(Report.status).in_(OPEN),
            ),
        )
        .order_by(col(Report.id))
    )
    cases = [ScoreCase(int(r[0] or 0), r[1] or "", *r[2:]) for r in rows.all()]
    events = await case_events(session, [c.id for c in cases])
    for c in cases:
        c.events = events.get(c.id, [])
    return cases


async def case_events(session: AsyncSession, ids: Iterable[int]) -> dict[int, list[CaseEvent]]:
    """Each case's events, oldest first."""
    ids = list(ids)
    out: dict[int, list[CaseEvent]] = {}
    for start in range(0, len(ids), CHUNK):
        rows = await session.execute(
            sa_select(
                col(ReportEvent.report_id),
                col(ReportEvent.at),
                col(ReportEvent.action),
                col(ReportEvent.from_status),
                col(ReportEvent.to_status),
            )
            .where(col(ReportEvent.report_id).in_(ids[start : start + CHUNK]))
            .order_by(col(ReportEvent.report_id), col(ReportEvent.at), col(ReportEvent.id))
        )
        for r in rows.all():
            out.setdefault(r[0], []).append(CaseEvent(r[1], r[2], r[3], r[4]))
    return out


@dataclass(frozen=True)
class UnitReports:
    code: str
    name: str
    reports: int
    hidden: int  # of which confidential or anonymous: published through reports.suppression


async def reports_per_unit(
    session: AsyncSession, since: datetime, until: datetime
) -> list[UnitReports]:
    """Every unit with the reports filed from it in [since, until), zero included."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    in_window = (col(Report.created_at) >= since) & (col(Report.created_at) < until)
    rows = await session.execute(
        select(
            OrgUnit.code,
            OrgUnit.name,
            func.count(col(Report.id)),
            func.coalesce(func.sum(case((col(Report.anonymity) != "named", 1), else_=0)), 0),
        )
        .join(Report, (col(Report.unit_id) == col(OrgUnit.id)) & in_window, isouter=True)
        .group_by(col(OrgUnit.code), col(OrgUnit.name))
        .order_by(col(OrgUnit.code))
    )
    return [UnitReports(c, n, int(r), int(h)) for c, n, r, h in rows.all()]


@dataclass(frozen=True)
class PastDue:
    """An open case whose due time has passed, before the pauses are allowed for."""

    id: int
    code: str
    unit: str
    department: str
    status: str
    due_at: datetime


async def past_due(session: AsyncSession, now: datetime, limit: int) -> list[PastDue]:
    """Open cases past their set due time, oldest first: the candidates for "overdue" once
    the waits for the reporter are added (reports.scoreboard.effective_due)."""
    rows = await session.execute(
        sa_select(
            col(Report.id),
            col(Report.code),
            col(OrgUnit.name),
            col(Department.name),
            col(Report.status),
            col(Report.due_at),
        )
        .select_from(Report)
        .join(OrgUnit, col(OrgUnit.id) == col(Report.unit_id), isouter=True)
        .join(Department, col(Department.id) == col(Report.department_id), isouter=True)
        .where(col(Report.status).in_(OPEN), col(Report.due_at) < now.astimezone(UTC))
        .order_by(col(Report.id))
        .limit(limit)
    )
    return [
        PastDue(int(i or 0), c, u or "—", d or "", s, due)
        for i, c, u, d, s, due in rows.all()
        if due is not None
    ]


async def due_times(session: AsyncSession, codes: Iterable[str]) -> dict[str, tuple[int, datetime]]:
    """Each case's id and set due time, by code (cases without one left out)."""
    rows = await session.execute(
        sa_select(col(Report.code), col(Report.id), col(Report.due_at)).where(
            col(Report.code).in_(list(codes))
        )
    )
    return {c: (int(i or 0), d) for c, i, d in rows.all() if d is not None}
