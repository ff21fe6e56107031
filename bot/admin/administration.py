"""Administration: the organisation's set-up (units, departments, people, invites, chat
bindings, rules), the audit log and the monthly report, gathered behind one menu entry."""

from __future__ import annotations

from aiohttp import web

from bot.admin import audit, bindings, deadlines, invites, org, people, polls, reports, rules
from bot.admin.context import admin_of
from bot.admin.permissions import Permission, Viewer, requires


@requires(Permission.ORGANISATION)
async def hub(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return admin_of(request).pages.page(
        request, "manage.html", may_administer=viewer.may(Permission.ADMINISTER)
    )


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/manage", hub),
        *org.routes(),
        *people.routes(),
        *invites.routes(),
        *bindings.routes(),
        *rules.routes(),
        *deadlines.routes(),
        *polls.routes(),
        *reports.routes(),
        *audit.routes(),
    ]
