"""The nudge ladder: unacknowledged reports, overdue cases, escalation to leaders, abandoned
drafts. Thresholds are data; every nudge is recorded so none repeats within its interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from reports.scoreboard import effective_due
from scheduler.context import JobContext
from storage.admin import bindings_for
from storage.casecards import case_owner_chats
from storage.db import Session
from storage.models import Conversation, Report
from storage.nudges import drop_report_draft, idle_conversations, open_cases, record_nudge
from storage.outbox import enqueue
from storage.scoreboard import case_events
from storage.store import SqlStore

NUDGES_FILE = Path(__file__).resolve().parent.parent / "handlers" / "data" / "nudges.yaml"


class NudgeError(Exception):
    """nudges.yaml is invalid; start-up stops rather than silently skip the ladder."""


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: time
    end: time

    def contains(self, at: time) -> bool:
        if self.start <= self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end


class NudgeRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quiet_hours: QuietHours
    unacknowledged_hours: dict[str, float]
    overdue_repeat_hours: dict[str, float]
    escalate_after_days: dict[str, float]
    draft_reminder_minutes: float
    draft_expiry_days: float

    def per(self, table: dict[str, float], urgency: str) -> float:
        return table.get(urgency, table.get("normal", 24))


def load_rules(path: Path = NUDGES_FILE) -> NudgeRules:
    try:
        return NudgeRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise NudgeError(f"{path}: cannot read ({exc})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        raise NudgeError(f"{path}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None


@dataclass
class Counts:
    unacknowledged: int = 0
    overdue: int = 0
    escalated: int = 0
    drafts: int = 0
    expired_drafts: int = 0

    def total(self) -> int:
        return self.unacknowledged + self.overdue + self.escalated + self.drafts


async def run_nudges(ctx: JobContext) -> int:
    rules = load_rules(ctx.settings.data_file("nudges.yaml"))
    now = datetime.now(UTC)
    local = now.astimezone(ctx.settings.tz).time()
    if rules.quiet_hours.contains(local):
        return 0  # held back: the buckets are still unsent, so they go out when quiet hours end
    counts = Counts()
    async with ctx.sessions() as session, session.begin():
        cases = await open_cases(session)
        # The SLA clock pauses while a case waits for the reporter: the same effective due
        # time as the scoreboard's on-time figure (reports.scoreboard).
        past_due = [r.id for r in cases if r.due_at is not None and r.due_at <= now]
        events = await case_events(session, [i for i in past_due if i is not None])
        for report in cases:
            if report.status == "new":
                await _unacknowledged(ctx, session, rules, report, now, counts)
            due = effective_due(report.due_at, events.get(report.id or 0, []), now)
            if due is not None and due <= now:
                await _overdue(ctx, session, rules, report, due, now, counts)
        await _drafts(ctx, session, rules, now, counts)
    if counts.total() and ctx.delivery is not None:
        ctx.delivery.wake()
    return counts.total()


async def _unacknowledged(
    ctx: JobContext,
    session: Session,
    rules: NudgeRules,
    report: Report,
    now: datetime,
    counts: Counts,
) -> None:
    """The staff chats hear of a new case again each interval it waits unacknowledged."""
    age = now - report.created_at
    every = timedelta(hours=rules.per(rules.unacknowledged_hours, report.urgency))
    if age < every:
        return
    bucket = str(int(age / every))
    if not await record_nudge(session, f"report:{report.id}", "unacknowledged", bucket):
        return
    t = ctx.translations(None)
    text = t(
        "⏳ {code} has waited {hours} hours without being acknowledged.",
        code=report.code,
        hours=int(age.total_seconds() // 3600),
    )
    for b in await bindings_for(session, "staff"):
        await enqueue(
            session,
            f"nudge:unack:{report.id}:{bucket}:{b.chat_id}",
            b.channel,
            b.chat_id,
            {"text": text},
        )
    counts.unacknowledged += 1


async def _overdue(
    ctx: JobContext,
    session: Session,
    rules: NudgeRules,
    report: Report,
    due: datetime,
    now: datetime,
    counts: Counts,
) -> None:
    """The owner is reminded each interval a case is overdue (past its effective `due`); long
    overdue, it is escalated (once), and a hot one is told to the leaders."""
    t = ctx.translations(None)
    late = now - due
    every = timedelta(hours=rules.per(rules.overdue_repeat_hours, report.urgency))
    bucket = str(int(late / every))
    if await record_nudge(session, f"report:{report.id}", "overdue", bucket):
        text = t(
            "⏰ {code} is overdue by {hours} hours. Please act on it or set a new due date.",
            code=report.code,
            hours=int(late.total_seconds() // 3600),
        )
        for channel, chat_id in await case_owner_chats(session, report):
            await enqueue(
                session,
                f"nudge:overdue:{report.id}:{bucket}:{chat_id}",
                channel,
                chat_id,
                {"text": text},
            )
        counts.overdue += 1
    escalate = timedelta(days=rules.per(rules.escalate_after_days, report.urgency))
    if late < escalate or not await record_nudge(session, f"report:{report.id}", "escalated", "1"):
        return
    counts.escalated += 1
    if report.urgency != "hot":
        return
    text = t(
        "🚨 Hot case {code} is {days} days overdue and has been escalated to the leaders.",
        code=report.code,
        days=late.days,
    )
    for b in await bindings_for(session, "leaders"):
        await enqueue(
            session,
            f"nudge:escalated:{report.id}:{b.chat_id}",
            b.channel,
            b.chat_id,
            {"text": text},
        )


async def _drafts(
    ctx: JobContext, session: Session, rules: NudgeRules, now: datetime, counts: Counts
) -> None:
    """One reminder for an abandoned report draft; after the expiry the draft is dropped."""
    idle = now - timedelta(minutes=rules.draft_reminder_minutes)
    for conv in await idle_conversations(session, idle):
        draft = (conv.state.get("forms") or {}).get("report")
        if not draft or not draft.get("step"):
            continue
        if now - conv.updated_at > timedelta(days=rules.draft_expiry_days):
            drop_report_draft(session, conv)
            counts.expired_drafts += 1
            continue
        bucket = conv.updated_at.isoformat()
        if await record_nudge(session, f"draft:{conv.channel}:{conv.user_id}", "draft", bucket):
            await _remind_draft(ctx, session, conv, bucket)
            counts.drafts += 1


async def _remind_draft(ctx: JobContext, session: Session, conv: Conversation, bucket: str) -> None:
    locale = conv.state.get("locale")
    person = await SqlStore(session).person_for(conv.channel, conv.user_id)
    t = ctx.translations((person.locale if person else None) or locale)
    text = t(
        "You have an unfinished report. Send /report to continue where you left off, or /cancel to discard it."
    )
    await enqueue(
        session,
        f"nudge:draft:{conv.channel}:{conv.user_id}:{bucket}",
        conv.channel,
        conv.chat_id,
        {"text": text},
    )
