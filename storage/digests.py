"""The leaders' digest figures: what came in, what is stuck, how fast cases move.

Figures come from GROUP BY queries, so a digest over a million reports stays quick. Bounds are
compared in UTC: SQLite keeps UTC wall times and would read local bounds as if UTC.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers import casework
from storage.models import Department, Nudge, OrgUnit, OutboxMessage, Report

OPEN = tuple(sorted(s.value for s in casework.OPEN))
CHART_DAYS = 14
LISTED = 50  # hot and overdue cases named in a digest


@dataclass
class DigestData:
    since: datetime
    until: datetime
    total: int = 0
    by_category: list[tuple[str, int]] = field(default_factory=list)
    by_urgency: dict[str, int] = field(default_factory=dict)
    by_host_kind: list[tuple[str, int]] = field(default_factory=list)
    hot: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # code, category, unit, status
    newly_overdue: list[tuple[str, str]] = field(default_factory=list)  # code, department
    resolved: int = 0
    median_ack_hours: float | None = None
    median_resolve_hours: float | None = None
    delivery_failures: int = 0
    open_now: int = 0
    escalated: list[str] = field(default_factory=list)
    daily: list[tuple[date, dict[str, int], int, int]] = field(default_factory=list)
    # Of those counts, how many are hidden (confidential or anonymous) reports: breakdowns are
    # suppressed by them before they are published (reports.suppression).
    hidden_by_category: dict[str, int] = field(default_factory=dict)
    hidden_by_host_kind: dict[str, int] = field(default_factory=dict)
    daily_hidden: list[dict[str, int]] = field(default_factory=list)
    min_group_size: int = 0  # once suppressed: the smallest anonymous group published


async def collect(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    tz: ZoneInfo,
    chart_days: int = CHART_DAYS,
    now: datetime | None = None,
) -> DigestData:
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    # A window reaching past now (this month's report) must not call a case due later overdue.
    due_by = min(until, now or datetime.now(UTC))
    data = DigestData(since, until)
    await _intake(session, data)
    data.hot = await _hot(session, since, until)
    data.newly_overdue = await _newly_overdue(session, since, due_by)
    await _progress(session, data)
    data.escalated = await _escalated(session, since, until)
    data.daily, data.daily_hidden = await _daily(session, until, tz, chart_days)
    return data


def _hidden() -> Any:
    """How many of a group's reports hide their reporter."""
    return func.coalesce(func.sum(case((col(Report.anonymity) != "named", 1), else_=0)), 0)


def _created_in(since: datetime, until: datetime) -> tuple[Any, Any]:
    return col(Report.created_at) >= since, col(Report.created_at) < until


async def _intake(session: AsyncSession, data: DigestData) -> None:
    """New reports of the window, by category, urgency and kind of unit."""
    window = _created_in(data.since, data.until)
    rows = (
        await session.execute(
            select(Report.category, func.count(), _hidden())
            .where(*window)
            .group_by(col(Report.category))
        )
    ).all()
    data.by_category = sorted(((c, int(n)) for c, n, _ in rows), key=lambda x: -x[1])
    data.hidden_by_category = {c: int(h) for c, _, h in rows}
    data.total = sum(n for _, n in data.by_category)
    rows = await session.execute(
        select(Report.urgency, func.count()).where(*window).group_by(col(Report.urgency))
    )
    data.by_urgency = {u: int(n) for u, n in rows.all()}
    rows = (
        await session.execute(
            select(OrgUnit.host_kind, func.count(), _hidden())
            .select_from(Report)
            .join(OrgUnit, col(OrgUnit.id) == col(Report.unit_id))
            .where(*window)
            .group_by(col(OrgUnit.host_kind))
        )
    ).all()
    data.by_host_kind = sorted(((k, int(n)) for k, n, _ in rows), key=lambda x: -x[1])
    data.hidden_by_host_kind = {k: int(h) for k, _, h in rows}


async def _hot(
    session: AsyncSession, since: datetime, until: datetime
) -> list[tuple[str, str, str, str]]:
    rows = await session.execute(
        select(Report.code, Report.category, OrgUnit.name, Report.status)
        .join(OrgUnit, col(OrgUnit.id) == col(Report.unit_id), isouter=True)
        .where(*_created_in(since, until), Report.urgency == "hot")
        .order_by(col(Report.id))
        .limit(LISTED)
    )
    return [(c, cat, u or "—", s) for c, cat, u, s in rows.all()]


