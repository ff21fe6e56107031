"""The nudge ledger, and what the reminder jobs read: open cases, idle report drafts, and
resolved cases waiting to close themselves.

Every reminder the jobs send is recorded under (subject, kind, bucket), unique, so none repeats
within its interval, whichever run or process sends it first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.casework import Status
from storage.digests import OPEN
from storage.models import Conversation, Nudge, Report


async def record_nudge(session: AsyncSession, subject: str, kind: str, bucket: str) -> bool:
    """True when this nudge is new; False when it was already sent for this interval. A
    savepoint keeps the caller's transaction usable after a duplicate."""
    try:
        async with session.begin_nested():
            session.add(Nudge(subject=subject, kind=kind, bucket=bucket))
            await session.flush()
    except IntegrityError:
        return False
    return True


async def open_cases(session: AsyncSession) -> list[Report]:
    return list(
        (await session.execute(select(Report).where(col(Report.status).in_(OPEN)))).scalars()
    )


async def resolved_before(session: AsyncSession, cutoff: datetime) -> list[int]:
    """Resolved cases whose reporter has not confirmed since `cutoff`: they close themselves."""
    stmt = select(Report.id).where(
        Report.status == Status.RESOLVED.value, col(Report.resolved_at) < cutoff
    )
    return [i for i in (await session.execute(stmt)).scalars() if i is not None]


async def idle_conversations(session: AsyncSession, before: datetime) -> list[Conversation]:
    stmt = select(Conversation).where(col(Conversation.updated_at) < before)
    return list((await session.execute(stmt)).scalars())


def drop_report_draft(session: AsyncSession, conv: Conversation) -> None:
    """Forget an abandoned report draft (and leave the report flow), as a new version."""
    state = dict(conv.state)
    state["forms"] = {k: v for k, v in state["forms"].items() if k != "report"}
    if state.get("flow") == "report":
        state.pop("flow")
    conv.state = state
    conv.version += 1
    session.add(conv)
