"""Chat bindings: which group chats receive leaders' alerts, staff cards or a department's
cases. The same rules as `grassroots chat bind`."""

from __future__ import annotations

from aiohttp import web

from bot.admin.audited import change
from bot.admin.auth import redirect
from bot.admin.context import admin_of
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from handlers.org import BINDING_CHANNELS, is_binding_role
from storage import admin as org
from storage.bindings import all_bindings, remove_binding
from storage.org import departments_by_code


async def _page(
    request: web.Request, viewer: Viewer, error: str = "", status: int = 200
) -> web.Response:
    admin = admin_of(request)
    async with admin.context.sessions() as session:
        rows = await all_bindings(session)
        depts = await departments_by_code(session)
    return admin.pages.page(
        request,
        "bindings.html",
        status,
        bindings=rows,
        departments=depts,
        channels=BINDING_CHANNELS,
        error=error,
        may_change=viewer.may(Permission.ADMINISTER),
    )


@requires(Permission.ORGANISATION)
async def bindings(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _page(request, viewer)


@requires(Permission.ADMINISTER)
async def bind(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    t = request[TRANSLATOR]
    form = await request.post()
    role = str(form.get("role", "")).strip()
    channel = str(form.get("channel", ""))
    chat_id = str(form.get("chat_id", "")).strip()
    if not is_binding_role(role):
        return await _page(request, viewer, t("Choose who the chat is for from the list."), 400)
    if channel not in BINDING_CHANNELS:
        return await _page(request, viewer, t("Choose a channel from the list."), 400)
    if not chat_id or len(chat_id) > 64 or any(c.isspace() for c in chat_id):
        return await _page(
            request, viewer, t("The chat id must be 1-64 characters without spaces."), 400
        )
    async with change(request, viewer) as done:
        if await org.bind_chat(done.session, role, channel, chat_id):
            await done.log("binding.add", role, channel=channel, chat_id=chat_id)
    return redirect("/admin/bindings")


@requires(Permission.ADMINISTER)
async def unbind(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    async with change(request, viewer) as done:
        row = await remove_binding(done.session, int(request.match_info["id"]))
        if row is None:
            raise web.HTTPNotFound()
        await done.log("binding.remove", row.role, channel=row.channel, chat_id=row.chat_id)
    return redirect("/admin/bindings")


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/bindings", bindings),
        web.post("/bindings", bind),
        web.post(r"/bindings/{id:\d{1,9}}/remove", unbind),
    ]
