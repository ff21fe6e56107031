"""People and their roles: a searchable list for staff; role, unit, department and the right to
reveal confidential reporters changed by admins. Nothing here says who sent which report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.admin.audited import change
from bot.admin.auth import redirect
from bot.admin.context import admin_of
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from handlers.i18n import N_
from handlers.org import ROLES
from storage import webauth
from storage.models import Department, Identity, OrgUnit, Person

PAGE_SIZE = 50
ROLE_LABELS = {
    "member": N_("Member"),
    "collaborator": N_("Collaborator"),
    "contact": N_("Contact point"),
    "secretary": N_("Unit secretary"),
    "staff": N_("Staff"),
    "leader": N_("Leader"),
    "admin": N_("Administrator"),
    "handler": N_("Department handler"),
}
assert set(ROLE_LABELS) == set(ROLES)


@dataclass(frozen=True)
class PersonRow:
    id: int
    name: str
    role: str
    unit: str
    department: str
    can_reveal: bool
    channels: list[str]


def _page_number(raw: str) -> int:
    return int(raw) if raw.isdecimal() and 0 < int(raw) < 100_000 else 1


async def _channels(session: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    rows = await session.execute(
        select(Identity.person_id, Identity.channel)
        .where(col(Identity.person_id).in_(ids))
        .order_by(col(Identity.channel))
    )
    out: dict[int, list[str]] = {}
    for person_id, channel in rows.all():
        out.setdefault(person_id, []).append(channel)
    return out


def _filtered(stmt: Any, q: str, unit: str, role: str) -> Any:
    if q:
        stmt = stmt.where(col(Person.display_name).ilike(f"%{q}%"))
    if unit:
        stmt = stmt.where(col(OrgUnit.code) == unit)
    if role:
        stmt = stmt.where(col(Person.role) == role)
    return stmt


async def _choices(session: AsyncSession) -> tuple[list[OrgUnit], list[Department]]:
    units = list((await session.execute(select(OrgUnit).order_by(col(OrgUnit.name)))).scalars())
    depts = list(
        (await session.execute(select(Department).order_by(col(Department.name)))).scalars()
    )
    return units, depts


@requires(Permission.ORGANISATION)
async def people(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    q = request.query.get("q", "").strip()[:100]
    unit = request.query.get("unit", "")[:64]
    role = request.query.get("role", "")
    role = role if role in ROLES else ""
    page = _page_number(request.query.get("page", ""))
    base = (
        select(Person, OrgUnit.name, Department.name)
        .join(OrgUnit, col(OrgUnit.id) == col(Person.unit_id), isouter=True)
        .join(Department, col(Department.id) == col(Person.department_id), isouter=True)
    )
    async with admin.core.sessions() as session:
        stmt = _filtered(base, q, unit, role)
        rows = (
            await session.execute(
                stmt.order_by(col(Person.display_name), col(Person.id))
                .offset((page - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE + 1)
            )
        ).all()
        channels = await _channels(session, [p.id for p, _u, _d in rows])
        units, _depts = await _choices(session)
    found = [
        PersonRow(
            p.id, p.display_name, p.role, u or "", d or "", p.can_reveal, channels.get(p.id, [])
        )
        for p, u, d in rows[:PAGE_SIZE]
    ]
    return admin.pages.page(
        request,
        "people.html",
        people=found,
        values={"q": q, "unit": unit, "role": role},
        units=units,
        roles=ROLE_LABELS,
        page=page,
        more=len(rows) > PAGE_SIZE,
    )


async def _person(session: AsyncSession, request: web.Request) -> Person:
    raw = request.match_info["id"]
    person = await session.get(Person, int(raw)) if raw.isdecimal() and len(raw) < 12 else None
    if person is None:
        raise web.HTTPNotFound()
    return person


async def _person_page(
    request: web.Request, viewer: Viewer, error: str = "", status: int = 200
) -> web.Response:
    admin = admin_of(request)
    async with admin.core.sessions() as session:
        person = await _person(session, request)
        assert person.id is not None
        channels = (await _channels(session, [person.id])).get(person.id, [])
        units, depts = await _choices(session)
    return admin.pages.page(
        request,
        "person.html",
        status,
        person=person,
        channels=channels,
        units=units,
        departments=depts,
        roles=ROLE_LABELS,
        error=error,
        saved=request.query.get("saved") == "1",
        may_change=viewer.may(Permission.ADMINISTER),
    )


@requires(Permission.ORGANISATION)
async def person_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _person_page(request, viewer)


async def _by_code(
    session: AsyncSession, model: type[OrgUnit] | type[Department], code: str
) -> Any:
    if not code:
        return None
    return (await session.execute(select(model).where(model.code == code))).scalar_one_or_none()


@requires(Permission.ADMINISTER)
async def update_person(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    role = str(form.get("role", ""))
    unit_code = str(form.get("unit", ""))[:64]
    dept_code = str(form.get("department", ""))[:32]
    can_reveal = form.get("can_reveal") == "1"
    if role not in ROLES:
        t = request[TRANSLATOR]
        return await _person_page(request, viewer, t("Choose a role from the list."), 400)
    try:
        person_id = await _apply(request, viewer, role, unit_code, dept_code, can_reveal)
    except _Refused as refused:
        return await _person_page(request, viewer, str(refused), 400)
    return redirect(f"/admin/people/{person_id}?saved=1")


async def _apply(
    request: web.Request,
    viewer: Viewer,
    role: str,
    unit_code: str,
    dept_code: str,
    can_reveal: bool,
) -> int | None:
    """The change and its audit entry in one transaction; _Refused rolls both back."""
    t = request[TRANSLATOR]
    async with change(request, viewer) as done:
        session = done.session
        person = await _person(session, request)
        unit = await _by_code(session, OrgUnit, unit_code)
        dept = await _by_code(session, Department, dept_code)
        problem = ""
        if (unit_code and unit is None) or (dept_code and dept is None):
            problem = t("That unit or department no longer exists. Reload the page.")
        elif role == "handler" and dept is None:
            problem = t("A department handler needs a department.")
        elif person.id == viewer.person_id and role != person.role:
            problem = t("You cannot change your own role; ask another administrator.")
        elif person.id == viewer.person_id and can_reveal and not person.can_reveal:
            # Reveal rights expose hidden reporters: always a second admin's decision.
            problem = t(
                "You cannot give yourself the right to reveal reporters; ask another administrator."
            )
        if problem:
            raise _Refused(problem)
        before = {
            "role": person.role,
            "unit": await _code_of(session, OrgUnit, person.unit_id),
            "department": await _code_of(session, Department, person.department_id),
            "can_reveal": person.can_reveal,
        }
        person.role = role
        person.unit_id = unit.id if unit else None
        person.department_id = dept.id if dept else None
        person.can_reveal = can_reveal
        after = {"role": role, "unit": unit_code, "department": dept_code, "can_reveal": can_reveal}
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if changed:
            await done.log("person.update", f"#{person.id} {person.display_name}", **changed)
        if changed.keys() & {"role", "department"} or (before["can_reveal"] and not can_reveal):
            # Rights taken away must not live on in a browser that is already signed in.
            assert person.id is not None
            await webauth.end_sessions(session, person.id)
        return person.id


async def _code_of(
    session: AsyncSession, model: type[OrgUnit] | type[Department], id_: int | None
) -> str:
    row: Any = await session.get(model, id_) if id_ is not None else None
    return str(row.code) if row else ""


class _Refused(Exception):
    pass


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/people", people),
        web.get(r"/people/{id:\d+}", person_page),
        web.post(r"/people/{id:\d+}", update_person),
    ]
