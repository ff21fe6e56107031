"""The leaders' digest: what came in, what is stuck, who has not answered — as text and a chart.

Figures come from GROUP BY queries, so a digest over a million reports stays quick; the text is
rendered in the organisation's language and split at each channel's limit by the adapters.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, not_, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.forms import Catalog
from handlers.i18n import N_, Translator
from handlers.org import HOST_KINDS
from handlers.status import status_label
from handlers.text import labelled
from scheduler.context import JobContext
from storage.models import Department, JobRun, Nudge, OrgUnit, OutboxMessage, Report

log = logging.getLogger(__name__)

OPEN = ("new", "acknowledged", "assigned", "needs_info", "reopened")
CHART_DAYS = 14


@dataclass
class DigestData:
    since: datetime
    until: datetime
    total: int = 0
    by_category: list[tuple[str, int]] = field(default_factory=list)
    by_urgency: dict[str, int] = field(default_factory=dict)
    by_host_kind: list[tuple[str, int]] = field(default_factory=list)
    hot: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # code, category, unit, status
    newly_overdue: list[tuple[str, str]] = field(default_factory=list)  # code, department
    resolved: int = 0
    median_ack_hours: float | None = None
    median_resolve_hours: float | None = None
    delivery_failures: int = 0
    open_now: int = 0
    escalated: list[str] = field(default_factory=list)
    daily: list[tuple[date, dict[str, int], int, int]] = field(default_factory=list)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def collect(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    tz: ZoneInfo,
    chart_days: int = CHART_DAYS,
    now: datetime | None = None,
) -> DigestData:
    # Compare in UTC: SQLite keeps UTC wall times and would read local bounds as if UTC.
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    # A window reaching past now (this month's report) must not call a case due later overdue.
    due_by = min(until, now or datetime.now(UTC))
    data = DigestData(since, until)
    window = (col(Report.created_at) >= since, col(Report.created_at) < until)
    rows = await session.execute(
        select(Report.category, func.count()).where(*window).group_by(col(Report.category))
    )
    data.by_category = sorted(((c, int(n)) for c, n in rows.all()), key=lambda x: -x[1])
    data.total = sum(n for _, n in data.by_category)
    rows = await session.execute(
        select(Report.urgency, func.count()).where(*window).group_by(col(Report.urgency))
    )
    data.by_urgency = {u: int(n) for u, n in rows.all()}
    rows = await session.execute(
        select(OrgUnit.host_kind, func.count())
        .select_from(Report)
        .join(OrgUnit, col(OrgUnit.id) == col(Report.unit_id))
        .where(*window)
        .group_by(col(OrgUnit.host_kind))
    )
    data.by_host_kind = sorted(((k, int(n)) for k, n in rows.all()), key=lambda x: -x[1])
    hot_rows = await session.execute(
        select(Report.code, Report.category, OrgUnit.name, Report.status)
        .join(OrgUnit, col(OrgUnit.id) == col(Report.unit_id), isouter=True)
        .where(*window, Report.urgency == "hot")
        .order_by(col(Report.id))
        .limit(50)
    )
    data.hot = [(c, cat, u or "—", s) for c, cat, u, s in hot_rows.all()]
    overdue_rows = await session.execute(
        select(Report.code, Department.name)
        .join(Department, col(Department.id) == col(Report.department_id), isouter=True)
        .where(
            col(Report.due_at) >= since, col(Report.due_at) < due_by, col(Report.status).in_(OPEN)
        )
        .order_by(col(Report.due_at))
        .limit(50)
    )
    data.newly_overdue = [(c, d or "—") for c, d in overdue_rows.all()]
    data.resolved = int(
        (
            await session.execute(
                select(func.count())
                .select_from(Report)
                .where(col(Report.resolved_at) >= since, col(Report.resolved_at) < until)
            )
        ).scalar_one()
    )
    data.open_now = int(
        (
            await session.execute(
                select(func.count()).select_from(Report).where(col(Report.status).in_(OPEN))
            )
        ).scalar_one()
    )
    acks = await session.execute(
        select(Report.created_at, Report.acknowledged_at).where(
            col(Report.acknowledged_at) >= since, col(Report.acknowledged_at) < until
        )
    )
    ack_hours = [(_aware(a) - _aware(c)).total_seconds() / 3600 for c, a in acks.all()]
    data.median_ack_hours = statistics.median(ack_hours) if ack_hours else None
    resolves = await session.execute(
        select(Report.created_at, Report.resolved_at).where(
            col(Report.resolved_at) >= since, col(Report.resolved_at) < until
        )
    )
    res_hours = [(_aware(r) - _aware(c)).total_seconds() / 3600 for c, r in resolves.all()]
    data.median_resolve_hours = statistics.median(res_hours) if res_hours else None
    data.delivery_failures = int(
        (
            await session.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "failed", col(OutboxMessage.created_at) >= since)
            )
        ).scalar_one()
    )
    escalated = await session.execute(
        select(Nudge.subject).where(
            Nudge.kind == "escalated", col(Nudge.created_at) >= since, col(Nudge.created_at) < until
        )
    )
    ids = [int(s.split(":", 1)[1]) for (s,) in escalated.all() if s.startswith("report:")]
    if ids:
        codes = await session.execute(
            select(Report.code).where(col(Report.id).in_(ids)).order_by(col(Report.id))
        )
        data.escalated = list(codes.scalars())
    data.daily = await _daily(session, until, tz, chart_days)
    return data


def _day_index(column: Any, bounds: list[datetime]) -> Any:
    """A portable CASE that numbers each row's local day (0 = oldest) from its UTC time."""
    return case(*[(column < bound, i) for i, bound in enumerate(bounds[1:])], else_=len(bounds) - 1)


