"""Jinja2 pages in the visitor's language. Autoescaping is on for every template, so report
text, unit names and notes can never inject markup."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from bot.admin.keys import CSRF, TRANSLATOR, VIEWER
from handlers.forms import Catalog
from handlers.i18n import Translator
from handlers.org import HOST_KINDS
from handlers.status import status_label

TEMPLATES = Path(__file__).with_name("templates")


def percent(part: int, whole: int) -> str:
    """A response rate as the pages show it; a dash when nobody was asked."""
    return f"{100 * part / whole:.0f}%" if whole else "—"


class Pages:
    def __init__(self, catalog: Catalog, tz: ZoneInfo) -> None:
        self.catalog = catalog
        self.tz = tz
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def html(self, request: web.Request, template: str, **values: Any) -> str:
        t: Translator = request[TRANSLATOR]

        def when(at: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
            return at.astimezone(self.tz).strftime(fmt) if at is not None else ""

        def category(code: str) -> str:
            cat = self.catalog.category(code)
            return cat.label(t.locale) if cat else code

        return self.env.get_template(template).render(
            t=t,
            n=t.n,
            lang=t.locale,
            csrf=request.get(CSRF, ""),
            viewer=request.get(VIEWER),
            here=request.path_qs,
            when=when,
            category=category,
            status=lambda s: status_label(t, s),
            host_kind=lambda k: t(HOST_KINDS[k]) if k in HOST_KINDS else k,
            **values,
        )

    def page(
        self, request: web.Request, template: str, status: int = 200, **values: Any
    ) -> web.Response:
        return web.Response(
            text=self.html(request, template, **values), status=status, content_type="text/html"
        )

    def message(self, request: web.Request, status: int, title: str, text: str) -> web.Response:
        """A page that only says something: a refusal, an expired link."""
        return self.page(request, "message.html", status, title=title, message=text)
