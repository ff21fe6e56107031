"""The polls job: open rounds when their time comes, remind non-responders, escalate late
situation reports, and close rounds with their results for the leaders.

It works from state, not from the clock's ticks: every run looks at what should be true now
and makes it so, once. A run missed while the process was down is made up by the next one,
and a second run finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import calendar
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from handlers.callbacks import PollInvitation, encode
from handlers.i18n import Translator
from handlers.polldefs import PollDef, pick
from handlers.types import TYPED_CHANNELS
from reports.polls import draw_results_chart, render_compliance, render_results
from scheduler.context import JobContext
from scheduler.nudges import load_rules
from storage.admin import bindings_for
from storage.db import Session
from storage.models import OrgUnit, Poll, PollRound
from storage.nudges import record_nudge
from storage.outbox import enqueue, enqueue_many
from storage.pollresults import compliance, late_units, round_results, units_missing
from storage.polls import (
    active_polls,
    audience,
    claim_closing,
    create_round,
    invite_all,
    invited_people,
    invited_units,
    non_responders,
    open_rounds,
    recipients,
    secretaries_of,
)


@dataclass(frozen=True)
class Window:
    period: str
    opens_at: datetime
    due_at: datetime
    closes_at: datetime


def _local(d: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, at, tzinfo=tz).astimezone(UTC)


def _month_window(defn: PollDef, year: int, month: int, tz: ZoneInfo) -> Window:
    s = defn.schedule
    last_day = calendar.monthrange(year, month)[1]
    opens = _local(date(year, month, s.open_day), s.open_time, tz)
    due = _local(date(year, month, min(s.due_day, last_day)), s.due_time, tz)
    ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
    closes = _local(date(ny, nm, s.open_day), s.open_time, tz)
    return Window(f"{year:04d}-{month:02d}", opens, due, closes)


def current_windows(
    defn: PollDef, now: datetime, tz: ZoneInfo, imported: datetime | None = None
) -> list[Window]:
    """The rounds that should be open at `now`. A situation report's round already past its
    due time when the poll was `imported` is not one: its contact points would be invited to
    a report late before they could file it. The next round is their first."""
    s = defn.schedule
    window = timedelta(hours=s.window_hours)
    if defn.kind == "sitrep":
        local = now.astimezone(tz)
        py, pm = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
        candidates = [
            _month_window(defn, py, pm, tz),
            _month_window(defn, local.year, local.month, tz),
        ]
        return [
            w
            for w in candidates
            if w.opens_at <= now < w.closes_at and (imported is None or imported < w.due_at)
        ]
    if s.once is not None:
        opens = (s.once if s.once.tzinfo else s.once.replace(tzinfo=tz)).astimezone(UTC)
        closes = opens + window
        period = opens.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        return [Window(period, opens, closes, closes)] if opens <= now < closes else []
    assert s.cron is not None
    trigger = CronTrigger.from_crontab(s.cron, timezone=tz)
    fire = trigger.get_next_fire_time(None, now - window)
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    if latest is None:
        return []
    opens = latest.astimezone(UTC)
    period = latest.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return [Window(period, opens, opens + window, opens + window)]


def _when(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%H:%M %d/%m/%Y")


def _button(t: Translator, round_id: int, channel: str) -> list[list[str]]:
    return (
        [] if channel in TYPED_CHANNELS else [[encode(PollInvitation(round_id)), t("Answer now")]]
    )


def _how_to_start(t: Translator, channel: str) -> str:
    if channel in TYPED_CHANNELS:
        return t("Send /poll to start.")
    return t("Press the button or send /poll to start.")


def _invitation(t: Translator, defn: PollDef, w: Window, late: bool, tz: ZoneInfo) -> str:
    if late:
        return t(
            "📝 The situation report for {period} is open: {title}. It was due at {due}, so it is already late: please file it as soon as you can.",
            period=w.period,
            title=pick(defn.title, t.locale),
            due=_when(w.due_at, tz),
        )
    if defn.kind == "sitrep":
        return t(
            "📝 The situation report for {period} is open: {title}. It is due at {due}.",
            period=w.period,
            title=pick(defn.title, t.locale),
            due=_when(w.due_at, tz),
        )
    return t(
        "📊 New poll: {title}. Please answer by {deadline}.",
        title=pick(defn.title, t.locale),
        deadline=_when(w.closes_at, tz),
    )


# -- opening ---------------------------------------------------------------------------------------
async def open_round(ctx: JobContext, poll: Poll, w: Window) -> int:
    """Create the round, its invitations and the invitation messages in one transaction."""
    defn = PollDef.model_validate(poll.definition)
    tz = ctx.settings.tz
    now = datetime.now(UTC)
    late = defn.kind == "sitrep" and w.due_at <= now  # owed while the server was down
    # A late round opens now: the reminders it missed are not sent on top of its invitation.
    opens = now if late else w.opens_at
    async with ctx.sessions() as session, session.begin():
        rnd = await create_round(session, poll, w.period, opens, w.due_at, w.closes_at)
        if rnd is None:
            return 0
        assert rnd.id is not None
        people = await audience(session, defn)
        await invite_all(session, rnd.id, people)
        invitations = []
        for r in await recipients(session, [pid for pid, _ in people]):
            t = ctx.translations(r.locale)
            head = _invitation(t, defn, w, late, tz)
            intro = pick(defn.intro, t.locale) if defn.intro else ""
            text = "\n\n".join(p for p in (head, intro, _how_to_start(t, r.channel)) if p)
            invitations.append(
                (
                    f"poll:{rnd.id}:invite:{r.person_id}",
                    r.channel,
                    r.chat_id,
                    {"text": text, "choices": _button(t, rnd.id, r.channel)},
                )
            )
        # One statement: one at a time, 5,000 invitations held the write lock for seconds.
        await enqueue_many(session, invitations)
    return len(people)


# -- reminders and escalation ------------------------------------------------------------------------
def _latest_step(
    offsets: list[float], anchor: datetime, opens: datetime, now: datetime
) -> float | None:
    """The most recent reminder time already passed (anchor + offset hours), skipping times
    before the round opened; earlier missed ones are not sent late as well."""
    passed = [h for h in offsets if opens < anchor + timedelta(hours=h) <= now]
    return max(passed, key=lambda h: anchor + timedelta(hours=h)) if passed else None


def _reminder(t: Translator, defn: PollDef, rnd: PollRound, now: datetime, tz: ZoneInfo) -> str:
    if defn.kind == "sitrep" and now > rnd.due_at:
        return t(
            "⏰ Your unit's situation report for {period} was due at {due} and has not been filed. Please file it now: send /poll.",
            period=rnd.period,
            due=_when(rnd.due_at, tz),
        )
    if defn.kind == "sitrep":
        return t(
            "⏰ Reminder: your unit's situation report for {period} is due at {due}. Send /poll to file it.",
            period=rnd.period,
            due=_when(rnd.due_at, tz),
        )
    return t(
        "⏰ Reminder: the poll “{title}” closes at {deadline}. Your answer counts: send /poll.",
        title=pick(defn.title, t.locale),
        deadline=_when(rnd.closes_at, tz),
    )


async def remind(ctx: JobContext, rnd: PollRound, now: datetime) -> int:
    assert rnd.id is not None
    defn = PollDef.model_validate(rnd.definition)
    if defn.kind == "sitrep":
        step = _latest_step(defn.reminders_hours, rnd.due_at, rnd.opens_at, now)
    else:
        step = _latest_step([-h for h in defn.reminders_hours], rnd.closes_at, rnd.opens_at, now)
    if step is None:
        return 0
    sent = 0
    async with ctx.sessions() as session, session.begin():
        if not await record_nudge(session, f"round:{rnd.id}", "poll_reminder", f"{step:g}"):
            return 0
        waiting = await non_responders(session, rnd.id)
        if defn.kind == "sitrep":
            late = await late_units(session, rnd.id)
            units = await invited_units(session, rnd.id)
            waiting = [pid for pid in waiting if units.get(pid) in late]
        for r in await recipients(session, waiting):
            t = ctx.translations(r.locale)
            await enqueue(
                session,
                f"poll:{rnd.id}:remind:{step:g}:{r.person_id}",
                r.channel,
                r.chat_id,
                {
                    "text": _reminder(t, defn, rnd, now, ctx.settings.tz),
                    "choices": _button(t, rnd.id, r.channel),
                },
            )
            sent += 1
    return sent


async def escalate(ctx: JobContext, rnd: PollRound, now: datetime) -> int:
    """Late situation reports climb: the unit's secretary first, then the staff chat."""
    assert rnd.id is not None
    defn = PollDef.model_validate(rnd.definition)
    # A round opened late (owed while the server was down) gives its contact points the same
    # time from their invitation before anyone is told.
    late_since = max(rnd.due_at, rnd.opens_at)
    steps = []
    if now >= late_since + timedelta(hours=defn.escalation.secretary_after_hours):
        steps.append("secretary")
    if now >= late_since + timedelta(hours=defn.escalation.staff_after_hours):
        steps.append("staff")
    done = 0
    for step in steps:
        async with ctx.sessions() as session, session.begin():
            if not await record_nudge(session, f"round:{rnd.id}", "sitrep_escalation", step):
                continue
            late = await late_units(session, rnd.id)
            units = await units_missing(session, defn, rnd.id, late)
            if not units:
                continue
            if step == "secretary":
                await _tell_secretaries(ctx, session, rnd, units)
            else:
                await _tell_staff(ctx, session, rnd, units)
            done += 1
    return done


