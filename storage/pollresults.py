"""Results of a round and situation-report compliance, computed from the rows themselves.

Rates come from the invitations; distributions from the responses. An anonymous round's rows
carry no person, so nothing here can name who answered what.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Float, cast, func, literal
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.polldefs import PollDef, QuestionType, pick
from storage.models import OrgUnit, Person, PollInvite, PollResponse, PollRound


@dataclass
class QuestionResult:
    id: str
    type: QuestionType
    text: dict[str, str]
    answered: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # option value (or 1-5) -> answers
    mean: float | None = None  # scale and number questions
    texts: list[str] = field(default_factory=list)  # the first N free-text answers
    all_texts: list[str] = field(default_factory=list)  # every one, for their themes


@dataclass
class UnitRate:
    code: str
    name: str
    invited: int
    responded: int


@dataclass
class RoundResults:
    round_id: int
    number: int
    period: str
    definition: PollDef
    invited: int
    responded: int
    units: list[UnitRate]
    questions: list[QuestionResult]
    # An anonymous round's answers are published only in groups of at least this many
    # (the MIN_GROUP_SIZE setting; reports/polls.py applies it).
    min_group_size: int = 3

    @property
    def rate(self) -> float:
        return self.responded / self.invited if self.invited else 0.0


async def response_rate(session: AsyncSession, round_id: int) -> tuple[int, int]:
    """(invited, responded) for a round: one invitation per person, so nobody counts twice."""
    stmt = select(func.count(), func.count(col(PollInvite.responded_at))).where(
        PollInvite.round_id == round_id
    )
    invited, responded = (await session.execute(stmt)).one()
    return int(invited), int(responded)


async def unit_rates(session: AsyncSession, round_id: int) -> list[UnitRate]:
    stmt = (
        select(
            OrgUnit.code,
            OrgUnit.name,
            func.count(col(PollInvite.id)),
            func.count(col(PollInvite.responded_at)),
        )
        .join(OrgUnit, col(OrgUnit.id) == col(PollInvite.unit_id))
        .where(PollInvite.round_id == round_id)
        .group_by(OrgUnit.code, OrgUnit.name)
        .order_by(OrgUnit.code)
    )
    return [UnitRate(c, n, int(i), int(r)) for c, n, i, r in (await session.execute(stmt)).all()]


async def round_results(
    session: AsyncSession, round_id: int, min_group_size: int = 3
) -> RoundResults:
    rnd = await session.get(PollRound, round_id)
    if rnd is None:
        raise LookupError(round_id)
    defn = PollDef.model_validate(rnd.definition)
    invited, responded = await response_rate(session, round_id)
    results = [QuestionResult(q.id, q.type, q.text) for q in defn.questions]
    dialect = session.get_bind().dialect.name
    await _tally(session, round_id, results)
    for r in results:
        if r.type in (QuestionType.SINGLE, QuestionType.SCALE):
            r.counts = await _counts(session, _answered(round_id, r.id))
        elif r.type == QuestionType.MULTI:
            r.counts = await _counts(session, _chosen(round_id, r.id, dialect))
        elif r.type == QuestionType.TEXT:
            r.all_texts = [str(v) for v in await _texts(session, round_id, r.id)]
            r.texts = r.all_texts[: defn.free_text_shown]
    return RoundResults(
        round_id=round_id,
        number=rnd.number,
        period=rnd.period,
        definition=defn,
        invited=invited,
        responded=responded,
        units=await unit_rates(session, round_id),
        questions=results,
        min_group_size=min_group_size,
    )


# Counted by the database, not by reading every response into Python: the answers of a round of
# 100,000 are summed in a few passes over their JSON (#16: results in under a second).
def _answer(question_id: str) -> Any:
    """A response's answer to one question as text (NULL when not given)."""
    return col(PollResponse.answers)[question_id].as_string()


