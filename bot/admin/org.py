"""Units and departments: lists for staff, CSV imports (preview, then confirm) for admins."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.admin import csvimport
from bot.admin.context import admin_of
from bot.admin.permissions import Permission, Viewer, requires
from handlers.i18n import N_
from storage.deptimport import import_departments
from storage.models import Department, OrgUnit
from storage.orgimport import import_units


async def _unit_snapshot(session: AsyncSession) -> dict[str, tuple[object, ...]]:
    units = list((await session.execute(select(OrgUnit))).scalars())
    code_of = {u.id: u.code for u in units}
    return {u.code: (u.name, u.kind, u.host_kind, code_of.get(u.parent_id)) for u in units}


async def _department_snapshot(session: AsyncSession) -> dict[str, tuple[object, ...]]:
    depts = (await session.execute(select(Department))).scalars()
    return {d.code: (d.name, d.kind) for d in depts}


async def _import_units(session: AsyncSession, data: bytes) -> csvimport.ImportResult:
    return await import_units(session, data)


async def _import_departments(session: AsyncSession, data: bytes) -> csvimport.ImportResult:
    return await import_departments(session, data)


UNITS = csvimport.ImportKind("units", N_("Units"), _import_units, _unit_snapshot)
DEPARTMENTS = csvimport.ImportKind(
    "departments", N_("Departments"), _import_departments, _department_snapshot
)


def _imported(request: web.Request) -> dict[str, int] | None:
    try:
        return {k: int(request.query[k]) for k in ("created", "updated", "unchanged")}
    except (KeyError, ValueError):
        return None


@requires(Permission.ORGANISATION)
async def units(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    async with admin.core.sessions() as session:
        rows = list((await session.execute(select(OrgUnit).order_by(col(OrgUnit.code)))).scalars())
    code_of = {u.id: u.code for u in rows}
    return admin.pages.page(
        request,
        "units.html",
        units=[(u, code_of.get(u.parent_id, "")) for u in rows],
        imported=_imported(request),
        may_change=viewer.may(Permission.ADMINISTER),
    )


@requires(Permission.ORGANISATION)
async def departments(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    async with admin.core.sessions() as session:
        stmt = select(Department).order_by(col(Department.code))
        rows = list((await session.execute(stmt)).scalars())
    return admin.pages.page(
        request,
        "departments.html",
        departments=rows,
        imported=_imported(request),
        may_change=viewer.may(Permission.ADMINISTER),
    )


def _import_views(kind: csvimport.ImportKind) -> list[web.AbstractRouteDef]:
    @requires(Permission.ADMINISTER)
    async def preview(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await csvimport.show_preview(request, viewer, kind)

    @requires(Permission.ADMINISTER)
    async def confirm(request: web.Request, viewer: Viewer) -> web.StreamResponse:
        return await csvimport.confirm(request, viewer, kind)

    return [
        web.post(f"/{kind.name}/preview", preview),
        web.post(f"/{kind.name}/import", confirm),
    ]


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/units", units),
        web.get("/departments", departments),
        *_import_views(UNITS),
        *_import_views(DEPARTMENTS),
    ]
