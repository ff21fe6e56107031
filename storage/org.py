"""Units and departments as the web admin lists them, looks them up and compares imports."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Department, OrgUnit

# code -> the values an import may change, to tell new, updated and unchanged rows apart.
Snapshot = dict[str, tuple[object, ...]]


async def units_by_code(session: AsyncSession) -> list[OrgUnit]:
    return list((await session.execute(select(OrgUnit).order_by(col(OrgUnit.code)))).scalars())


async def units_by_name(session: AsyncSession) -> list[OrgUnit]:
    return list((await session.execute(select(OrgUnit).order_by(col(OrgUnit.name)))).scalars())


async def departments_by_code(session: AsyncSession) -> list[Department]:
    stmt = select(Department).order_by(col(Department.code))
    return list((await session.execute(stmt)).scalars())


async def departments_by_name(session: AsyncSession) -> list[Department]:
    stmt = select(Department).order_by(col(Department.name))
    return list((await session.execute(stmt)).scalars())


async def unit_with_code(session: AsyncSession, code: str) -> OrgUnit | None:
    if not code:
        return None
    stmt = select(OrgUnit).where(OrgUnit.code == code)
    return (await session.execute(stmt)).scalar_one_or_none()


async def department_with_code(session: AsyncSession, code: str) -> Department | None:
    if not code:
        return None
    stmt = select(Department).where(Department.code == code)
    return (await session.execute(stmt)).scalar_one_or_none()


async def unit_code(session: AsyncSession, unit_id: int | None) -> str:
    """The unit's code; "" for no unit (or one that is gone)."""
    unit = await session.get(OrgUnit, unit_id) if unit_id is not None else None
    return unit.code if unit else ""


async def department_code(session: AsyncSession, department_id: int | None) -> str:
    dept = await session.get(Department, department_id) if department_id is not None else None
    return dept.code if dept else ""


async def unit_snapshot(session: AsyncSession) -> Snapshot:
    units = list((await session.execute(select(OrgUnit))).scalars())
    code_of = {u.id: u.code for u in units}
    return {u.code: (u.name, u.kind, u.host_kind, code_of.get(u.parent_id)) for u in units}


async def department_snapshot(session: AsyncSession) -> Snapshot:
    depts = (await session.execute(select(Department))).scalars()
    return {d.code: (d.name, d.kind) for d in depts}
