"""People and their roles: a searchable list for staff; role, unit, department and the right to
reveal confidential reporters changed by admins. Nothing here says who sent which report."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from bot.admin.audited import change
from bot.admin.auth import redirect
from bot.admin.context import admin_of
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from handlers.i18n import N_
from handlers.org import ROLES
from storage import people as directory
from storage import webauth
from storage.db import Session
from storage.models import Department, OrgUnit, Person
from storage.org import (
    department_with_code,
    departments_by_name,
    unit_with_code,
    units_by_name,
)
from storage.people import Placement

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


def _page_number(raw: str) -> int:
    return int(raw) if raw.isdecimal() and 0 < int(raw) < 100_000 else 1


async def _choices(session: Session) -> tuple[list[OrgUnit], list[Department]]:
    return await units_by_name(session), await departments_by_name(session)


@requires(Permission.ORGANISATION)
async def people(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    q = request.query.get("q", "").strip()[:100]
    unit = request.query.get("unit", "")[:64]
    role = request.query.get("role", "")
    role = role if role in ROLES else ""
    page = _page_number(request.query.get("page", ""))
    async with admin.context.sessions() as session:
        rows = await directory.find_people(
            session, q, unit, role, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1
        )
        units = await units_by_name(session)
    return admin.pages.page(
        request,
        "people.html",
        people=rows[:PAGE_SIZE],
        values={"q": q, "unit": unit, "role": role},
        units=units,
        roles=ROLE_LABELS,
        page=page,
        more=len(rows) > PAGE_SIZE,
    )


async def _person(session: Session, request: web.Request) -> Person:
    raw = request.match_info["id"]
    valid = raw.isdecimal() and len(raw) < 12
    person = await directory.person(session, int(raw)) if valid else None
    if person is None:
        raise web.HTTPNotFound()
    return person


async def _person_page(
    request: web.Request, viewer: Viewer, error: str = "", status: int = 200
) -> web.Response:
    admin = admin_of(request)
    async with admin.context.sessions() as session:
        person = await _person(session, request)
        assert person.id is not None
        channels = (await directory.channels_of(session, [person.id])).get(person.id, [])
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
        unit = await unit_with_code(session, unit_code)
        dept = await department_with_code(session, dept_code)
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
        before = asdict(await directory.placement_of(session, person))
        directory.place(person, role, unit, dept, can_reveal)
        after = asdict(Placement(role, unit_code, dept_code, can_reveal))
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if changed:
            await done.log("person.update", f"#{person.id} {person.display_name}", **changed)
        if changed.keys() & {"role", "department"} or (before["can_reveal"] and not can_reveal):
            # Rights taken away must not live on in a browser that is already signed in.
            assert person.id is not None
            await webauth.end_sessions(session, person.id)
        return person.id


class _Refused(Exception):
    pass


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/people", people),
        web.get(r"/people/{id:\d+}", person_page),
        web.post(r"/people/{id:\d+}", update_person),
    ]
