"""Invites: created with a role, unit, department and number of uses (never the right to reveal);
listed with their Telegram deep link and a QR code to print; revoked by using them up.

Invite codes are shown to admins (they hand them out) but never written to the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import segno
from aiohttp import web
from markupsafe import Markup

from bot.admin.audited import change
from bot.admin.auth import redirect
from bot.admin.context import admin_of
from bot.admin.keys import TRANSLATOR
from bot.admin.people import ROLE_LABELS
from bot.admin.permissions import Permission, Viewer, requires
from handlers.org import ROLES
from storage import admin as org
from storage.invites import recent_invites, revoke_invite
from storage.org import departments_by_name, units_by_name

MAX_USES = 10_000


def telegram_username(senders: Mapping[str, object]) -> str | None:
    """The bot's @username once the Telegram channel has started (it asks get_me then)."""
    bot: Any = getattr(senders.get("telegram"), "bot", None)
    try:
        return str(bot.username) if bot is not None and bot.username else None
    except Exception:  # not initialised yet
        return None


def deep_link(username: str | None, code: str) -> str | None:
    return f"https://t.me/{username}?start={code}" if username else None


def qr_svg(text: str) -> Markup:
    """An inline SVG QR code: no image request, nothing for the CSP to block."""
    return Markup(segno.make(text, error="m").svg_inline(scale=4, title=text))


async def _page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    admin = admin_of(request)
    username = telegram_username(admin.context.senders)
    async with admin.context.sessions() as session:
        rows = await recent_invites(session)
        units = await units_by_name(session)
        depts = await departments_by_name(session)
    invites = []
    for row in rows:
        invite = row.invite
        link = deep_link(username, invite.code)
        invites.append(
            {
                "invite": invite,
                "unit": row.unit,
                "department": row.department,
                "link": link,
                "qr": qr_svg(link or f"/start {invite.code}") if invite.uses_left > 0 else "",
            }
        )
    return admin.pages.page(
        request,
        "invites.html",
        status,
        invites=invites,
        units=units,
        departments=depts,
        roles=ROLE_LABELS,
        error=error,
        created=request.query.get("created", "")[:32],
    )


@requires(Permission.ADMINISTER)
async def invites(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _page(request)


@requires(Permission.ADMINISTER)
async def create(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    t = request[TRANSLATOR]
    form = await request.post()
    role = str(form.get("role", ""))
    unit = str(form.get("unit", ""))[:64] or None
    dept = str(form.get("department", ""))[:32] or None
    uses_raw = str(form.get("uses", "1")).strip()
    if form.get("can_reveal") == "1":
        # Whoever registers with an invite could be the admin who made it: reveal rights are
        # only given to a registered person, by another administrator (see people.py).
        return await _page(
            request,
            t(
                "Invites cannot carry the right to reveal reporters: another administrator gives it on the person's page once they have registered."
            ),
            400,
        )
    if role not in ROLES:
        return await _page(request, t("Choose a role from the list."), 400)
    if not uses_raw.isdecimal() or not 1 <= int(uses_raw) <= MAX_USES:
        return await _page(
            request, t("Uses must be a whole number from 1 to {max}.", max=MAX_USES), 400
        )
    if role == "handler" and dept is None:
        return await _page(request, t("A department handler needs a department."), 400)
    try:
        async with change(request, viewer) as done:
            invite = await org.create_invite(done.session, role, unit, int(uses_raw), dept, False)
            await done.log(
                "invite.create",
                f"#{invite.id}",
                role=role,
                unit=unit or "",
                department=dept or "",
                uses=int(uses_raw),
            )
    except org.AdminError:
        return await _page(
            request, t("That unit or department no longer exists. Reload the page."), 400
        )
    return redirect(f"/admin/invites?created={invite.code}")


@requires(Permission.ADMINISTER)
async def revoke(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    async with change(request, viewer) as done:
        found = await revoke_invite(done.session, int(request.match_info["id"]))
        if found is None:
            raise web.HTTPNotFound()
        invite, was_live = found
        if was_live:
            await done.log("invite.revoke", f"#{invite.id}", role=invite.role)
    return redirect("/admin/invites")


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/invites", invites),
        web.post("/invites", create),
        web.post(r"/invites/{id:\d{1,9}}/revoke", revoke),
    ]
