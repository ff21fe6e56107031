"""Hooks for the parts of the monthly report whose data is still being built: polls and
situation reports. Each returns nothing until its tables land; the report then says so in
the reader's language. Fill them in (with GROUP BY queries over the month) when they do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class PollHighlight:
    title: str
    responses: int
    invited: int
    top_answer: str  # the most chosen answer, as its label


@dataclass(frozen=True)
class SitrepCompliance:
    host_kind: str  # one of handlers.org.HOST_KINDS
    due: int
    on_time: int
    late: int


async def poll_highlights(
    session: AsyncSession, since: datetime, until: datetime
) -> list[PollHighlight]:
    """Polls that closed in [since, until), with their response rates. Polls are not built yet."""
    return []


async def sitrep_compliance(
    session: AsyncSession, since: datetime, until: datetime
) -> list[SitrepCompliance]:
    """Situation reports due in [since, until), per kind of unit. Not built yet."""
    return []