async def _daily(
    session: AsyncSession, until: datetime, tz: ZoneInfo, count: int = CHART_DAYS
) -> list[tuple[date, dict[str, int], int, int]]:
    """Intake per day and category, and resolutions per day, for the chart: two GROUP BY
    queries over local days rather than fetching two weeks of rows. The last day is the one
    `until` falls in (or the day before, when `until` is a local midnight)."""
    today = (until - timedelta(microseconds=1)).astimezone(tz).date()
    days = [today - timedelta(days=back) for back in range(count - 1, -1, -1)]
    # In UTC: SQLite compares stored UTC wall times and would read local bounds as UTC.
    bounds = [datetime.combine(d, datetime.min.time(), tzinfo=tz).astimezone(UTC) for d in days]
    created_day = _day_index(col(Report.created_at), bounds).label("day")
    rows = await session.execute(
        select(created_day, Report.category, func.count())
        .where(col(Report.created_at) >= bounds[0], col(Report.created_at) < until)
        .group_by(created_day, col(Report.category))
    )
    intake: list[dict[str, int]] = [{} for _ in days]
    for index, category, count in rows.all():
        intake[int(index)][category] = int(count)
    resolved_day = _day_index(col(Report.resolved_at), bounds).label("day")
    rows = await session.execute(
        select(resolved_day, func.count())
        .where(col(Report.resolved_at) >= bounds[0], col(Report.resolved_at) < until)
        .group_by(resolved_day)
    )
    resolved = [0 for _ in days]
    for index, count in rows.all():
        resolved[int(index)] = int(count)
    return [(d, intake[i], sum(intake[i].values()), resolved[i]) for i, d in enumerate(days)]


def render(
    t: Translator, catalog: Catalog, data: DigestData, tz: ZoneInfo, title: str | None = None
) -> str:
    since = data.since.astimezone(tz).strftime("%d/%m %H:%M")
    until = data.until.astimezone(tz).strftime("%d/%m/%Y %H:%M")
    head = t(title or "📋 Daily digest, {since} – {until}", since=since, until=until)
    if data.total == 0 and not data.newly_overdue and not data.resolved and not data.escalated:
        return "\n".join(
            [
                head,
                "",
                t("Nothing new since the last digest. Open cases: {count}.", count=data.open_now),
            ]
        )

    def category(code: str) -> str:
        cat = catalog.category(code)
        return cat.label(t.locale) if cat else code

    lines = [
        head,
        "",
        t("New reports: {total} ({hot} hot).", total=data.total, hot=data.by_urgency.get("hot", 0)),
    ]
    if data.by_category:
        lines += ["", t("By category:")] + [f"• {category(c)}: {n}" for c, n in data.by_category]
    if data.by_host_kind:
        lines += ["", t("By kind of unit:")] + [
            f"• {t(HOST_KINDS.get(k, k))}: {n}" for k, n in data.by_host_kind
        ]
    if data.hot:
        lines += ["", t("🔥 Hot reports:")]
        lines += [
            f"• {code} · {category(cat)} · {unit} · {status_label(t, s)}"
            for code, cat, unit, s in data.hot
        ]
    if data.newly_overdue:
        lines += ["", t("⏰ Newly overdue:")] + [
            f"• {code} · {dept}" for code, dept in data.newly_overdue
        ]
    if data.escalated:
        lines += ["", t("🚨 Long overdue, escalated to you:"), "• " + ", ".join(data.escalated)]
    lines += [
        "",
        labelled(t("Resolved"), str(data.resolved)),
        labelled(t("Open now"), str(data.open_now)),
    ]
    if data.median_ack_hours is not None:
        lines.append(
            t("Median time to acknowledge: {hours} h", hours=f"{data.median_ack_hours:.1f}")
        )
    if data.median_resolve_hours is not None:
        lines.append(
            t("Median time to resolve: {hours} h", hours=f"{data.median_resolve_hours:.1f}")
        )
    if data.delivery_failures:
        lines.append(
            t("⚠ Messages that could not be delivered: {count}", count=data.delivery_failures)
        )
    return "\n".join(lines)


