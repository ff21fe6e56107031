"""A test driver for the web admin: the real app on an aiohttp test server, and sign-in through
the real chat flow (/weblogin) or the password form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp.test_utils import TestClient, TestServer

from bot.admin.app import build_admin_app
from bot.app import Core
from bot.web import build_web_app
from tests.chat import Chat

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
LINK_RE = re.compile(r"(/admin/login/[A-Za-z0-9_\-]+)")


@dataclass
class Page:
    status: int
    text: str
    headers: dict[str, str]

    @property
    def csrf(self) -> str:
        match = CSRF_RE.search(self.text)
        assert match, "no CSRF field on the page"
        return match.group(1)


class AdminBrowser:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""
        self.address = ""  # the client's address as our proxy reports it (WEB_TRUST_PROXY)

    @property
    def _headers(self) -> dict[str, str]:
        return {"X-Forwarded-For": self.address} if self.address else {}

    async def get(self, path: str) -> Page:
        async with self.client.get(path, allow_redirects=False, headers=self._headers) as resp:
            page = Page(resp.status, await resp.text(), dict(resp.headers))
        if 'name="csrf"' in page.text:
            self.csrf = page.csrf
        return page

    async def post(self, path: str, data: dict[str, str], csrf: str | None = None) -> Page:
        form = {"csrf": self.csrf if csrf is None else csrf, **data}
        async with self.client.post(
            path, data=form, allow_redirects=False, headers=self._headers
        ) as resp:
            page = Page(resp.status, await resp.text(), dict(resp.headers))
        if 'name="csrf"' in page.text:
            self.csrf = page.csrf
        return page

    async def sign_in_with_link(self, chat: Chat) -> Page:
        """Ask the bot for a link, open it, press the button."""
        out = await chat.say("/weblogin")
        match = LINK_RE.search(out[-1])
        assert match, out
        link = match.group(1)
        page = await self.get(link)
        assert page.status == 200, page.text
        return await self.post(link, {})

    async def sign_in(self, username: str, password: str) -> Page:
        await self.get("/admin/login")
        return await self.post("/admin/login", {"username": username, "password": password})


@asynccontextmanager
async def admin_browser(core: Core) -> AsyncIterator[AdminBrowser]:
    """A browser on a fresh admin app, as another instance of the bot would serve it."""
    app = build_web_app([], core.settings.max_attachment_bytes, {"/admin": build_admin_app(core)})
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield AdminBrowser(client)
    finally:
        await client.close()