async def _tell_secretaries(
    ctx: JobContext, session: Session, rnd: PollRound, units: list[OrgUnit]
) -> None:
    """Each late unit's secretaries hear about their own unit."""
    for unit in units:
        assert unit.id is not None
        for r in await recipients(session, await secretaries_of(session, unit.id)):
            t = ctx.translations(r.locale)
            text = t(
                "⚠ {unit} has not filed its situation report for {period}, due at {due}. Please ask its contact point to send it.",
                unit=unit.name,
                period=rnd.period,
                due=_when(rnd.due_at, ctx.settings.tz),
            )
            await enqueue(
                session,
                f"poll:{rnd.id}:escalate:secretary:{r.person_id}:{unit.id}",
                r.channel,
                r.chat_id,
                {"text": text},
            )


async def _tell_staff(
    ctx: JobContext, session: Session, rnd: PollRound, units: list[OrgUnit]
) -> None:
    """The staff chats get one list of every unit still missing."""
    t = ctx.translations(None)
    head = t(
        "⚠ Situation reports for {period} still missing ({count}), due at {due}:",
        period=rnd.period,
        count=len(units),
        due=_when(rnd.due_at, ctx.settings.tz),
    )
    text = "\n".join([head] + [f"• {u.code} · {u.name}" for u in units])
    for b in await bindings_for(session, "staff"):
        await enqueue(
            session,
            f"poll:{rnd.id}:escalate:staff:{b.channel}:{b.chat_id}",
            b.channel,
            b.chat_id,
            {"text": text},
        )


