"""What a simulated month returns: the simulator's tally, the figures the issue asks for, the
targets, and every check of the database against the tally."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.simulate.org import LEADERS_CHAT, STAFF_CHAT, Organisation
from bot.simulate.plan import CasePlan, PollPlan
from bot.simulate.run import Month
from bot.simulate.tally import (
    Check,
    Ladder,
    Tally,
    Target,
    due_time,
    expected_status,
    host_group,
    hot_latencies,
    ladder,
    lateness,
    percentile,
    rate_peaks,
    share,
    told_outcome,
)
from bot.simulate.wire import Wire
from handlers.slaclock import effective_due
from scheduler.delivery import DEFAULT_LIMITS
from scheduler.nudges import load_rules
from storage import admin, outbox
from storage.pollresults import compliance, response_rate
from storage.polls import all_polls, rounds_of
from storage.scoreboard import case_events, due_times

HOT_ALERT_SECONDS = 5.0


@dataclass
class MonthResult:
    """`tally`: what the simulator did; `figures`: the month's measures by name (hours, shares
    from 0 to 1, seconds); `targets` and `checks` must all be ok; `errors` are actions the
    product did not answer as expected."""

    org: Organisation
    cases: list[CasePlan]
    wire: Wire
    tally: Tally
    figures: dict[str, Any]
    targets: list[Target]
    checks: list[Check]
    errors: list[str]
    ladder: Ladder
    start: datetime
    end: datetime
    jobs_run: list[tuple[str, datetime]] = field(default_factory=list)
    polls_done: list[tuple[PollPlan, str, datetime]] = field(default_factory=list)
    restarts: list[datetime] = field(default_factory=list)  # the server back after a scenario

    @property
    def ok(self) -> bool:
        return (
            not self.errors and all(c.ok for c in self.checks) and all(t.ok for t in self.targets)
        )


def _hours(deltas: list[timedelta]) -> list[float]:
    return [d.total_seconds() / 3600 for d in deltas]


def case_figures(month: Month) -> dict[str, Any]:
    filed = [c for c in month.cases if c.filed_at is not None]
    ack = _hours([c.acked_at - c.filed_at for c in filed if c.acked_at and c.filed_at])
    done = _hours([c.resolved_at - c.filed_at for c in filed if c.resolved_at and c.filed_at])
    latencies, missing = hot_latencies(month.cases, month.wire)
    finished, told = told_outcome(month.cases, month.wire)
    on_time = due_seen = 0
    for c in filed:
        due = due_time(c, month.core.catalog)
        if due is None or c.rejected_at is not None:
            continue
        late = lateness(c, due, month.end).open_late  # the clock paused while it waited
        resolved = c.resolved_at is not None and not (
            c.disputed_at is not None and c.disputed_at > c.resolved_at
        )
        if not resolved and not late:
            continue  # not due yet (or waiting for the reporter), not resolved
        due_seen += 1
        on_time += resolved and not late
    return {
        "hot_alerts": len(latencies) + missing,
        "hot_alerts_missing": missing,
        "hot_alert_p50_s": percentile(latencies, 0.5),
        "hot_alert_max_s": max(latencies, default=0.0),
        "ack_p50_h": percentile(ack, 0.5),
        "ack_p90_h": percentile(ack, 0.9),
        "resolve_p50_h": percentile(done, 0.5),
        "resolve_p90_h": percentile(done, 0.9),
        "on_time_share": share(on_time, due_seen),
        "finished": finished,
        "told_share": share(told, finished),
    }


async def poll_checks(month: Month) -> tuple[dict[str, Any], list[Check]]:
    """Per round: responses the simulator gave against the database's count; for the
    situation report, units on time, late and missing per kind of unit."""
    figures: dict[str, Any] = {}
    checks: list[Check] = []
    done = Counter(round_id for _poll, round_id, _at in month.poll_done)
    host = month.org.host_kinds
    async with month.core.sessions() as session:
        for poll in await all_polls(session):
            for rnd in await rounds_of(session, poll.id or 0):
                invited, responded = await response_rate(session, rnd.id or 0)
                name = f"{poll.key} {rnd.period}"
                checks.append(Check(f"responses to {name}", done[str(rnd.id)], responded))
                figures[f"response rate {name}"] = share(responded, invited)
                if poll.kind != "sitrep":
                    continue
                result = await compliance(session, rnd.id or 0)
                groups: dict[str, Counter[str]] = {}
                for unit in result.units:
                    if unit.code in host:
                        groups.setdefault(host_group(host[unit.code]), Counter())[unit.status] += 1
                for group, counts in sorted(groups.items()):
                    figures[f"sitrep {name} {group}"] = dict(counts)
    return figures, checks


async def case_checks(month: Month, tally: Tally) -> list[Check]:
    autoclose = timedelta(days=month.core.settings.case_autoclose_days)
    async with month.core.sessions() as session:
        rows = await admin.list_reports(session, limit=1_000_000)
        sent_rows = (await outbox.counts(session)).get("sent", 0)
    by_code = {r["code"]: r for r in rows}
    mismatched = []
    for case in month.cases:
        if case.code is None:
            continue
        want = expected_status(case, autoclose, month.end)
        got = by_code.get(case.code, {}).get("status")
        near = case.resolved_at and abs(month.end - case.resolved_at - autoclose) < timedelta(
            hours=2
        )
        if got != want and not (near and {got, want} <= {"resolved", "closed"}):
            mismatched.append(f"{case.code}: {got} (expected {want})")
    filed = {c.code for c in month.cases if c.code}
    return [
        Check("reports filed", tally.reports, len(rows)),
        Check("hot reports", tally.hot, sum(r["urgency"] == "hot" for r in rows)),
        Check(
            "by anonymity", dict(tally.by_anonymity), dict(Counter(r["anonymity"] for r in rows))
        ),
        Check("by channel", dict(tally.by_channel), dict(Counter(r["channel"] for r in rows))),
        Check("case codes", sorted(filed), sorted(by_code)),
        Check("statuses as the simulator left them", [], mismatched[:10]),
        Check("messages received = outbox rows sent", len(month.wire.sent), sent_rows),
    ]


def targets(month: Month, figures: dict[str, Any], lad: Ladder) -> list[Target]:
    rules = load_rules(month.core.settings.data_file("nudges.yaml"))
    owned = in_time = 0
    for c in month.cases:
        if c.filed_at is None:
            continue
        hours = rules.per(rules.unacknowledged_hours, "hot" if c.hot else "normal")
        limit = c.filed_at + timedelta(hours=hours)
        if limit <= month.end or c.acked_at is not None:
            owned += 1
            in_time += c.acked_at is not None and c.acked_at <= limit
    peaks = rate_peaks(month.wire)
    over = 0
    for channel, (token, private, group) in peaks.items():
        limits = DEFAULT_LIMITS.get(channel)
        if limits is not None:
            over += (token > limits.per_second) + (private > limits.per_chat_per_second)
            over += group > limits.per_group_per_minute
    figures["owner_share"] = share(in_time, owned)
    figures["overdue"], figures["nudged_share"] = lad.overdue, share(lad.nudged, lad.overdue)
    figures["escalation_due"] = lad.due_for_escalation
    figures["escalated_share"] = share(lad.escalated, lad.due_for_escalation)
    figures["rate_peaks"] = peaks
    hot_ok = figures["hot_alerts_missing"] == 0 and figures["hot_alert_max_s"] <= HOT_ALERT_SECONDS
    return [
        Target(
            "hot alerts within 5 s",
            figures["hot_alert_max_s"],
            "max ≤ 5 s, none missing",
            hot_ok,
            unit="s",
        ),
        Target(
            "cases with an owner in the rule hours",
            figures["owner_share"],
            "100%",
            in_time == owned,
        ),
        Target("overdue cases nudged", figures["nudged_share"], "100%", lad.nudged == lad.overdue),
        Target(
            "cases past the ladder escalated",
            figures["escalated_share"],
            "100%",
            lad.escalated == lad.due_for_escalation,
        ),
        Target(
            "reporters told the outcome",
            figures["told_share"],
            "100%",
            figures["told_share"] == 1.0,
        ),
        Target("sends over a platform limit", over, "0", over == 0),
    ]


def _when(moment: datetime | None, month: Month) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(month.core.settings.tz).strftime("%d/%m %H:%M")


async def ladder_facts(month: Month, lad: Ladder) -> dict[str, list[str]]:
    """For each case the ladder check missed: what the simulator did to it, the due time as the
    tally and as the product count it, its status changes, and the ⏰/🚨 messages naming it.
    The product's SLA code is used here only to show its side, never to judge."""
    codes = lad.missed_codes
    by_code = {c.code: c for c in month.cases if c.code in codes}
    async with month.core.sessions() as session:
        dues = await due_times(session, codes)
        events = await case_events(session, [i for i, _ in dues.values()])
    facts: dict[str, list[str]] = {}
    for code in codes:
        case, (rid, due_at) = by_code[code], dues.get(code, (0, None))
        evs = events.get(rid, [])
        handled = case.resolved_at or month.end
        tally_due = due_time(case, month.core.catalog)
        late = lateness(case, tally_due, month.end) if tally_due else None
        steps = ", ".join(f"{_when(at, month)} {what}" for at, what in case.history)
        lines = [
            f"{'hot' if case.hot else 'normal'}, {case.department.code}; filed "
            f"{_when(case.filed_at, month)}; {steps}",
            f"due: tally {_when(tally_due, month)}, late while open "
            f"{late.open_late if late else '-'} from {_when(late.since if late else None, month)}; "
            f"product: set {_when(due_at, month)}, effective at {_when(handled, month)} "
            f"{_when(effective_due(due_at, evs, handled), month)}",
            "events: "
            + "; ".join(
                f"{_when(e.at, month)} {e.action} {e.from_status}→{e.to_status}" for e in evs
            ),
        ]
        chats = {
            (case.department.channel, case.department.chat_id): "dept",
            STAFF_CHAT: "staff",
            LEADERS_CHAT: "leaders",
        }
        for chat, name in chats.items():
            sends = [
                f"{_when(s.at, month)} {s.text.splitlines()[0][:60]!r}"
                for s in month.wire.to(*chat)
                if code in s.text and ("⏰" in s.text or "🚨" in s.text)
            ]
            lines.append(f"⏰/🚨 to {name}: {'; '.join(sends) or 'none'}")
        facts[code] = lines
    return facts


async def collect(month: Month) -> MonthResult:
    tally = Tally.of(
        month.cases, timedelta(days=month.core.settings.case_autoclose_days), month.end
    )
    tally.poll_answers = sum(p.kind == "poll" for p, _, _ in month.poll_done)
    tally.sitreps_filed = sum(p.kind == "sitrep" for p, _, _ in month.poll_done)
    figures = case_figures(month)
    rules = load_rules(month.core.settings.data_file("nudges.yaml"))
    lad = ladder(month.cases, month.wire, month.core.catalog, rules, month.end, month.digests_from)
    if lad.missed:
        lad.facts = await ladder_facts(month, lad)
    goals = targets(month, figures, lad)
    poll_figures, checks = await poll_checks(month)
    figures.update(poll_figures)
    checks += await case_checks(month, tally)
    checks.append(
        Check(
            "hot alerts sent = hot reports",
            tally.hot,
            figures["hot_alerts"] - figures["hot_alerts_missing"],
        )
    )
    return MonthResult(
        month.org,
        month.cases,
        month.wire,
        tally,
        figures,
        goals,
        checks,
        month.errors,
        lad,
        month.start,
        month.end,
        month.jobs_run,
        month.poll_done,
        month.restarts,
    )
