"""The leaders' digest as text and a chart, in the organisation's language: its figures come
from storage.digests; the text is split at each channel's limit by the adapters."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from handlers.forms import Catalog
from handlers.i18n import Translator
from handlers.org import HOST_KINDS
from handlers.status import status_label
from handlers.text import labelled
from reports.context import ReportContext
from reports.periods import month_label, period_ends
from reports.polls import digest_lines
from reports.scoreboard import collect_scoreboard, effective_due
from reports.scoreboard import digest_lines as scoreboard_lines
from reports.suppression import OTHER, merged_note, other_label, published_digest
from reports.topics import emerging_topics, topic_lines
from storage.db import Session
from storage.digests import CHART_DAYS, DigestData, collect
from storage.scoreboard import case_events, due_times


def render(
    t: Translator, catalog: Catalog, data: DigestData, tz: ZoneInfo, title: str | None = None
) -> str:
    since, until = period_ends(data.since, data.until, tz)
    month = month_label(t, data.since.astimezone(tz).date())
    head = t(title or "📋 Daily digest, {since} – {until}", since=since, until=until, month=month)
    if data.total == 0 and not data.newly_overdue and not data.resolved and not data.escalated:
        return "\n".join(
            [
                head,
                "",
                t("Nothing new since the last digest. Open cases: {count}.", count=data.open_now),
            ]
        )

    def category(code: str) -> str:
        return category_label(t, catalog, code)

    lines = [
        head,
        "",
        t("New reports: {total} ({hot} hot).", total=data.total, hot=data.by_urgency.get("hot", 0)),
    ]
    lines += breakdown_lines(t, catalog, data)
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


def breakdown_lines(t: Translator, catalog: Catalog, data: DigestData) -> list[str]:
    """By category and by kind of unit, as published (small hidden groups merged)."""
    lines = []
    if data.by_category:
        lines += ["", t("By category:")]
        lines += [f"• {category_label(t, catalog, c)}: {n}" for c, n in data.by_category]
    if data.by_host_kind:
        lines += ["", t("By kind of unit:")]
        lines += [f"• {kind_label(t, k)}: {n}" for k, n in data.by_host_kind]
    if note := merged_note(t, data):
        lines.append(note)
    return lines


def category_label(t: Translator, catalog: Catalog, code: str) -> str:
    """A category's name, or "Other" for small groups merged (reports.suppression)."""
    if code == OTHER:
        return other_label(t)
    cat = catalog.category(code)
    return cat.label(t.locale) if cat else code


def kind_label(t: Translator, kind: str) -> str:
    """A kind of unit's name, or "Other" for small groups merged."""
    return other_label(t) if kind == OTHER else t(HOST_KINDS.get(kind, kind))


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
    codes = [c.code for c in catalog.categories] + [OTHER]  # small groups merged last
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), dpi=100, sharex=True)
    base = [0] * len(days)
    for code in codes:
        values = [counts.get(code, 0) for _, counts, _, _ in data.daily]
        if any(values):
            top.bar(days, values, bottom=base, label=category_label(t, catalog, code))
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


async def collect_published(
    ctx: ReportContext,
    session: Session,
    since: datetime,
    until: datetime,
    chart_days: int = CHART_DAYS,
) -> DigestData:
    """The digest's figures as they may be published: breakdowns of hidden reports suppressed
    (reports.suppression), the same way for the digest, the dashboard and the monthly report."""
    data = await collect(session, since, until, ctx.settings.tz, chart_days=chart_days)
    data.newly_overdue = await still_overdue(session, data.newly_overdue, until)
    return published_digest(data, ctx.settings.min_group_size)


async def still_overdue(
    session: Session, listed: list[tuple[str, str]], until: datetime
) -> list[tuple[str, str]]:
    """The newly overdue cases less those the SLA pause keeps on time: one waiting for its
    reporter is not overdue, for the digest as for the nudges (reports.scoreboard)."""
    if not listed:
        return listed
    at = min(until, datetime.now(UTC))
    due = await due_times(session, [code for code, _ in listed])
    events = await case_events(session, [i for i, _ in due.values()])
    kept = []
    for code, dept in listed:
        case_id, set_due = due[code]
        effective = effective_due(set_due, events.get(case_id, []), at)
        if effective is not None and effective < at:
            kept.append((code, dept))
    return kept


async def build(
    ctx: ReportContext,
    since: datetime,
    until: datetime,
    title: str | None = None,
    scoreboard: bool = False,
) -> tuple[str, Path]:
    """The digest text and its chart, in the organisation's language; the weekly and monthly
    ones carry the scoreboard (the daily stays short)."""
    t = ctx.translations(None)
    board: list[str] = []
    async with ctx.sessions() as session:
        data = await collect_published(ctx, session, since, until)
        extra = await digest_lines(t, session, ctx.settings.tz, until)
        topics = topic_lines(t, await emerging_topics(session, until))
        if scoreboard:
            board = scoreboard_lines(
                t,
                await collect_scoreboard(
                    session, since, until, ctx.settings.tz, ctx.settings.min_group_size
                ),
            )
    head = render(t, ctx.catalog, data, ctx.settings.tz, title)
    text = "\n".join([head, *board, *topics, *extra])
    name = Path("charts") / f"{until:%Y%m%d}-{uuid.uuid4().hex[:12]}.png"
    chart = await asyncio.to_thread(
        draw_chart, t, ctx.catalog, data, ctx.settings.attachments_dir / name
    )
    return text, chart


def chart_caption(t: Translator) -> str:
    return t("Intake and resolution over the last 14 days")