# -- closing ---------------------------------------------------------------------------------------
async def close_round(ctx: JobContext, rnd: PollRound) -> int:
    """Close the round and post its results (and chart) to the leaders, exactly once."""
    assert rnd.id is not None
    t = ctx.translations(None)
    tz = ctx.settings.tz
    defn = PollDef.model_validate(rnd.definition)
    async with ctx.sessions() as session:
        if defn.kind == "sitrep":
            text = render_compliance(t, await compliance(session, rnd.id), tz)
            chart_rel = None
        else:
            results = await round_results(session, rnd.id, ctx.settings.min_group_size)
            text = render_results(t, results, tz, rnd.closes_at)
            name = Path("charts") / f"{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:12]}.png"
            chart = await asyncio.to_thread(
                draw_results_chart, t, results, ctx.settings.attachments_dir / name
            )
            chart_rel = (
                chart.relative_to(ctx.settings.attachments_dir).as_posix() if chart else None
            )
    async with ctx.sessions() as session, session.begin():
        if not await claim_closing(session, rnd.id, datetime.now(UTC)):
            return 0  # another run closed it first
        for b in await bindings_for(session, "leaders"):
            key = f"poll:{rnd.id}:results:{b.channel}:{b.chat_id}"
            await enqueue(session, f"{key}:text", b.channel, b.chat_id, {"text": text})
            if chart_rel:
                await enqueue(
                    session,
                    f"{key}:chart",
                    b.channel,
                    b.chat_id,
                    {"kind": "photo", "path": chart_rel, "caption": pick(defn.title, t.locale)},
                )
    return 1


