"""The monthly report for the briefing papers as a download: the same DOCX as
`grassroots report monthly`, for a month and language chosen on the page."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from bot.admin.context import admin_of
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from handlers.i18n import SUPPORTED
from reports.monthly import MonthError, build_monthly_report, parse_month

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@requires(Permission.DASHBOARD)
async def monthly(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    t = request[TRANSLATOR]
    raw = request.query.get("month", "").strip()[:7]
    lang = request.query.get("lang", "")
    lang = lang if lang in SUPPORTED else t.locale
    default = datetime.now(UTC).astimezone(admin.context.settings.tz).strftime("%Y-%m")
    if not raw:
        return admin.pages.page(request, "monthly.html", month=default, chosen=lang, error="")
    try:
        first = parse_month(raw)
    except MonthError:
        return admin.pages.page(
            request,
            "monthly.html",
            400,
            month=default,
            chosen=lang,
            error=t("Choose a month like {example}.", example=default),
        )
    document = await build_monthly_report(admin.context, first, lang)  # renders in a worker thread
    return web.Response(
        body=document,
        headers={
            "Content-Type": DOCX,
            "Content-Disposition": f'attachment; filename="monthly-report-{first:%Y-%m}.docx"',
            "Cache-Control": "no-store",
        },
    )


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/reports/monthly", monthly)]
