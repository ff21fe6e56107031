"""What the middlewares learn about a request, for the views and templates."""

from __future__ import annotations

from aiohttp import web

from handlers.i18n import Translator

TRANSLATOR = web.RequestKey("t", Translator)
CSRF = web.RequestKey("csrf", str)
NEW_PRE_CSRF = web.RequestKey("new_pre_csrf", bool)
VIEWER = web.RequestKey("viewer", object)
