"""Polls and situation reports in the database: definitions, rounds, invitations, responses.

Response rates come from the invitations (one row per person and round), never from counting
responses, so a round that is re-sent or restarted cannot count anyone twice, and anonymous
responses need no link to the person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.polldefs import PollDef
from handlers.ports import PersonView, PollRoundView, PollTodo
from storage.models import (
    Identity,
    OrgUnit,
    Person,
    Poll,
    PollInvite,
    PollResponse,
    PollRound,
    Report,
    utcnow,
)


def round_view(rnd: PollRound, poll: Poll) -> PollRoundView:
    assert rnd.id is not None
    return PollRoundView(
        id=rnd.id,
        poll_key=poll.key,
        kind=poll.kind,
        number=rnd.number,
        period=rnd.period,
        definition=rnd.definition,
        opens_at=rnd.opens_at,
        due_at=rnd.due_at,
        closes_at=rnd.closes_at,
        status=rnd.status,
    )


# -- definitions -----------------------------------------------------------------------------------
async def import_poll(session: AsyncSession, defn: PollDef) -> tuple[Poll, str]:
    """Create or update a poll by its id. Returns the row and "created", "updated" or
    "unchanged"; importing the same file twice changes nothing."""
    data = defn.model_dump(mode="json")
    poll = (await session.execute(select(Poll).where(Poll.key == defn.id))).scalar_one_or_none()
    if poll is None:
        poll = Poll(key=defn.id, kind=defn.kind, definition=data)
        session.add(poll)
        await session.flush()
        return poll, "created"
    if poll.definition == data and poll.active:
        return poll, "unchanged"
    poll.definition = data
    poll.kind = defn.kind
    poll.version += 1
    poll.active = True
    poll.updated_at = utcnow()
    session.add(poll)
    await session.flush()
    return poll, "updated"


async def find_poll(session: AsyncSession, key: str) -> Poll | None:
    return (await session.execute(select(Poll).where(Poll.key == key))).scalar_one_or_none()


async def all_polls(session: AsyncSession) -> list[Poll]:
    return list((await session.execute(select(Poll).order_by(col(Poll.id)))).scalars())


async def rounds_of(session: AsyncSession, poll_id: int) -> list[PollRound]:
    stmt = select(PollRound).where(PollRound.poll_id == poll_id).order_by(col(PollRound.number))
    return list((await session.execute(stmt)).scalars())


# -- rounds and invitations ------------------------------------------------------------------------
async def create_round(
    session: AsyncSession,
    poll: Poll,
    period: str,
    opens_at: datetime,
    due_at: datetime,
    closes_at: datetime,
) -> PollRound | None:
    """The round for this period, or None when it exists already (a second run is a no-op)."""
    assert poll.id is not None
    exists = (
        await session.execute(
            select(PollRound.id).where(PollRound.poll_id == poll.id, PollRound.period == period)
        )
    ).scalar_one_or_none()
    if exists is not None:
        return None
    number = (
        await session.execute(
            select(func.coalesce(func.max(PollRound.number), 0)).where(PollRound.poll_id == poll.id)
        )
    ).scalar_one() + 1
    rnd = PollRound(
        poll_id=poll.id,
        number=number,
        period=period,
        poll_version=poll.version,
        definition=poll.definition,
        opens_at=opens_at,
        due_at=due_at,
        closes_at=closes_at,
    )
    try:
        # A savepoint: when two instances open the same round at once (a leader handing over
        # mid-run), the later one finds the unique (poll, period) taken and does nothing.
        async with session.begin_nested():
            session.add(rnd)
            await session.flush()
    except IntegrityError:
        return None
    return rnd


@dataclass(frozen=True)
class Recipient:
    person_id: int
    unit_id: int | None
    channel: str
    chat_id: str
    locale: str


async def audience(session: AsyncSession, defn: PollDef) -> list[tuple[int, int | None]]:
    """(person id, unit id) of everyone the definition's audience names."""
    stmt = select(Person.id, Person.unit_id).where(col(Person.role).in_(defn.audience.roles))
    if defn.audience.units or defn.audience.unit_kinds:
        stmt = stmt.join(OrgUnit, col(OrgUnit.id) == col(Person.unit_id))
        if defn.audience.units:
            stmt = stmt.where(col(OrgUnit.code).in_(defn.audience.units))
        if defn.audience.unit_kinds:
            stmt = stmt.where(col(OrgUnit.host_kind).in_(defn.audience.unit_kinds))
    rows = (await session.execute(stmt.order_by(col(Person.id)))).all()
    return [(int(pid), uid) for pid, uid in rows]


