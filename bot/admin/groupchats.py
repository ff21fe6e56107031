"""The leaders' chat as a page: what the bot posted to the group chats bound as leaders on the
web channel (the demo binds its leaders' chat there), digests with their charts, newest last.
A committee whose leaders have no messenger group reads it here, on a phone too."""

from __future__ import annotations

import re

from aiohttp import web

from bot.admin.context import admin_of
from bot.admin.permissions import Permission, Viewer, requires
from storage.transcripts import web_group_posts

LEADERS = "leaders"
# The digest's charts only (scheduler/digest.py writes them there under these names).
CHART_RE = re.compile(r"^charts/[0-9]{8}-[0-9a-f]{12}\.png$")


@requires(Permission.DASHBOARD)
async def leaders_chat(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    async with admin.context.sessions() as session:
        posts = await web_group_posts(session, LEADERS)
    return admin.pages.page(
        request,
        "groupchat.html",
        posts=[(p, p.photo if CHART_RE.fullmatch(p.photo) else "") for p in posts],
    )


@requires(Permission.DASHBOARD)
async def chart_file(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """A digest's chart, as posted to the leaders' chat."""
    name = f"charts/{request.match_info['name']}"
    # The name is checked before it touches the file system: a NUL byte or a newline in it
    # would otherwise reach resolve() (ValueError) or slip past a `$` anchor.
    if not CHART_RE.fullmatch(name):
        raise web.HTTPNotFound()
    root = admin_of(request).context.settings.attachments_dir.resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": "image/png"})


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/chats/leaders", leaders_chat),
        web.get("/chats/charts/{name}", chart_file),
    ]