async def _tally(session: AsyncSession, round_id: int, results: list[QuestionResult]) -> None:
    """How many answered each question, and the mean of each scale or number."""
    numeric = [r for r in results if r.type in (QuestionType.SCALE, QuestionType.NUMBER)]
    row = (
        await session.execute(
            select(
                *[func.count(_answer(r.id)) for r in results],
                *[func.avg(cast(_answer(r.id), Float)) for r in numeric],
            ).where(PollResponse.round_id == round_id)
        )
    ).one()
    for r, answered in zip(results, row[: len(results)], strict=True):
        r.answered = int(answered)
    for r, average in zip(numeric, row[len(results) :], strict=True):
        r.mean = float(average) if r.answered and average is not None else None


def _answered(round_id: int, question_id: str) -> Any:
    """(answer, order of first appearance) of one question's given answers."""
    # Not given (NULL) is dropped by _counts: a WHERE here would extract every answer twice.
    return select(_answer(question_id).label("value"), col(PollResponse.id).label("seen")).where(
        PollResponse.round_id == round_id
    )


def _chosen(round_id: int, question_id: str, dialect: str) -> Any:
    """(option, order of first appearance) for every option picked in a multiple choice."""
    picked = col(PollResponse.answers)[question_id]
    if dialect == "postgresql":
        items = func.json_array_elements_text(picked).table_valued("value", with_ordinality="n")
        where: list[Any] = [func.json_typeof(picked) == "array"]
        position = items.c.n
    else:
        items = func.json_each(col(PollResponse.answers), f'$."{question_id}"').table_valued(
            "value", "key"
        )
        where, position = [], items.c.key
    seen = col(PollResponse.id) * 100_000 + position  # response first, then place in it
    return (
        select(items.c.value.label("value"), seen.label("seen"))
        .select_from(PollResponse)
        .join(items, literal(True))
        .where(PollResponse.round_id == round_id, *where)
    )


async def _counts(session: AsyncSession, answers: Any) -> dict[str, int]:
    """Answers counted by value, in the order each value first appeared (as Python would)."""
    sub = answers.subquery()
    rows = await session.execute(
        select(sub.c.value, func.count(), func.min(sub.c.seen))
        .where(sub.c.value.is_not(None))
        .group_by(sub.c.value)
        .order_by(func.min(sub.c.seen))
    )
    # str(): SQLite hands JSON numbers back as numbers, PostgreSQL as text; both as Python would.
    return {str(value): int(n) for value, n, _ in rows.all()}


async def _texts(session: AsyncSession, round_id: int, question_id: str) -> list[Any]:
    rows = await session.execute(
        select(_answer(question_id))
        .where(PollResponse.round_id == round_id)
        .order_by(col(PollResponse.id))
    )
    return [value for value in rows.scalars() if value is not None]


class TooFewAnswers(Exception):
    """An anonymous round with fewer responses than the smallest group published: each row
    would be one of a handful of known respondents' answers."""


async def response_table(
    session: AsyncSession, round_id: int, locale: str, tz: tzinfo = UTC, min_group_size: int = 3
) -> tuple[list[str], Iterator[list[Any]]]:
    """Header and rows for an export: one row per response, one column per question. Named
    rounds add who, which unit and when, in `tz` (people read it); anonymous ones add nothing,
    and are exported only once at least `min_group_size` people have answered."""
    rnd = await session.get(PollRound, round_id)
    if rnd is None:
        raise LookupError(round_id)
    defn = PollDef.model_validate(rnd.definition)
    named = not defn.anonymous
    if not named and (await response_rate(session, round_id))[1] < min_group_size:
        raise TooFewAnswers(min_group_size)
    header = (["name", "unit", "submitted_at"] if named else []) + [q.id for q in defn.questions]
    stmt = (
        select(PollResponse, Person.display_name, OrgUnit.code)
        .outerjoin(Person, col(Person.id) == col(PollResponse.person_id))
        .outerjoin(OrgUnit, col(OrgUnit.id) == col(PollResponse.unit_id))
        .where(PollResponse.round_id == round_id)
        .order_by(col(PollResponse.id))
    )
    rows = (await session.execute(stmt)).all()

    def cell(q_type: QuestionType, value: Any, q_options: dict[str, str]) -> Any:
        if value is None:
            return ""
        if q_type == QuestionType.MULTI:
            return "; ".join(q_options.get(str(v), str(v)) for v in value)
        if q_type == QuestionType.SINGLE:
            return q_options.get(str(value), str(value))
        return value

    options = {q.id: {o.value: pick(o.text, locale) for o in q.options} for q in defn.questions}

    def generate() -> Iterator[list[Any]]:
        for response, name, unit in rows:
            who = (
                [name or "", unit or "", response.submitted_at.astimezone(tz).isoformat()]
                if named
                else []
            )
            yield who + [
                cell(q.type, response.answers.get(q.id), options[q.id]) for q in defn.questions
            ]

    return header, generate()


