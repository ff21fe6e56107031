"""The dashboard at /admin/: what came in, what is hot or overdue, how fast cases move.

Figures for the month come from the digest's own GROUP BY queries (`storage.digests.collect`),
so the dashboard and the leaders' digest never disagree. Charts are drawn off the event loop.
"""

from __future__ import annotations

import asyncio
import io
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.admin.auth import redirect
from bot.admin.context import admin_of
from bot.admin.filters import local_midnight
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from bot.admin.render import percent
from handlers.forms import Catalog
from handlers.i18n import Translator
from handlers.polldefs import PollDef, pick
from reports.digest import category_label, kind_label
from reports.scoreboard import (
    DEPARTMENT_HEAD,
    UNIT_HEAD,
    Scoreboard,
    attention_rows,
    collect_scoreboard,
    department_rows,
    effective_due,
)
from reports.suppression import merged_note, published_digest
from reports.topics import emerging_topics
from storage.dashboard import LIST_SIZE, hot_cases, open_rounds, reports_since
from storage.db import Session
from storage.digests import DigestData, collect
from storage.models import PollRound
from storage.pollresults import compliance, response_rate
from storage.scoreboard import case_events, past_due


@dataclass(frozen=True)
class Panel:
    """A titled table on the dashboard: (label, value) rows."""

    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)


async def _poll_row(session: Session, t: Translator, tz: ZoneInfo, rnd: PollRound) -> str:
    assert rnd.id is not None
    invited, responded = await response_rate(session, rnd.id)
    return t(
        "{responded} of {invited} ({rate}) · closes {when}",
        responded=responded,
        invited=invited,
        rate=percent(responded, invited),
        when=rnd.closes_at.astimezone(tz).strftime("%H:%M %d/%m"),
    )


async def _sitrep_row(session: Session, t: Translator, rnd: PollRound) -> str:
    assert rnd.id is not None
    c = await compliance(session, rnd.id)
    return t(
        "received {received} of {expected} · on time {on_time} · late {late} · missing {missing}",
        received=c.received,
        expected=c.expected,
        on_time=c.count("on_time"),
        late=c.count("late"),
        missing=c.count("missing"),
    )


async def poll_and_sitrep_panels(session: Session, t: Translator, tz: ZoneInfo) -> list[Panel]:
    """Open polls' response rates and open situation reports' compliance, as the leaders'
    digest counts them (reports.polls.digest_lines)."""
    polls: list[tuple[str, str]] = []
    sitreps: list[tuple[str, str]] = []
    for rnd in await open_rounds(session):
        defn = PollDef.model_validate(rnd.definition)
        title = pick(defn.title, t.locale)
        if defn.kind == "poll":
            polls.append((title, await _poll_row(session, t, tz, rnd)))
        else:
            sitreps.append((f"{title} {rnd.period}", await _sitrep_row(session, t, rnd)))
    panels = []
    if polls:
        panels.append(Panel(t("Open polls: responses so far"), polls))
    if sitreps:
        panels.append(Panel(t("Situation reports: compliance"), sitreps))
    return panels


def periods(now: datetime, tz: ZoneInfo) -> dict[str, datetime]:
    """Starts of today, this week (Monday) and this month in the organisation's time zone,
    as UTC times (SQLite compares the digits it is given)."""
    today = now.astimezone(tz).date()
    return {
        "today": local_midnight(today, tz),
        "week": local_midnight(today - timedelta(days=today.weekday()), tz),
        "month": local_midnight(today.replace(day=1), tz),
    }


async def _month(request: web.Request) -> tuple[DigestData, dict[str, datetime], datetime]:
    ctx = admin_of(request).context
    now = datetime.now(UTC)
    starts = periods(now, ctx.settings.tz)
    async with ctx.sessions() as session:
        data = await collect(session, starts["month"], now, ctx.settings.tz)
    # Published as the digest publishes it: small groups of hidden reports suppressed.
    return published_digest(data, ctx.settings.min_group_size), starts, now


