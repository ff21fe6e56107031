"""The audit log page: administrative changes, newest first, filtered by action, person and
dates, in keyset pages."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from aiohttp import web

from bot.admin.context import admin_of
from bot.admin.filters import local_midnight
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from storage import audit
from storage.models import AuditEntry


def _date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _number(raw: str) -> int | None:
    return int(raw) if raw.isdecimal() and len(raw) < 12 else None


def describe(entry: AuditEntry) -> str:
    """key: value pairs; changes as old → new."""
    parts = []
    for key, value in entry.details.items():
        if isinstance(value, list) and len(value) == 2:
            parts.append(f"{key}: {value[0]} → {value[1]}")
        else:
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


@requires(Permission.ADMINISTER)
async def audit_log(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    t = request[TRANSLATOR]
    tz = admin.context.settings.tz
    q = request.query
    since, until = _date(q.get("from", "")), _date(q.get("to", ""))
    errors = []
    if (q.get("from") and since is None) or (q.get("to") and until is None):
        errors.append(t("Dates must look like 2026-11-29."))
    flt = audit.AuditFilter(
        action=q.get("action", "")[:64],
        actor_person_id=_number(q.get("person", "")),
        since=local_midnight(since, tz) if since else None,
        until=local_midnight(until + timedelta(days=1), tz) if until else None,
        before_id=_number(q.get("before", "")),
    )
    async with admin.context.sessions() as session:
        rows = await audit.entries(session, flt, audit.PAGE_SIZE + 1)
        actions = await audit.actions(session)
    more = len(rows) > audit.PAGE_SIZE
    rows = rows[: audit.PAGE_SIZE]
    keep = {k: q.get(k, "") for k in ("action", "person", "from", "to")}
    return admin.pages.page(
        request,
        "audit.html",
        entries=[(e, e.at, describe(e)) for e in rows],
        actions=actions,
        values=keep,
        errors=errors,
        next_before=rows[-1].id if more and rows else None,
        query=urlencode({k: v for k, v in keep.items() if v}),
    )


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/audit", audit_log)]