# -- situation-report compliance -------------------------------------------------------------------
@dataclass
class UnitCompliance:
    code: str
    name: str
    status: str  # on_time | late | missing
    filed_at: datetime | None
    contact_points: int


@dataclass
class Compliance:
    period: str
    due_at: datetime
    units: list[UnitCompliance]

    def count(self, status: str) -> int:
        return sum(1 for u in self.units if u.status == status)

    @property
    def expected(self) -> int:
        return len(self.units)

    @property
    def received(self) -> int:
        return self.count("on_time") + self.count("late")


async def expected_units(session: AsyncSession, defn: PollDef) -> list[OrgUnit]:
    stmt = select(OrgUnit).order_by(col(OrgUnit.code))
    if defn.audience.units:
        stmt = stmt.where(col(OrgUnit.code).in_(defn.audience.units))
    if defn.audience.unit_kinds:
        stmt = stmt.where(col(OrgUnit.host_kind).in_(defn.audience.unit_kinds))
    return list((await session.execute(stmt)).scalars())


async def compliance(session: AsyncSession, round_id: int) -> Compliance:
    """Every unit the report is expected from, with its first filing time judged against the
    due time. A unit with no contact point registered is missing, and shown as such."""
    rnd = await session.get(PollRound, round_id)
    if rnd is None:
        raise LookupError(round_id)
    defn = PollDef.model_validate(rnd.definition)
    due = rnd.due_at
    stmt = (
        select(
            PollInvite.unit_id, func.count(col(PollInvite.id)), func.min(PollInvite.responded_at)
        )
        .where(PollInvite.round_id == round_id)
        .group_by(col(PollInvite.unit_id))
    )
    per_unit = {uid: (int(n), first) for uid, n, first in (await session.execute(stmt)).all()}
    units = []
    for unit in await expected_units(session, defn):
        contacts, first = per_unit.get(unit.id, (0, None))
        filed = first
        status = "missing" if filed is None else ("on_time" if filed <= due else "late")
        units.append(UnitCompliance(unit.code, unit.name, status, filed, contacts))
    return Compliance(rnd.period, due, units)


async def late_units(session: AsyncSession, round_id: int) -> set[int]:
    """Units none of whose contact points has filed yet."""
    stmt = select(PollInvite.unit_id, PollInvite.responded_at).where(
        PollInvite.round_id == round_id
    )
    rows = (await session.execute(stmt)).all()
    filed = {uid for uid, at in rows if at is not None}
    return {uid for uid, _ in rows if uid is not None and uid not in filed}


async def units_missing(
    session: AsyncSession, defn: PollDef, round_id: int, late: set[int]
) -> list[OrgUnit]:
    """Expected units that have not filed: late ones, and ones with no contact point at all."""
    stmt = select(PollInvite.unit_id).where(PollInvite.round_id == round_id)
    invited = set((await session.execute(stmt)).scalars())
    return [u for u in await expected_units(session, defn) if u.id in late or u.id not in invited]


# -- the monthly report ----------------------------------------------------------------------------
async def rounds_between(
    session: AsyncSession, kind: str, column: str, since: datetime, until: datetime
) -> list[PollRound]:
    """Rounds of one kind (poll, sitrep) whose `column` time falls in [since, until)."""
    at = getattr(PollRound, column)
    stmt = select(PollRound).where(col(at) >= since, col(at) < until).order_by(col(at))
    return [r for r in (await session.execute(stmt)).scalars() if r.definition.get("kind") == kind]


async def unit_host_kinds(session: AsyncSession) -> dict[str, str]:
    """Each unit's code and its kind of host."""
    return {c: k for c, k in (await session.execute(select(OrgUnit.code, OrgUnit.host_kind))).all()}