# -- the job ---------------------------------------------------------------------------------------
async def run_polls(ctx: JobContext) -> int:
    now = datetime.now(UTC)
    tz = ctx.settings.tz
    done = 0
    async with ctx.sessions() as session:
        polls = await active_polls(session)
    for poll in polls:
        defn = PollDef.model_validate(poll.definition)
        for w in current_windows(defn, now, tz, imported=poll.updated_at):
            done += await open_round(ctx, poll, w)
    async with ctx.sessions() as session:
        rounds = await open_rounds(session)
    quiet = load_rules(ctx.settings.data_file("nudges.yaml")).quiet_hours
    for rnd in rounds:
        if rnd.closes_at <= now:
            done += await close_round(ctx, rnd)
            continue
        if not quiet.contains(now.astimezone(tz).time()):
            done += await remind(ctx, rnd, now)
        if rnd.definition.get("kind") == "sitrep":
            done += await escalate(ctx, rnd, now)
    if done and ctx.delivery is not None:
        ctx.delivery.wake()
    return done


async def resend_round(
    ctx: JobContext,
    rnd: PollRound,
    also: Callable[[Session, int, int], Awaitable[None]] | None = None,
) -> tuple[int, int]:
    """Invite people who joined the audience since the round opened, and send the invitation
    again to everyone who has not answered. Returns (newly invited, messages queued). The
    invitation rows are unique per person, so nobody can be counted twice. `also` runs in the
    same transaction with those two numbers (the web admin writes its audit entry there)."""
    assert rnd.id is not None
    defn = PollDef.model_validate(rnd.definition)
    tz = ctx.settings.tz
    async with ctx.sessions() as session, session.begin():
        already = await invited_people(session, rnd.id)
        joined = [(pid, uid) for pid, uid in await audience(session, defn) if pid not in already]
        await invite_all(session, rnd.id, joined)
        attempt = 1
        while not await record_nudge(session, f"round:{rnd.id}", "resend", str(attempt)):
            attempt += 1
        queued = 0
        for r in await recipients(session, await non_responders(session, rnd.id)):
            t = ctx.translations(r.locale)
            text = t(
                "📊 Please answer: {title}. Open until {deadline}.",
                title=pick(defn.title, t.locale),
                deadline=_when(rnd.closes_at, tz),
            )
            text += "\n" + _how_to_start(t, r.channel)
            await enqueue(
                session,
                f"poll:{rnd.id}:resend:{attempt}:{r.person_id}",
                r.channel,
                r.chat_id,
                {"text": text, "choices": _button(t, rnd.id, r.channel)},
            )
            queued += 1
        if also is not None:
            await also(session, len(joined), queued)
    if ctx.delivery is not None:
        ctx.delivery.wake()
    return len(joined), queued
