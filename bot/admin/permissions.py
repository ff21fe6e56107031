"""Who may open which admin page. Every view declares its permission with `requires`; a test
walks the routes to make sure none is left unguarded."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import web

from bot.admin.keys import VIEWER
from handlers.cards import case_facts
from handlers.casework import LEADER_ROLE, STAFF_ROLES, WEB_ROLES, Actor, may_view
from handlers.ports import ReportView


class Permission(StrEnum):
    DASHBOARD = "dashboard"
    CASES = "cases"
    EXPORT = "export"
    ADMINISTER = "administer"  # units, departments, people, invites, bindings, audit log
    ORGANISATION = "organisation"  # see that set-up without changing it


GRANTS: dict[Permission, frozenset[str]] = {
    Permission.DASHBOARD: STAFF_ROLES | {LEADER_ROLE},
    Permission.CASES: WEB_ROLES,
    Permission.EXPORT: WEB_ROLES,
    Permission.ADMINISTER: frozenset({"admin"}),
    Permission.ORGANISATION: STAFF_ROLES,
}


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, read fresh from the database on every request."""

    person_id: int
    name: str
    role: str
    department_id: int | None
    department_code: str | None
    can_reveal: bool

    def may(self, permission: Permission) -> bool:
        return self.role in GRANTS[permission]

    @property
    def sees_every_case(self) -> bool:
        """Staff and leaders see all cases; a department's handlers only their department's."""
        return self.role in STAFF_ROLES or self.role == LEADER_ROLE

    def actor(self, case: ReportView | None = None) -> Actor:
        is_reporter = case is not None and case.reporter_person_id == self.person_id
        return Actor(self.person_id, self.role, self.department_code, self.can_reveal, is_reporter)

    def may_see(self, case: ReportView) -> bool:
        """The chat's rule for /case CODE."""
        return may_view(self.actor(case), case_facts(case))


View = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def current_viewer(request: web.Request) -> Viewer | None:
    viewer = request.get(VIEWER)
    return viewer if isinstance(viewer, Viewer) else None


def requires(permission: Permission) -> Callable[[View], Handler]:
    """Guard a view: signed-in visitors without the permission get 403, whatever the link."""

    def wrap(view: View) -> Handler:
        @functools.wraps(view)
        async def checked(request: web.Request) -> web.StreamResponse:
            viewer = current_viewer(request)
            if viewer is None:
                raise web.HTTPUnauthorized()
            if not viewer.may(permission):
                raise web.HTTPForbidden()
            return await view(request, viewer)

        checked.permission = permission  # type: ignore[attr-defined]
        return checked

    return wrap


def public(handler: Handler) -> Handler:
    """Mark a view that needs no sign-in (the sign-in pages themselves)."""
    handler.public = True  # type: ignore[attr-defined]
    return handler


def is_guarded(handler: Any) -> bool:
    return bool(getattr(handler, "permission", None) or getattr(handler, "public", False))