async def _newly_overdue(
    session: AsyncSession, since: datetime, due_by: datetime
) -> list[tuple[str, str]]:
    """Open cases that fell due in the window: code and department."""
    rows = await session.execute(
        select(Report.code, Department.name)
        .join(Department, col(Department.id) == col(Report.department_id), isouter=True)
        .where(
            col(Report.due_at) >= since, col(Report.due_at) < due_by, col(Report.status).in_(OPEN)
        )
        .order_by(col(Report.due_at))
        .limit(LISTED)
    )
    return [(c, d or "—") for c, d in rows.all()]


async def _count(session: AsyncSession, table: Any, *where: Any) -> int:
    stmt = select(func.count()).select_from(table).where(*where)
    return int((await session.execute(stmt)).scalar_one())


async def _median_hours(
    session: AsyncSession, start: Any, end: Any, since: datetime, until: datetime
) -> float | None:
    """The median time from `start` to `end` of the cases whose `end` fell in the window."""
    rows = await session.execute(select(start, end).where(end >= since, end < until))
    hours = [(b - a).total_seconds() / 3600 for a, b in rows.all()]
    return statistics.median(hours) if hours else None


async def _progress(session: AsyncSession, data: DigestData) -> None:
    """Resolutions, what is still open, how fast cases move, and messages that failed."""
    since, until = data.since, data.until
    resolved_at = col(Report.resolved_at)
    data.resolved = await _count(session, Report, resolved_at >= since, resolved_at < until)
    data.open_now = await _count(session, Report, col(Report.status).in_(OPEN))
    created_at = col(Report.created_at)
    data.median_ack_hours = await _median_hours(
        session, created_at, col(Report.acknowledged_at), since, until
    )
    data.median_resolve_hours = await _median_hours(session, created_at, resolved_at, since, until)
    data.delivery_failures = await _count(
        session,
        OutboxMessage,
        OutboxMessage.status == "failed",
        col(OutboxMessage.created_at) >= since,
    )


async def _escalated(session: AsyncSession, since: datetime, until: datetime) -> list[str]:
    """Codes of the cases the nudge ladder escalated to the leaders in the window."""
    subjects = await session.execute(
        select(Nudge.subject).where(
            Nudge.kind == "escalated", col(Nudge.created_at) >= since, col(Nudge.created_at) < until
        )
    )
    ids = [int(s.split(":", 1)[1]) for (s,) in subjects.all() if s.startswith("report:")]
    if not ids:
        return []
    codes = await session.execute(
        select(Report.code).where(col(Report.id).in_(ids)).order_by(col(Report.id))
    )
    return list(codes.scalars())


def _day_index(column: Any, bounds: list[datetime]) -> Any:
    """A portable CASE that numbers each row's local day (0 = oldest) from its UTC time."""
    return case(*[(column < bound, i) for i, bound in enumerate(bounds[1:])], else_=len(bounds) - 1)


async def _daily(
    session: AsyncSession, until: datetime, tz: ZoneInfo, count: int = CHART_DAYS
) -> tuple[list[tuple[date, dict[str, int], int, int]], list[dict[str, int]]]:
    """Intake per day and category, and resolutions per day, for the chart: two GROUP BY
    queries over local days rather than fetching two weeks of rows. The last day is the one
    `until` falls in (or the day before, when `until` is a local midnight)."""
    today = (until - timedelta(microseconds=1)).astimezone(tz).date()
    days = [today - timedelta(days=back) for back in range(count - 1, -1, -1)]
    bounds = [datetime.combine(d, datetime.min.time(), tzinfo=tz).astimezone(UTC) for d in days]
    created_day = _day_index(col(Report.created_at), bounds).label("day")
    rows = await session.execute(
        select(created_day, Report.category, func.count(), _hidden())
        .where(col(Report.created_at) >= bounds[0], col(Report.created_at) < until)
        .group_by(created_day, col(Report.category))
    )
    intake: list[dict[str, int]] = [{} for _ in days]
    hidden: list[dict[str, int]] = [{} for _ in days]
    for index, category, n, h in rows.all():
        intake[int(index)][category] = int(n)
        hidden[int(index)][category] = int(h)
    resolved_day = _day_index(col(Report.resolved_at), bounds).label("day")
    rows = await session.execute(
        select(resolved_day, func.count())
        .where(col(Report.resolved_at) >= bounds[0], col(Report.resolved_at) < until)
        .group_by(resolved_day)
    )
    resolved = [0 for _ in days]
    for index, n in rows.all():
        resolved[int(index)] = int(n)
    daily = [(d, intake[i], sum(intake[i].values()), resolved[i]) for i, d in enumerate(days)]
    return daily, hidden
