"""What every admin view needs, stored once on the admin application."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from bot.admin.render import Pages
from bot.admin.throttle import LoginThrottle

if TYPE_CHECKING:
    from bot.app import Core


@dataclass
class Admin:
    core: Core
    pages: Pages
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # Checked against when a username does not exist, so timing does not tell which do.
    decoy_hash: str = ""


ADMIN = web.AppKey("admin", Admin)


def admin_of(request: web.Request) -> Admin:
    return request.app[ADMIN]