async def invite_all(
    session: AsyncSession, round_id: int, people: Sequence[tuple[int, int | None]]
) -> None:
    """One invitation row per person, as plain inserts: thousands of ORM objects would keep the
    round's transaction, and so the database's write lock, open for seconds."""
    now = utcnow()
    table = PollInvite.__table__  # type: ignore[attr-defined]
    for start in range(0, len(people), 1000):
        await session.execute(
            insert(table),
            [
                {"round_id": round_id, "person_id": pid, "unit_id": uid, "invited_at": now}
                for pid, uid in people[start : start + 1000]
            ],
        )


async def recipients(session: AsyncSession, person_ids: Sequence[int]) -> list[Recipient]:
    """Where to reach each person: the messenger they last used, else any they have."""
    out: list[Recipient] = []
    for start in range(0, len(person_ids), 500):
        chunk = list(person_ids[start : start + 500])
        people = {
            p.id: p
            for p in (
                await session.execute(select(Person).where(col(Person.id).in_(chunk)))
            ).scalars()
        }
        idents: dict[int, list[Identity]] = {}
        for ident in (
            await session.execute(select(Identity).where(col(Identity.person_id).in_(chunk)))
        ).scalars():
            idents.setdefault(ident.person_id, []).append(ident)
        for pid in chunk:
            person, mine = people.get(pid), idents.get(pid)
            if person is None or not mine:
                continue
            ident = next((i for i in mine if i.channel == person.last_channel), mine[0])
            out.append(
                Recipient(pid, person.unit_id, ident.channel, ident.external_id, person.locale)
            )
    return out


async def non_responders(session: AsyncSession, round_id: int) -> list[int]:
    stmt = select(PollInvite.person_id).where(
        PollInvite.round_id == round_id, col(PollInvite.responded_at).is_(None)
    )
    return [int(p) for p in (await session.execute(stmt)).scalars()]


