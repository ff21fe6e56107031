"""The monthly report's poll and situation-report sections, from the same tables and result
functions the leaders' chat messages use."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.polldefs import QuestionType, pick
from storage.models import OrgUnit, PollRound
from storage.pollresults import compliance, round_results


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


async def _rounds(
    session: AsyncSession, kind: str, column: str, since: datetime, until: datetime
) -> list[PollRound]:
    at = getattr(PollRound, column)
    stmt = select(PollRound).where(col(at) >= since, col(at) < until).order_by(col(at))
    return [r for r in (await session.execute(stmt)).scalars() if r.definition.get("kind") == kind]


async def poll_highlights(
    session: AsyncSession, since: datetime, until: datetime, locale: str = "vi"
) -> list[PollHighlight]:
    """Poll rounds that closed in [since, until), with their response rates and the most
    chosen answer of their first choice question."""
    out = []
    for rnd in await _rounds(session, "poll", "closes_at", since, until):
        assert rnd.id is not None
        results = await round_results(session, rnd.id)
        top = ""
        for q in results.questions:
            question = results.definition.question(q.id)
            if question is None or q.type not in (QuestionType.SINGLE, QuestionType.MULTI):
                continue
            if q.counts:
                value, n = Counter(q.counts).most_common(1)[0]
                option = question.option(value)
                label = pick(option.text, locale) if option else value
                top = f"{pick(question.text, locale)}: {label} ({n})"
            break
        out.append(
            PollHighlight(
                pick(results.definition.title, locale), results.responded, results.invited, top
            )
        )
    return out


async def sitrep_compliance(
    session: AsyncSession, since: datetime, until: datetime
) -> list[SitrepCompliance]:
    """Situation reports due in [since, until), per kind of unit."""
    kinds = dict((await session.execute(select(OrgUnit.code, OrgUnit.host_kind))).all())
    table: dict[str, list[int]] = {}
    for rnd in await _rounds(session, "sitrep", "due_at", since, until):
        assert rnd.id is not None
        for unit in (await compliance(session, rnd.id)).units:
            row = table.setdefault(kinds.get(unit.code, ""), [0, 0, 0])
            row[0] += 1
            row[1] += unit.status == "on_time"
            row[2] += unit.status == "late"
    return [SitrepCompliance(kind, *counts) for kind, counts in sorted(table.items())]
