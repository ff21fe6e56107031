"""The month's figures, measured from what the simulator did and what the fake messengers
received; and the checks of every count the database holds against the simulator's own tally
(what it did, not what the database says)."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.simulate import actors
from bot.simulate.org import LEADERS_CHAT, STAFF_CHAT
from bot.simulate.plan import CasePlan
from bot.simulate.wire import Sent, Wire
from handlers.forms import Catalog
from scheduler.nudges import NudgeRules

# A nudge or an escalation due while quiet hours hold it back goes out in the morning; the
# checks give the ladder this much slack past each rung (9.5 quiet hours, the job's 15 minutes).
LADDER_SLACK = timedelta(hours=12)
# A normal case is escalated in the leaders' daily digest (nudges.yaml), a hot one by an alert:
# the normal one's 🚨 may come up to a day after the ladder reached it.
DIGEST_SLACK = timedelta(days=1)
ZERO = timedelta(0)
ENTERPRISE_HOSTS = ("private_enterprise", "state_enterprise_majority", "state_enterprise_minority")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def share(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


def host_group(host_kind: str) -> str:
    """The issue's two kinds of unit: in enterprises, or in agencies and public-service units."""
    return "enterprise" if host_kind in ENTERPRISE_HOSTS else "agency/public service"


@dataclass
class Tally:
    """What the simulator did, counted as it did it."""

    drafts_abandoned: int = 0
    reports: int = 0
    hot: int = 0
    by_anonymity: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    typed_reports: int = 0
    tapped_reports: int = 0
    acknowledged: int = 0
    rejected: int = 0
    asked: int = 0
    answered: int = 0
    resolved: int = 0
    confirmed: int = 0
    disputed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # expected at the end
    poll_answers: int = 0
    sitreps_filed: int = 0

    @classmethod
    def of(cls, cases: list[CasePlan], autoclose: timedelta, end: datetime) -> Tally:
        tally = cls()
        for case in cases:
            if case.code is None:
                tally.drafts_abandoned += "abandoned" in case.events
                continue
            tally.reports += 1
            tally.hot += case.hot
            tally.by_anonymity[case.anonymity] += 1
            tally.by_channel[case.reporter.channel] += 1
            tally.typed_reports += case.typed
            tally.tapped_reports += not case.typed
            tally.acknowledged += case.acked_at is not None
            tally.rejected += case.rejected_at is not None
            tally.asked += case.asked_at is not None
            tally.answered += "answered" in case.events
            tally.resolved += case.resolved_at is not None
            tally.confirmed += case.confirmed_at is not None
            tally.disputed += case.disputed_at is not None
            tally.statuses[expected_status(case, autoclose, end)] += 1
        return tally


def expected_status(case: CasePlan, autoclose: timedelta, end: datetime) -> str:
    """The status the case must have at the end, from what the simulator did to it."""
    if case.rejected_at:
        return "rejected"
    resolved = case.resolved_at
    if resolved is not None and case.disputed_at is not None and resolved < case.disputed_at:
        resolved = None  # disputed since, and not resolved again
    if case.confirmed_at or (resolved is not None and end - resolved > autoclose):
        return "closed"
    if resolved is not None:
        return "resolved"
    if case.disputed_at:
        return "reopened"
    if case.asked_at and "answered" not in case.events:
        return "needs_info"
    if "assigned" in case.events:
        return "assigned"
    return "acknowledged" if case.acked_at else "new"


@dataclass(frozen=True)
class Check:
    """One count the simulator kept, against what the database (or the messengers) hold."""

    name: str
    expected: Any
    actual: Any

    @property
    def ok(self) -> bool:
        return bool(self.expected == self.actual)


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    goal: str  # shown beside the value
    ok: bool
    unit: str = ""  # "s" for a latency; otherwise a share (≤ 1) or a count


def _sends_after(wire: Wire, channel: str, chat_id: str, code: str, since: datetime) -> bool:
    return any(s.at >= since and code in s.text for s in wire.to(channel, chat_id))


def _department_or_staff(wire: Wire, case: CasePlan, mark: str) -> list[Sent]:

    dept = case.department
    return [
        s
        for s in [*wire.to(dept.channel, dept.chat_id), *wire.to(*STAFF_CHAT)]
        if mark in s.text and case.code is not None and case.code in s.text
    ]


@dataclass
class Ladder:
    """The follow-up ladder for the cases left open past their due time."""

    overdue: int = 0
    nudged: int = 0
    due_for_escalation: int = 0
    escalated: int = 0
    missed: list[str] = field(default_factory=list)  # "PA-0042 not nudged", "… not escalated"
    # Per missed case, the facts that explain it (filled by result.collect from the database).
    facts: dict[str, list[str]] = field(default_factory=dict)

    @property
    def missed_codes(self) -> list[str]:
        return sorted({m.split()[0] for m in self.missed})


@dataclass(frozen=True)
class Lateness:
    """How long a case was open past its due time, by the rules (the SLA clock pauses while
    the case waits for the reporter), and when it first was."""

    open_late: timedelta
    since: datetime | None


