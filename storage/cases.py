"""One case as the web admin shows it: its history with who acted, its reporter when named,
and its files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.admin import Reporter, reporter_of
from storage.models import Attachment, Person, Report, ReportEvent


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    action: str
    note: str
    to_status: str
    actor_person_id: int | None
    actor_name: str  # "" when no person acted (or the person is gone)


async def timeline(session: AsyncSession, report_id: int) -> list[TimelineEvent]:
    """Every event of the case, oldest first, with the acting person's name."""
    rows = await session.execute(
        select(ReportEvent, Person.display_name)
        .join(Person, col(Person.id) == col(ReportEvent.actor_person_id), isouter=True)
        .where(ReportEvent.report_id == report_id)
        .order_by(col(ReportEvent.at), col(ReportEvent.id))
    )
    return [
        TimelineEvent(e.at, e.action, e.note, e.to_status, e.actor_person_id, name or "")
        for e, name in rows.all()
    ]


async def named_reporter(session: AsyncSession, report_id: int) -> Reporter | None:
    """Who sent the report. Only for a reporter who chose to be named: the caller checks."""
    report = await session.get(Report, report_id)
    return await reporter_of(session, report) if report is not None else None


async def case_attachment(
    session: AsyncSession, report_id: int, attachment_id: int
) -> Attachment | None:
    """The attachment, when it belongs to this case."""
    attachment = await session.get(Attachment, attachment_id)
    return attachment if attachment is not None and attachment.report_id == report_id else None
