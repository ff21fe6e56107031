"""Filtered case lists for the web admin and its exports.

Pages are fetched by keyset ("id below the last one shown"), never by OFFSET, so the hundredth
page costs what the first does at a million reports. Rows are plain tuples of columns, and the
only reporter name ever selected is a named reporter's: hidden identities are never read.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, literal
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from handlers.slaclock import overdue
from storage.models import Department, OrgUnit, Person, Report, ReportEvent
from storage.scoreboard import CaseEvent, case_events
from storage.search import narrow_to_matches, query_words

CODE_RE = re.compile(r"^[A-Za-z]{1,8}-\d{1,10}$")
OPEN = ("new", "acknowledged", "assigned", "needs_info", "reopened")
NO_DEPARTMENT = -1  # a handler without a department sees no cases at all


@dataclass(frozen=True)
class CaseFilter:
    status: str = ""
    category: str = ""
    urgency: str = ""
    unit: str = ""  # unit code
    unit_kind: str = ""  # the host kind: agency, enterprise, …
    department: str = ""  # department code; "none" = not assigned
    since: datetime | None = None
    until: datetime | None = None
    overdue: bool = False
    text: str = ""
    # Not chosen by the visitor: a department's handler only ever sees its own cases.
    scope_department_id: int | None = None


@dataclass(frozen=True)
class CaseRow:
    id: int
    code: str
    created_at: datetime
    category: str
    urgency: str
    status: str
    anonymity: str
    unit_code: str
    unit_name: str
    unit_kind: str
    department_code: str
    department_name: str
    due_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    description: str
    named_reporter: str  # "" unless the reporter chose to be named
    # Read only for an open case past its set due time: the SLA clock's pauses (handlers.slaclock)
    events: tuple[CaseEvent, ...] = ()

    def overdue(self, now: datetime) -> bool:
        return overdue(self.status, self.due_at, self.events, now)


def _columns() -> Select[Any]:
    """Every column a case row shows, with its unit and department; nothing filtered yet."""
    named = case(
        (col(Report.anonymity) == "named", col(Person.display_name)), else_=literal("")
    ).label("named_reporter")
    stmt: Select[Any] = (
        sa_select(  # type: ignore[assignment]
            col(Report.id),
            col(Report.code),
            col(Report.created_at),
            col(Report.category),
            col(Report.urgency),
            col(Report.status),
            col(Report.anonymity),
            col(OrgUnit.code),
            col(OrgUnit.name),
            col(OrgUnit.host_kind),
            col(Department.code),
            col(Department.name),
            col(Report.due_at),
            col(Report.acknowledged_at),
            col(Report.resolved_at),
            col(Report.description),
            named,
        )
        .select_from(Report)
        .join(OrgUnit, col(OrgUnit.id) == col(Report.unit_id), isouter=True)
        .join(Department, col(Department.id) == col(Report.department_id), isouter=True)
        # Joined only for named reports: a hidden reporter's row is never even read.
        .join(
            Person,
            and_(col(Person.id) == col(Report.person_id), col(Report.anonymity) == "named"),
            isouter=True,
        )
    )
    return stmt


def _past_set_due(now: datetime) -> list[Any]:
    return [col(Report.due_at) < now, col(Report.status).in_(OPEN)]


async def held_by_pause(session: AsyncSession, flt: CaseFilter, now: datetime) -> list[int]:
    """The open cases past their set due time that the pauses for the reporter keep on time.
    Only cases that ever waited for the reporter can be held, so few events are read."""
    waited = sa_select(col(ReportEvent.id)).where(
        col(ReportEvent.report_id) == col(Report.id), col(ReportEvent.to_status) == "needs_info"
    )
    stmt = sa_select(col(Report.id), col(Report.status), col(Report.due_at)).where(
        *_past_set_due(now), waited.exists()
    )
    if flt.scope_department_id is not None:
        stmt = stmt.where(col(Report.department_id) == flt.scope_department_id)
    rows = [(int(i or 0), st, due) for i, st, due in (await session.execute(stmt)).all()]
    events = await case_events(session, [r[0] for r in rows])
    return [i for i, st, due in rows if not overdue(st, due, events.get(i, []), now)]


def _conditions(flt: CaseFilter, now: datetime, held: list[int]) -> list[Any]:
    conditions: list[Any] = []
    if flt.scope_department_id is not None:
        conditions.append(col(Report.department_id) == flt.scope_department_id)
    if flt.status:
        conditions.append(col(Report.status) == flt.status)
    if flt.category:
        conditions.append(col(Report.category) == flt.category)
    if flt.urgency:
        conditions.append(col(Report.urgency) == flt.urgency)
    if flt.unit:
        conditions.append(col(OrgUnit.code) == flt.unit)
    if flt.unit_kind:
        conditions.append(col(OrgUnit.host_kind) == flt.unit_kind)
    if flt.department == "none":
        conditions.append(col(Report.department_id).is_(None))
    elif flt.department:
        conditions.append(col(Department.code) == flt.department)
    if flt.since is not None:
        conditions.append(col(Report.created_at) >= flt.since)
    if flt.until is not None:
        conditions.append(col(Report.created_at) < flt.until)
    if flt.overdue:
        conditions += _past_set_due(now)
        if held:
            conditions.append(col(Report.id).not_in(held))
    text = flt.text.strip()
    if CODE_RE.match(text):  # a case code: the index answers, no scan of the texts
        conditions.append(col(Report.code) == text.upper())
    elif text and not query_words(text):  # punctuation only: no word to look up, so a scan
        conditions.append(
            func.lower(col(Report.description)).contains(text.lower(), autoescape=True)
        )
    return conditions


def _query(
    flt: CaseFilter, now: datetime, dialect: str, held: list[int] | None = None
) -> tuple[Select[Any], Any]:
    """The filtered statement, and the column (the report's id) its pages are keyed by."""
    stmt = _columns().where(*_conditions(flt, now, held or []))
    text = flt.text.strip()
    if words := [] if CODE_RE.match(text) else query_words(text):
        return narrow_to_matches(stmt, dialect, words)  # the search index answers
    return stmt, col(Report.id)


def _row(values: Any) -> CaseRow:
    (
        id_,
        code,
        created,
        category,
        urgency,
        status,
        anonymity,
        unit_code,
        unit_name,
        unit_kind,
        dept_code,
        dept_name,
        due,
        acked,
        resolved,
        description,
        named,
    ) = values
    return CaseRow(
        id_,
        code,
        created,
        category,
        urgency,
        status,
        anonymity,
        unit_code or "",
        unit_name or "",
        unit_kind or "",
        dept_code or "",
        dept_name or "",
        due,
        acked,
        resolved,
        description,
        named or "",
    )


async def case_page(
    session: AsyncSession, flt: CaseFilter, now: datetime, before_id: int | None, size: int
) -> tuple[list[CaseRow], int | None]:
    """Up to `size` cases, newest first, below `before_id`; and the cursor of the next page."""
    held = await held_by_pause(session, flt, now) if flt.overdue else []
    stmt, key = _query(flt, now, session.get_bind().dialect.name, held)
    if before_id is not None:
        stmt = stmt.where(key < before_id)
    stmt = stmt.order_by(key.desc()).limit(size + 1)
    rows = [_row(r) for r in (await session.execute(stmt)).all()]
    more = len(rows) > size
    rows = await _with_pauses(session, rows[:size], now)
    return rows, (rows[-1].id if more and rows else None)


async def _with_pauses(session: AsyncSession, rows: list[CaseRow], now: datetime) -> list[CaseRow]:
    """The rows, those past their set due time with their events, in one query."""
    late = [r.id for r in rows if r.status in OPEN and r.due_at is not None and r.due_at < now]
    events = await case_events(session, late)
    return [replace(r, events=tuple(events[r.id])) if r.id in events else r for r in rows]


async def iter_cases(
    sessions: async_sessionmaker[AsyncSession], flt: CaseFilter, now: datetime, batch: int = 1000
) -> AsyncIterator[list[CaseRow]]:
    """Every matching case in batches, each fetched in its own short session, so an export of
    any size holds one batch in memory and no transaction open for minutes."""
    cursor: int | None = None
    while True:
        async with sessions() as session:
            rows, cursor = await case_page(session, flt, now, cursor, batch)
        if rows:
            yield rows
        if cursor is None:
            return
