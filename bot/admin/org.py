"""Units and departments: lists for staff, CSV imports (preview, then confirm) for admins."""

from __future__ import annotations

from aiohttp import web

from bot.admin import csvimport
from bot.admin.context import admin_of
from bot.admin.permissions import Permission, Viewer, requires
from handlers.i18n import N_
from storage.deptimport import import_departments
from storage.org import department_snapshot, departments_by_code, unit_snapshot, units_by_code
from storage.orgimport import import_units

UNITS = csvimport.ImportKind("units", N_("Units"), import_units, unit_snapshot)
DEPARTMENTS = csvimport.ImportKind(
    "departments", N_("Departments"), import_departments, department_snapshot
)


def _imported(request: web.Request) -> dict[str, int] | None:
    try:
        return {k: int(request.query[k]) for k in ("created", "updated", "unchanged")}
    except (KeyError, ValueError):
        return None


@requires(Permission.ORGANISATION)
async def units(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    async with admin.context.sessions() as session:
        rows = await units_by_code(session)
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
    async with admin.context.sessions() as session:
        rows = await departments_by_code(session)
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