def draw_chart(t: Translator, catalog: Catalog, data: DigestData, target: Path) -> Path:
    """The digest's chart as a PNG file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    plot_daily(t, catalog, data, target)
    return target


def plot_daily(t: Translator, catalog: Catalog, data: DigestData, target: Path | BinaryIO) -> None:
    """A PNG: daily intake by category (stacked) and opened versus resolved per day, written
    to a file or into a buffer (the monthly report embeds it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    days = [d.strftime("%d/%m") for d, *_ in data.daily]
    codes = [c.code for c in catalog.categories]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), dpi=100, sharex=True)
    base = [0] * len(days)
    for code in codes:
        values = [counts.get(code, 0) for _, counts, _, _ in data.daily]
        if any(values):
            cat = catalog.category(code)
            top.bar(days, values, bottom=base, label=cat.label(t.locale) if cat else code)
            base = [b + v for b, v in zip(base, values, strict=True)]
    top.set_title(t("Reports received per day, by category"))
    if any(base):
        top.legend(fontsize=7, loc="upper left")
    bottom.plot(days, [n for *_, n, _ in data.daily], marker="o", label=t("Reports received"))
    bottom.plot(days, [r for *_, r in data.daily], marker="s", label=t("Resolved"))
    bottom.set_title(t("Received and resolved per day"))
    bottom.legend(fontsize=7)
    bottom.tick_params(axis="x", rotation=45)
    if len(days) > 16:  # a month: label every other day so the dates stay readable
        for label in bottom.get_xticklabels()[1::2]:
            label.set_visible(False)
    for axis in (top, bottom):
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts, not fractions
    fig.tight_layout()
    fig.savefig(target, format="png")
    plt.close(fig)


async def build(
    ctx: JobContext, since: datetime, until: datetime, title: str | None = None
) -> tuple[str, Path]:
    """The digest text and its chart, in the organisation's language."""
    t = ctx.translations(None)
    from scheduler.pollreport import digest_lines

    async with ctx.sessions() as session:
        data = await collect(session, since, until, ctx.settings.tz)
        extra = await digest_lines(t, session, ctx.settings.tz, until)
    text = "\n".join([render(t, ctx.catalog, data, ctx.settings.tz, title), *extra])
    name = Path("charts") / f"{until:%Y%m%d}-{uuid.uuid4().hex[:12]}.png"
    chart = await asyncio.to_thread(
        draw_chart, t, ctx.catalog, data, ctx.settings.attachments_dir / name
    )
    return text, chart


def digest_day(now: datetime, tz: ZoneInfo) -> str:
    return now.astimezone(tz).date().isoformat()


def digest_window(job: str, now: datetime, tz: ZoneInfo) -> tuple[str, datetime | None, datetime]:
    """(period, since, until) of a digest job at `now`; since None means "since the last one"."""
    local = now.astimezone(tz)
    if job == "daily_digest":
        return digest_day(now, tz), None, now
    if job == "weekly_digest":  # Monday's summary of the last seven days
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}", now - timedelta(days=7), now
    # The first of the month: the previous calendar month, for the monthly briefing.
    this_month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    return f"{last_month:%Y-%m}", last_month, this_month


async def run_digest(ctx: JobContext, job: str, force: bool = False) -> int:
    """Send the digest of the current period, once; `force` sends it again (the operator's
    `jobs run NAME --force`, e.g. after binding the leaders chat). Returns chats reached."""
    period, since, until = digest_window(job, datetime.now(UTC), ctx.settings.tz)
    return await send_digest(ctx, job, period, since, until, force)


