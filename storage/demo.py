"""The demo organisation (`grassroots serve --demo`): loaded into an empty database only, with a
web administrator the operator can sign in as at once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.admin import create_invite
from storage.deptimport import import_departments
from storage.models import OrgUnit, Person
from storage.orgimport import import_units
from storage.webauth import issue_login_token


@dataclass(frozen=True)
class DemoSeeded:
    units: int
    member_invite: str  # for the demo's unit U007
    staff_invite: str


async def seed_demo(
    session: AsyncSession, units_csv: bytes, departments_csv: bytes
) -> DemoSeeded | None:
    """Load the demo's units and departments and two invites; None if units exist already."""
    count = (await session.execute(select(func.count()).select_from(OrgUnit))).scalar_one()
    if count:
        return None
    units = await import_units(session, units_csv)
    if not units.ok:
        raise RuntimeError("demo units are invalid: " + "; ".join(units.errors))
    departments = await import_departments(session, departments_csv)
    if not departments.ok:
        raise RuntimeError("demo departments are invalid: " + "; ".join(departments.errors))
    staff = await create_invite(session, "staff", None, 5)
    member = await create_invite(session, "member", "U007", 50)
    return DemoSeeded(units.created, member.code, staff.code)


async def demo_admin_token(session: AsyncSession, name: str, valid_minutes: int) -> str:
    """A one-time sign-in token for the demo's administrator, created on first use."""
    stmt = select(Person).where(col(Person.display_name) == name, col(Person.role) == "admin")
    person = (await session.execute(stmt)).scalars().first()
    if person is None:
        person = Person(display_name=name, role="admin", can_reveal=True)
        session.add(person)
        await session.flush()
    assert person.id is not None
    return await issue_login_token(session, person.id, valid_minutes)
