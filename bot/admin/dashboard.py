"""The dashboard at /admin/: what came in, what is hot or overdue, how fast cases move.

Figures for the month come from the digest's own GROUP BY queries (`storage.digests.collect`),
so the dashboard and the leaders' digest never disagree. Charts are drawn off the event loop.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.admin.auth import redirect
from bot.admin.context import admin_of
from bot.admin.filters import local_midnight
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from handlers.forms import Catalog
from handlers.i18n import Translator
from handlers.org import HOST_KINDS
from storage.digests import OPEN, DigestData, collect
from storage.models import Department, OrgUnit, Report

LIST_SIZE = 20


@dataclass(frozen=True)
class Panel:
    """A titled table on the dashboard: (label, value) rows."""

    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)


async def poll_and_sitrep_panels(session: AsyncSession, t: Translator, tz: ZoneInfo) -> list[Panel]:
    """Open polls' response rates and situation-report compliance, one Panel each."""
    from bot.admin.polls import dashboard_panels  # it builds on this module's Panel

    return await dashboard_panels(session, t, tz)


def periods(now: datetime, tz: ZoneInfo) -> dict[str, datetime]:
    """Starts of today, this week (Monday) and this month in the organisation's time zone,
    as UTC times (SQLite compares the digits it is given)."""
    today = now.astimezone(tz).date()
    return {
        "today": local_midnight(today, tz),
        "week": local_midnight(today - timedelta(days=today.weekday()), tz),
        "month": local_midnight(today.replace(day=1), tz),
    }


async def _count_since(session: AsyncSession, since: datetime) -> int:
    stmt = select(func.count()).select_from(Report).where(col(Report.created_at) >= since)
    return int((await session.execute(stmt)).scalar_one())


async def _open_cases(session: AsyncSession, *where: object) -> list[tuple[str, str, str, str]]:
    """(code, unit, department, status) of open cases matching `where`, oldest first."""
    rows = await session.execute(
        select(Report.code, OrgUnit.name, Department.name, Report.status)
        .join(OrgUnit, col(OrgUnit.id) == col(Report.unit_id), isouter=True)
        .join(Department, col(Department.id) == col(Report.department_id), isouter=True)
        .where(col(Report.status).in_(OPEN), *where)  # type: ignore[arg-type]
        .order_by(col(Report.id))
        .limit(LIST_SIZE)
    )
    return [(c, u or "—", d or "", s) for c, u, d, s in rows.all()]


async def _month(request: web.Request) -> tuple[DigestData, dict[str, datetime], datetime]:
    core = admin_of(request).core
    now = datetime.now(UTC)
    starts = periods(now, core.settings.tz)
    async with core.sessions() as session:
        data = await collect(session, starts["month"], now, core.settings.tz)
    return data, starts, now


@requires(Permission.CASES)
async def home(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    if not viewer.may(Permission.DASHBOARD):
        return redirect("/admin/cases")  # departments start at their cases
    admin = admin_of(request)
    t = request[TRANSLATOR]
    data, starts, now = await _month(request)
    async with admin.core.sessions() as session:
        counts = {
            "today": await _count_since(session, starts["today"]),
            "week": await _count_since(session, starts["week"]),
            "month": data.total,
        }
        hot = await _open_cases(session, col(Report.urgency) == "hot")
        overdue = await _open_cases(session, col(Report.due_at) < now)
        panels = await poll_and_sitrep_panels(session, t, admin.core.settings.tz)
    return admin.pages.page(
        request,
        "dashboard.html",
        counts=counts,
        data=data,
        hot=hot,
        overdue=overdue,
        panels=panels,
        hours=lambda h: f"{h:.1f}" if h is not None else "—",
    )


def _bar_chart(title: str, bars: list[tuple[str, int]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    labels = [label for label, _ in bars] or ["—"]
    values = [value for _, value in bars] or [0]
    ax.barh(labels[::-1], values[::-1], color="#0b57d0")
    ax.set_title(title, fontsize=11)
    ax.tick_params(axis="y", labelsize=8)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def _chart_bars(
    which: str, t: Translator, catalog: Catalog, data: DigestData
) -> tuple[str, list[tuple[str, int]]]:
    if which == "category":

        def label(code: str) -> str:
            cat = catalog.category(code)
            return cat.label(t.locale) if cat else code

        return t("Reports this month, by category"), [(label(c), n) for c, n in data.by_category]
    return t("Reports this month, by kind of unit"), [
        (t(HOST_KINDS[k]) if k in HOST_KINDS else k, n) for k, n in data.by_host_kind
    ]


@requires(Permission.DASHBOARD)
async def chart(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    which = request.match_info["which"]
    if which not in ("category", "unit-kind"):
        raise web.HTTPNotFound()
    t = request[TRANSLATOR]
    data, _starts, _now = await _month(request)
    title, bars = _chart_bars(which, t, admin_of(request).core.catalog, data)
    png = await asyncio.to_thread(_bar_chart, title, bars)
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/", home), web.get("/charts/{which}.png", chart)]
