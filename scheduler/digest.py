"""The digest jobs: the leaders' daily digest, weekly and monthly summaries, each sent once per
period to every leaders chat. Figures and text come from reports.digest."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.i18n import N_
from reports.digest import build, chart_caption
from scheduler.context import JobContext
from storage.admin import bindings_for
from storage.jobruns import (
    RunAlreadyRecorded,
    first_run_at,
    previous_period_end,
    record_run,
    runs_in_period,
)
from storage.outbox import enqueue

log = logging.getLogger(__name__)


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


async def sent_at(ctx: JobContext, job: str) -> tuple[str, datetime | None]:
    """The current period of `job`, and when its digest went out (None: not yet)."""
    period, _, _ = digest_window(job, datetime.now(UTC), ctx.settings.tz)
    async with ctx.sessions() as session:
        return period, await first_run_at(session, job, period)


TITLES = {
    "daily_digest": N_("📋 Daily digest, {since} – {until}"),
    "weekly_digest": N_("📋 Weekly summary, {since} – {until}"),
    "monthly_digest": N_("📋 Monthly summary, {month}"),
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
    async with ctx.sessions() as session:
        done = await runs_in_period(session, job, period)
        last = await previous_period_end(session, job, period)  # where this one starts
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
        since = last if last is not None else until - timedelta(days=1)
    text, chart = await build(ctx, since, until, TITLES[job], scoreboard=job != "daily_digest")
    rel = chart.relative_to(ctx.settings.attachments_dir).as_posix()
    try:
        sent = await _record_and_enqueue(ctx, job, period, until, text, rel)
    except RunAlreadyRecorded:
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
    caption = chart_caption(ctx.translations(None))
    sent = 0
    async with ctx.sessions() as session, session.begin():
        await record_run(session, job, period, until)
        for binding in await bindings_for(session, "leaders"):
            key = f"{job}:{period}:{binding.channel}:{binding.chat_id}"
            await enqueue(session, f"{key}:text", binding.channel, binding.chat_id, {"text": text})
            await enqueue(
                session,
                f"{key}:chart",
                binding.channel,
                binding.chat_id,
                {"kind": "photo", "path": rel, "caption": caption},
            )
            sent += 1
    return sent