def lateness(case: CasePlan, due: datetime, end: datetime) -> Lateness:
    """From the simulator's own record of the case (never the product's SLA code): the clock
    runs from acknowledgement; asking the reporter stops it until the answer (or the
    department's next step, if that comes first) and the effective due time moves on by as
    long; a resolution stops the case being open until a dispute reopens it (the due time
    stays: the product does not move it, so a reopened case may be late at once)."""
    waited = late = timedelta(0)
    since: datetime | None = None
    state, mark = "running", case.acked_at
    for at, what in [*sorted(case.history, key=lambda h: h[0]), (end, "end")]:
        if mark is None or at < mark or what == "acked":
            continue
        if state == "running" and what in ("asked", "resolved", "end"):
            start = max(mark, due + waited)  # past the due time as it stood
            if at > start:
                late += at - start
                since = since or start
        elif state == "waiting" and what in ("answered", "resolved", "end"):
            waited += at - mark
        elif not (state == "done" and what == "disputed"):
            continue  # a late answer to a resolved case, or a second question: no change
        state = {"asked": "waiting", "resolved": "done", "end": "done"}.get(what, "running")
        mark = at
    return Lateness(late, since)


def due_time(case: CasePlan, catalog: Catalog) -> datetime | None:
    """The due time set at acknowledgement: the category's hours for the case's urgency."""
    if case.acked_at is None:
        return None
    code = catalog.categories[case.category].code
    return case.acked_at + timedelta(hours=catalog.due_hours(code, "hot" if case.hot else "normal"))


def ladder(
    cases: list[CasePlan],
    wire: Wire,
    catalog: Catalog,
    rules: NudgeRules,
    end: datetime,
    digests_from: datetime | None = None,
) -> Ladder:
    """A case open past due by a reminder interval (plus quiet-hour slack) must have been
    reminded; past the escalation days, escalated to the leaders (a normal case through the
    digest, so not where the simulation ran no digest: `digests_from`)."""
    result = Ladder()
    leaders = [s for s in wire.to(*LEADERS_CHAT) if "🚨" in s.text]
    for case in cases:
        due = due_time(case, catalog)
        if case.code is None or due is None or case.rejected_at is not None:
            continue
        urgency = "hot" if case.hot else "normal"
        late = lateness(case, due, end)
        repeat = timedelta(hours=rules.per(rules.overdue_repeat_hours, urgency))
        if late.open_late < repeat + LADDER_SLACK or late.since is None:
            continue
        result.overdue += 1
        if any(s.at >= late.since for s in _department_or_staff(wire, case, "⏰")):
            result.nudged += 1
        else:
            result.missed.append(f"{case.code} not nudged")
        escalate = timedelta(days=rules.per(rules.escalate_after_days, urgency))
        hot = urgency == "hot"
        if late.open_late < escalate + LADDER_SLACK + (ZERO if hot else DIGEST_SLACK):
            continue
        if not hot and digests_from is not None and late.since + escalate < digests_from:
            continue
        result.due_for_escalation += 1
        if any(case.code in s.text and s.at >= late.since for s in leaders):
            result.escalated += 1
        else:
            result.missed.append(f"{case.code} not escalated")
    return result


def rate_peaks(wire: Wire) -> dict[str, tuple[int, int, int]]:
    """Per channel: the most messages in any one second for the bot, in any one second to a
    private chat, in any minute to a group (Telegram's groups have negative ids)."""
    peaks: dict[str, tuple[int, int, int]] = {}
    by_channel: defaultdict[str, list[Sent]] = defaultdict(list)
    for sent in wire.sent:
        by_channel[sent.channel].append(sent)
    for channel, sends in by_channel.items():
        chats: defaultdict[str, list[datetime]] = defaultdict(list)
        for s in sends:
            chats[s.chat_id].append(s.at)
        token = _peak([s.at for s in sends], timedelta(seconds=1))
        private = max(
            (_peak(t, timedelta(seconds=1)) for c, t in chats.items() if not c.startswith("-")),
            default=0,
        )
        group = max(
            (_peak(t, timedelta(minutes=1)) for c, t in chats.items() if c.startswith("-")),
            default=0,
        )
        peaks[channel] = (token, private, group)
    return peaks


def _peak(times: list[datetime], window: timedelta) -> int:
    """The most moments in any half-open window of this length."""
    best = 0
    recent: deque[datetime] = deque()
    for moment in sorted(times):
        recent.append(moment)
        while moment - recent[0] >= window:
            recent.popleft()
        best = max(best, len(recent))
    return best


def told_outcome(cases: list[CasePlan], wire: Wire) -> tuple[int, int]:
    """(finished cases, whose reporter got a message naming the case after it finished)."""
    finished = told = 0
    for case in cases:
        done = case.resolved_at or case.rejected_at
        if case.code is None or done is None:
            continue
        finished += 1
        reporter = case.reporter
        told += _sends_after(wire, reporter.channel, reporter.user_id, case.code, done)
    return finished, told


def hot_latencies(cases: list[CasePlan], wire: Wire) -> tuple[list[float], int]:
    """Seconds from each hot report to its alert in the leaders' chat; and how many had none."""
    alerts = actors.hot_alerts(wire)
    latencies, missing = [], 0
    for case in cases:
        if case.code is None or not case.hot or case.filed_at is None:
            continue
        if case.code in alerts:
            latencies.append((alerts[case.code] - case.filed_at).total_seconds())
        else:
            missing += 1
    return latencies, missing