async def daily_digest(ctx: JobContext) -> int:
    """Today's digest since the previous one; a second run the same day sends nothing."""
    return await run_digest(ctx, "daily_digest")


async def weekly_digest(ctx: JobContext) -> int:
    return await run_digest(ctx, "weekly_digest")


async def monthly_digest(ctx: JobContext) -> int:
    return await run_digest(ctx, "monthly_digest")


def _of_period(period: str) -> Any:
    """This period's runs: the first, and any forced repeats (`2026-12-03/2`)."""
    return or_(
        col(JobRun.period) == period, col(JobRun.period).startswith(f"{period}/", autoescape=True)
    )


async def sent_at(ctx: JobContext, job: str) -> tuple[str, datetime | None]:
    """The current period of `job`, and when its digest went out (None: not yet)."""
    period, _, _ = digest_window(job, datetime.now(UTC), ctx.settings.tz)
    async with ctx.sessions() as session:
        first = (
            await session.execute(
                select(JobRun.created_at)
                .where(JobRun.job == job, _of_period(period))
                .order_by(col(JobRun.id))
                .limit(1)
            )
        ).scalar_one_or_none()
    return period, _aware(first) if first is not None else None


TITLES = {
    "daily_digest": N_("📋 Daily digest, {since} – {until}"),
    "weekly_digest": N_("📋 Weekly summary, {since} – {until}"),
    "monthly_digest": N_("📋 Monthly summary, {since} – {until}"),
}


async def send_digest(
    ctx: JobContext,
    job: str,
    period: str,
    since: datetime | None,
    until: datetime,
    force: bool = False,
) -> int:
    """Send one digest to every leaders chat, exactly once per job and period unless forced."""
    from storage.admin import bindings_for

    async with ctx.sessions() as session:
        done = (
            await session.execute(
                select(func.count())
                .select_from(JobRun)
                .where(JobRun.job == job, _of_period(period))
            )
        ).scalar_one()
        last = (  # the end of the previous period's digest: where this one starts
            await session.execute(
                select(JobRun.period_end)
                .where(JobRun.job == job, not_(_of_period(period)))
                .order_by(col(JobRun.id).desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        bound = bool(await bindings_for(session, "leaders"))
    if done and not force:
        return 0
    if not bound:
        # Nothing to send, so nothing is recorded: a leaders chat bound later the same day
        # still gets today's digest from `jobs run`.
        log.info("%s for %s: no leaders chat is bound", job, period)
        return 0
    if done:  # a forced repeat: its own run row and outbox keys, so it is really sent
        period = f"{period}/{done + 1}"
    if since is None:
        since = _aware(last) if last is not None else until - timedelta(days=1)
    text, chart = await build(ctx, since, until, TITLES[job])
    rel = chart.relative_to(ctx.settings.attachments_dir).as_posix()
    try:
        sent = await _record_and_enqueue(ctx, job, period, until, text, rel)
    except IntegrityError:
        # A concurrent run (the start-up catch-up meeting the timer) recorded it first.
        log.info("%s for %s was already sent by another run", job, period)
        return 0
    if ctx.delivery is not None:
        ctx.delivery.wake()
    return sent


async def _record_and_enqueue(
    ctx: JobContext, job: str, period: str, until: datetime, text: str, rel: str
) -> int:
    """The run's unique (job, period) row and its messages, in one transaction."""
    from storage.admin import bindings_for
    from storage.outbox import enqueue

    sent = 0
    async with ctx.sessions() as session, session.begin():
        session.add(JobRun(job=job, period=period, period_end=until))
        await session.flush()  # the unique (job, period) row: a concurrent second run fails here
        for binding in await bindings_for(session, "leaders"):
            key = f"{job}:{period}:{binding.channel}:{binding.chat_id}"
            await enqueue(session, f"{key}:text", binding.channel, binding.chat_id, {"text": text})
            await enqueue(
                session,
                f"{key}:chart",
                binding.channel,
                binding.chat_id,
                {"kind": "photo", "path": rel, "caption": t_caption(ctx)},
            )
            sent += 1
    return sent


def t_caption(ctx: JobContext) -> str:
    t = ctx.translations(None)
    return t("Intake and resolution over the last 14 days")