# -- the Store methods the core calls --------------------------------------------------------------
class PollStore:
    """Mixed into SqlStore: the poll half of the core's Store protocol."""

    session: AsyncSession

    async def poll_round(self, round_id: int) -> PollRoundView | None:
        row = (
            await self.session.execute(
                select(PollRound, Poll)
                .join(Poll, col(Poll.id) == col(PollRound.poll_id))
                .where(PollRound.id == round_id)
            )
        ).first()
        return round_view(row[0], row[1]) if row else None

    async def poll_todo(self, person_id: int) -> list[PollTodo]:
        stmt = (
            select(PollRound, Poll, PollInvite.responded_at)
            .join(Poll, col(Poll.id) == col(PollRound.poll_id))
            .join(PollInvite, col(PollInvite.round_id) == col(PollRound.id))
            .where(PollInvite.person_id == person_id, PollRound.status == "open")
            .order_by(col(PollRound.closes_at))
        )
        return [
            PollTodo(round_view(rnd, poll), responded is not None)
            for rnd, poll, responded in (await self.session.execute(stmt)).all()
        ]

    async def invited(self, round_id: int, person_id: int) -> bool:
        stmt = select(PollInvite.id).where(
            PollInvite.round_id == round_id, PollInvite.person_id == person_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def named_response(self, round_id: int, person_id: int) -> dict[str, Any] | None:
        stmt = select(PollResponse.answers).where(
            PollResponse.round_id == round_id, PollResponse.person_id == person_id
        )
        answers = (await self.session.execute(stmt)).scalar_one_or_none()
        return dict(answers) if answers is not None else None

    async def save_poll_response(
        self, round_id: int, person: PersonView, answers: dict[str, Any], response_id: int | None
    ) -> int:
        rnd = await self.session.get(PollRound, round_id)
        assert rnd is not None
        anonymous = bool(rnd.definition.get("anonymous"))
        now = utcnow()
        row: PollResponse | None = None
        if anonymous and response_id is not None:
            row = await self.session.get(PollResponse, response_id)
            if row is not None and row.round_id != round_id:
                row = None
        elif not anonymous:
            row = (
                await self.session.execute(
                    select(PollResponse).where(
                        PollResponse.round_id == round_id, PollResponse.person_id == person.id
                    )
                )
            ).scalar_one_or_none()
        if row is None:
            unit_id = None
            if not anonymous:
                unit_id = (
                    await self.session.execute(
                        select(PollInvite.unit_id).where(
                            PollInvite.round_id == round_id, PollInvite.person_id == person.id
                        )
                    )
                ).scalar_one_or_none()
            row = PollResponse(
                round_id=round_id,
                person_id=None if anonymous else person.id,
                unit_id=unit_id,
                answers=answers,
            )
        else:
            row.answers = answers
            row.updated_at = now
        self.session.add(row)
        # The first response sets the mark; a changed answer keeps the original time, which is
        # what "on time" is judged by.
        await self.session.execute(
            update(PollInvite)
            .where(
                col(PollInvite.round_id) == round_id,
                col(PollInvite.person_id) == person.id,
                col(PollInvite.responded_at).is_(None),
            )
            .values(responded_at=now)
        )
        await self.session.flush()
        assert row.id is not None
        return row.id

    async def link_case_to_response(self, report_id: int, response_id: int) -> None:
        await self.session.execute(
            update(Report).where(col(Report.id) == report_id).values(poll_response_id=response_id)
        )


# -- what the polls job reads and claims -----------------------------------------------------------
async def active_polls(session: AsyncSession) -> list[Poll]:
    return list((await session.execute(select(Poll).where(col(Poll.active)))).scalars())


async def open_rounds(session: AsyncSession) -> list[PollRound]:
    stmt = select(PollRound).where(PollRound.status == "open")
    return list((await session.execute(stmt)).scalars())


async def open_rounds_by_closing(session: AsyncSession) -> list[PollRound]:
    stmt = select(PollRound).where(PollRound.status == "open").order_by(col(PollRound.closes_at))
    return list((await session.execute(stmt)).scalars())


async def invited_people(session: AsyncSession, round_id: int) -> set[int]:
    stmt = select(PollInvite.person_id).where(PollInvite.round_id == round_id)
    return set((await session.execute(stmt)).scalars())


async def invited_units(session: AsyncSession, round_id: int) -> dict[int, int | None]:
    """Each invited person's unit."""
    stmt = select(PollInvite.person_id, PollInvite.unit_id).where(PollInvite.round_id == round_id)
    return {pid: uid for pid, uid in (await session.execute(stmt)).all()}


async def secretaries_of(session: AsyncSession, unit_id: int) -> list[int]:
    stmt = select(Person.id).where(Person.role == "secretary", Person.unit_id == unit_id)
    return [pid for pid in (await session.execute(stmt)).scalars() if pid is not None]


async def claim_closing(session: AsyncSession, round_id: int, at: datetime) -> bool:
    """Mark an open round closed; False when another run closed it first."""
    claimed = await session.execute(
        update(PollRound)
        .where(col(PollRound.id) == round_id, col(PollRound.status) == "open")
        .values(status="closed", results_sent_at=at)
    )
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
