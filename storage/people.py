"""People as the web admin lists, finds and places them (role, unit, department, reveal right).
Nothing here reads who sent which report."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.ports import PersonView
from storage.models import Department, Identity, OrgUnit, Person
from storage.org import department_code, unit_code
from storage.prebuilt import run


@dataclass(frozen=True)
class PersonRow:
    id: int
    name: str
    role: str
    unit: str  # the unit's name; "" for none
    department: str
    can_reveal: bool
    channels: list[str]


@dataclass(frozen=True)
class Placement:
    """Where a person stands: what an admin may change, by codes."""

    role: str
    unit: str  # unit code; "" for none
    department: str
    can_reveal: bool


# Who is talking, by their identity on a channel: asked on every inbound event, so built once.
_TALKING = (
    sa_select(
        col(Person.id),
        col(Person.display_name),
        col(Person.role),
        col(OrgUnit.code),
        col(Person.locale),
        col(Person.last_channel),
    )
    .join(Identity, col(Identity.person_id) == col(Person.id))
    .join(OrgUnit, col(OrgUnit.id) == col(Person.unit_id), isouter=True)
    .where(
        col(Identity.channel) == bindparam("channel"),
        col(Identity.external_id) == bindparam("external_id"),
    )
)


async def talking(session: AsyncSession, channel: str, external_id: str) -> PersonView | None:
    """The person behind an identity, as the core sees them; None for a stranger."""
    params = {"channel": channel, "external_id": external_id}
    row = (await run(session, _TALKING, params)).first()
    if row is None:
        return None
    return PersonView(
        id=row.id,
        display_name=row.display_name,
        role=row.role,
        unit_code=row.code,
        locale=row.locale,
        last_channel=row.last_channel,
    )


async def channels_of(session: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    """The channels each person has an identity on, by name."""
    rows = await session.execute(
        select(Identity.person_id, Identity.channel)
        .where(col(Identity.person_id).in_(ids))
        .order_by(col(Identity.channel))
    )
    out: dict[int, list[str]] = {}
    for person_id, channel in rows.all():
        out.setdefault(person_id, []).append(channel)
    return out


async def find_people(
    session: AsyncSession, q: str, unit: str, role: str, offset: int, limit: int
) -> list[PersonRow]:
    """People by name, filtered by a piece of their name, a unit code and a role ("" = any)."""
    stmt = (
        select(Person, OrgUnit.name, Department.name)
        .join(OrgUnit, col(OrgUnit.id) == col(Person.unit_id), isouter=True)
        .join(Department, col(Department.id) == col(Person.department_id), isouter=True)
    )
    if q:
        stmt = stmt.where(col(Person.display_name).ilike(f"%{q}%"))
    if unit:
        stmt = stmt.where(col(OrgUnit.code) == unit)
    if role:
        stmt = stmt.where(col(Person.role) == role)
    stmt = stmt.order_by(col(Person.display_name), col(Person.id)).offset(offset).limit(limit)
    rows = (await session.execute(stmt)).all()
    channels = await channels_of(session, [p.id for p, _u, _d in rows if p.id is not None])
    return [
        PersonRow(
            p.id, p.display_name, p.role, u or "", d or "", p.can_reveal, channels.get(p.id, [])
        )
        for p, u, d in rows
        if p.id is not None
    ]


async def person(session: AsyncSession, person_id: int) -> Person | None:
    return await session.get(Person, person_id)


async def placement_of(session: AsyncSession, who: Person) -> Placement:
    return Placement(
        who.role,
        await unit_code(session, who.unit_id),
        await department_code(session, who.department_id),
        who.can_reveal,
    )


def place(
    who: Person, role: str, unit: OrgUnit | None, dept: Department | None, can_reveal: bool
) -> None:
    """Change where the person stands; saved with the caller's transaction."""
    who.role = role
    who.unit_id = unit.id if unit else None
    who.department_id = dept.id if dept else None
    who.can_reveal = can_reveal