async def overdue_now(session: Session, now: datetime) -> list[tuple[str, str, str, str]]:
    """(code, unit, department, status) of open cases past their effective due time: a case
    waiting for the reporter is not overdue, as for the nudges and the scoreboard."""
    candidates = await past_due(session, now, LIST_SIZE * 5)
    events = await case_events(session, [c.id for c in candidates])
    return [
        (c.code, c.unit, c.department, c.status)
        for c in candidates
        if (due := effective_due(c.due_at, events.get(c.id, []), now)) is not None and due < now
    ][:LIST_SIZE]


@requires(Permission.CASES)
async def home(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    if not viewer.may(Permission.DASHBOARD):
        return redirect("/admin/cases")  # departments start at their cases
    admin = admin_of(request)
    t = request[TRANSLATOR]
    data, starts, now = await _month(request)
    async with admin.context.sessions() as session:
        counts = {
            "today": await reports_since(session, starts["today"]),
            "week": await reports_since(session, starts["week"]),
            "month": data.total,
        }
        hot = await hot_cases(session)
        overdue = await overdue_now(session, now)
        panels = await poll_and_sitrep_panels(session, t, admin.context.settings.tz)
        topics = await emerging_topics(session, now)
        board = await collect_scoreboard(
            session,
            starts["month"],
            now,
            admin.context.settings.tz,
            admin.context.settings.min_group_size,
            now=now,
        )
    return admin.pages.page(
        request,
        "dashboard.html",
        counts=counts,
        data=data,
        hot=hot,
        overdue=overdue,
        panels=panels,
        topics=topics,
        hours=lambda h: f"{h:.1f}" if h is not None else "—",
        merged=merged_note(t, data),
        **scoreboard_tables(t, board),
    )


def scoreboard_tables(t: Translator, board: Scoreboard) -> dict[str, Any]:
    """The scoreboard's two tables for the template: heads and rows of readable cells; the
    units' table holds those that need attention, the quiet ones counted in one line."""
    unit_rows, quiet_units = attention_rows(t, board)
    return {
        "dept_head": [t(h) for h in DEPARTMENT_HEAD],
        "dept_rows": department_rows(t, board),
        "unit_head": [t(h) for h in UNIT_HEAD],
        "unit_rows": unit_rows,
        "quiet_units": quiet_units,
    }


def _bar_chart(title: str, bars: list[tuple[str, int]], phone: bool = False) -> bytes:
    """A bar chart; for a phone, drawn at the width it is shown (360 px) with wrapped labels,
    so its words stay readable rather than shrunk to half size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.4, 3.6) if phone else (6, 3.6), dpi=100)
    wrap = 20 if phone else 40
    labels = ["\n".join(textwrap.wrap(label, wrap)) for label, _ in bars] or ["—"]
    values = [value for _, value in bars] or [0]
    ax.barh(labels[::-1], values[::-1], color="#0b57d0")
    ax.set_title("\n".join(textwrap.wrap(title, 34 if phone else 80)), fontsize=11)
    ax.tick_params(axis="y", labelsize=8)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not any(values):
        ax.set_xlim(0, 1)  # nothing to show: 0 and 1, not a crowd of fractions around 0
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def _chart_bars(
    which: str, t: Translator, catalog: Catalog, data: DigestData
) -> tuple[str, list[tuple[str, int]]]:
    if which == "category":
        return t("Reports this month, by category"), [
            (category_label(t, catalog, c), n) for c, n in data.by_category
        ]
    return t("Reports this month, by kind of unit"), [
        (kind_label(t, k), n) for k, n in data.by_host_kind
    ]


@requires(Permission.DASHBOARD)
async def chart(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    which = request.match_info["which"]
    if which not in ("category", "unit-kind"):
        raise web.HTTPNotFound()
    t = request[TRANSLATOR]
    data, _starts, _now = await _month(request)
    title, bars = _chart_bars(which, t, admin_of(request).context.catalog, data)
    if request.query.get("size") == "phone":
        png = await asyncio.to_thread(_bar_chart, title, bars, phone=True)
    else:
        png = await asyncio.to_thread(_bar_chart, title, bars)
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/", home), web.get("/charts/{which}.png", chart)]
