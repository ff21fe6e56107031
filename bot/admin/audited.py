"""Administrative changes from the web: one transaction for the change and its audit entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from bot.admin.context import admin_of
from bot.admin.permissions import Viewer
from storage import audit
from storage.db import Session


class Change:
    """A session inside a transaction, and a way to log what the viewer did in it."""

    def __init__(self, session: Session, viewer: Viewer) -> None:
        self.session = session
        self.viewer = viewer

    async def log(self, action: str, target: str = "", **details: Any) -> None:
        await audit.record(
            self.session, self.viewer.person_id, self.viewer.name, action, target, **details
        )


@asynccontextmanager
async def change(request: web.Request, viewer: Viewer) -> AsyncIterator[Change]:
    """Commits the change and its audit entry together, or neither if anything raises."""
    async with admin_of(request).context.sessions() as session, session.begin():
        yield Change(session, viewer)
