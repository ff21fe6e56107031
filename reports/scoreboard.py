"""The leaders' scoreboard: who is on time. Per department and per unit, with trends against
the previous period, for the weekly and monthly digest, the dashboard and the monthly DOCX.

How deadlines count (docs/scoreboard.md says it for readers):

- the SLA clock pauses while a case waits for the reporter (`needs_info`), as Zammad's pending
  states do: a case's effective due time is its due time plus the time it has waited since the
  due time was last set. The nudge ladder (scheduler.nudges) uses the same `effective_due`, so a
  case is never nudged as overdue while it counts as on time here;
- a case is on time when it was resolved no later than its effective due time;
- a department or unit with fewer than `MIN_FOR_RATE` cases in the period is shown as counts
  ("2 of 2"), never as a rate.

Reports filed per unit include hidden reports, so that column is published through
reports.suppression; the departments' figures are about their named work and shown as they are.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.casework import Action
from handlers.i18n import N_, Translator
from handlers.slaclock import OPEN_VALUES, overdue
from handlers.slaclock import effective_due as effective_due  # the rule, for its readers here
from handlers.slaclock import waiting_time as waiting_time
from reports.suppression import Cell, mask_small
from storage.db import Session
from storage.pollresults import compliance, rounds_between, unit_rates
from storage.scoreboard import ScoreCase, period_cases, reports_per_unit

MIN_FOR_RATE = 3  # fewer cases than this: counts, not rates (issue 14)
HISTORY_DAYS = 92  # situation reports and polls: "the last months", about three


def is_overdue(case: ScoreCase, now: datetime) -> bool:
    return overdue(case.status, case.due_at, case.events, now)


def resolved_on_time(case: ScoreCase) -> bool | None:
    """None for a case not resolved, or resolved without a due time."""
    if case.resolved_at is None:
        return None
    due = effective_due(case.due_at, case.events, case.resolved_at)
    return None if due is None else case.resolved_at <= due


# -- the figures -----------------------------------------------------------------------------------
@dataclass
class DeptScore:
    name: str  # "" for cases not assigned to a department yet
    received: int = 0
    open: int = 0
    overdue: int = 0
    resolved: int = 0  # resolved in the period with a due time: the on-time denominator
    on_time: int = 0
    ack_hours: list[float] = field(default_factory=list)
    resolve_hours: list[float] = field(default_factory=list)
    reopened: int = 0  # the reporter said "not resolved"
    ratings: list[int] = field(default_factory=list)

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.resolved if self.resolved >= MIN_FOR_RATE else None

    @property
    def median_ack(self) -> float | None:
        return statistics.median(self.ack_hours) if self.ack_hours else None

    @property
    def median_resolve(self) -> float | None:
        return statistics.median(self.resolve_hours) if self.resolve_hours else None


@dataclass
class UnitScore:
    code: str
    name: str
    reports: int = 0
    hidden: int = 0
    sitreps_due: int = 0
    sitreps_on_time: int = 0
    sitreps_late: int = 0
    invited: int = 0  # poll invitations
    responded: int = 0


@dataclass
class Scoreboard:
    since: datetime
    until: datetime
    departments: list[DeptScore]
    units: list[UnitScore]
    previous: Scoreboard | None = None
    min_group_size: int = 3

    def department(self, name: str) -> DeptScore | None:
        return next((d for d in self.departments if d.name == name), None)

    def unit(self, code: str) -> UnitScore | None:
        return next((u for u in self.units if u.code == code), None)


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


def _within(at: datetime | None, since: datetime, until: datetime) -> bool:
    return at is not None and since <= at < until


def department_scores(
    cases: Iterable[ScoreCase], since: datetime, until: datetime, now: datetime
) -> list[DeptScore]:
    """Per department (by name; "" = not assigned yet), busiest first. Open and overdue are as
    of `now` (the period's end when it is past); times to acknowledge and to resolve are of the
    cases acknowledged or resolved in the period, as the digest counts them."""
    scores: dict[str, DeptScore] = {}
    for c in cases:
        s = scores.setdefault(c.department, DeptScore(c.department))
        s.received += _within(c.created_at, since, until)
        s.open += c.status in OPEN_VALUES
        s.overdue += is_overdue(c, now)
        if c.acknowledged_at is not None and _within(c.acknowledged_at, since, until):
            s.ack_hours.append(_hours(c.created_at, c.acknowledged_at))
        if c.resolved_at is not None and _within(c.resolved_at, since, until):
            s.resolve_hours.append(_hours(c.created_at, c.resolved_at))
            on_time = resolved_on_time(c)
            if on_time is not None:
                s.resolved += 1
                s.on_time += on_time
        s.reopened += sum(
            1 for e in c.events if e.action == Action.DISPUTE and _within(e.at, since, until)
        )
        if c.rating is not None and _within(c.closed_at, since, until):
            s.ratings.append(c.rating)
    return sorted(scores.values(), key=lambda s: (s.name == "", -s.received, s.name))


def previous_period(since: datetime, until: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period before: the previous calendar month for a calendar month, else the same
    length just before."""
    start, end = since.astimezone(tz), until.astimezone(tz)
    month_start = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start == month_start and end.day == 1 and (end - start) > timedelta(days=27):
        before = (start - timedelta(days=1)).replace(day=1)
        first = datetime.combine(before.date(), datetime.min.time(), tzinfo=tz)
        return first.astimezone(UTC), since
    return since - (until - since), since


async def _unit_history(session: Session, units: dict[str, UnitScore], until: datetime) -> None:
    """Situation-report compliance and poll response per unit over the last months."""
    start = until - timedelta(days=HISTORY_DAYS)
    for rnd in await rounds_between(session, "sitrep", "due_at", start, until):
        assert rnd.id is not None
        for u in (await compliance(session, rnd.id)).units:
            if (score := units.get(u.code)) is not None:
                score.sitreps_due += 1
                score.sitreps_on_time += u.status == "on_time"
                score.sitreps_late += u.status == "late"
    for rnd in await rounds_between(session, "poll", "closes_at", start, until):
        assert rnd.id is not None
        for rate in await unit_rates(session, rnd.id):
            if (score := units.get(rate.code)) is not None:
                score.invited += rate.invited
                score.responded += rate.responded


async def collect_scoreboard(
    session: Session,
    since: datetime,
    until: datetime,
    tz: ZoneInfo,
    min_group_size: int = 3,
    now: datetime | None = None,
    with_previous: bool = True,
) -> Scoreboard:
    """The scoreboard of [since, until), with the previous period's for the trends."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    at = min(until, now or datetime.now(UTC))
    cases = await period_cases(session, since, until)
    units = {
        u.code: UnitScore(u.code, u.name, u.reports, u.hidden)
        for u in await reports_per_unit(session, since, until)
    }
    await _unit_history(session, units, until)
    board = Scoreboard(
        since,
        until,
        department_scores(cases, since, until, at),
        list(units.values()),
        min_group_size=min_group_size,
    )
    if with_previous:
        before, after = previous_period(since, until, tz)
        board.previous = await collect_scoreboard(
            session, before, after, tz, min_group_size, now, with_previous=False
        )
    return board


# -- how figures read --------------------------------------------------------------------------------
def share(t: Translator, part: int, whole: int) -> str:
    """A rate as a percentage, or as counts when there are too few cases for a rate."""
    if whole == 0:
        return "—"
    if whole < MIN_FOR_RATE:
        return t("{part} of {whole}", part=part, whole=whole)
    return f"{round(100 * part / whole)}%"


def hours(t: Translator, value: float | None) -> str:
    return t("{hours} h", hours=f"{value:.1f}") if value is not None else "—"


def trend(t: Translator, now: float | None, before: float | None, shown: str = "") -> str:
    """An arrow and words against the previous period: "↑ up from 3". Empty when either
    period has no figure."""
    if now is None or before is None:
        return ""
    was = shown or (f"{before:g}")
    if abs(now - before) < 1e-9:
        return t("→ same as before")
    if now > before:
        return t("↑ up from {before}", before=was)
    return t("↓ down from {before}", before=was)


def _with_trend(value: str, change: str) -> str:
    return f"{value} ({change})" if change else value


def rating_text(t: Translator, ratings: list[int]) -> str:
    if not ratings:
        return "—"
    if len(ratings) < MIN_FOR_RATE:
        return t("{count} ratings", count=len(ratings))
    return t("{mean}/5 ({count})", mean=f"{statistics.mean(ratings):.1f}", count=len(ratings))


def department_label(t: Translator, name: str) -> str:
    return name or t("Not assigned yet")


DEPARTMENT_HEAD = (
    N_("Department"),
    N_("Cases received"),
    N_("Still open"),
    N_("Overdue"),
    N_("Resolved on time"),
    N_("Median time to acknowledge"),
    N_("Median time to resolve"),
    N_("Reopened as not resolved"),
    N_("Reporter rating"),
)


def department_rows(t: Translator, board: Scoreboard) -> list[list[str]]:
    """One row of readable cells per department, trends included; the head is DEPARTMENT_HEAD."""
    rows = []
    for d in board.departments:
        was = board.previous.department(d.name) if board.previous else None
        rate = d.on_time_rate
        before_rate = was.on_time_rate if was else None
        rows.append(
            [
                department_label(t, d.name),
                _with_trend(str(d.received), trend(t, d.received, was.received if was else None)),
                str(d.open),
                str(d.overdue),
                _with_trend(
                    share(t, d.on_time, d.resolved),
                    trend(
                        t,
                        rate,
                        before_rate,
                        share(t, was.on_time, was.resolved) if was else "",
                    ),
                ),
                hours(t, d.median_ack),
                _with_trend(
                    hours(t, d.median_resolve),
                    trend(
                        t,
                        d.median_resolve,
                        was.median_resolve if was else None,
                        hours(t, was.median_resolve if was else None),
                    ),
                ),
                str(d.reopened),
                rating_text(t, d.ratings),
            ]
        )
    return rows


UNIT_HEAD = (
    N_("Unit"),
    N_("Reports filed"),
    N_("Situation reports on time (last 3 months)"),
    N_("Poll responses (last 3 months)"),
)


def published_reports(board: Scoreboard) -> dict[str, str]:
    """Reports filed per unit as they may be published: a unit's count that holds hidden
    reports and is under the smallest group is withheld (reports.suppression)."""
    k = board.min_group_size
    masked = mask_small((Cell(u.code, u.reports, u.hidden) for u in board.units), k)
    return {f.key: f.shown(k) for f in masked.figures}


def unit_rows(t: Translator, board: Scoreboard) -> list[list[str]]:
    """One row per unit: reports filed (suppressed, with the trend only where both periods'
    counts are published), situation reports on time and poll responses over the last months."""
    shown = published_reports(board)
    before = published_reports(board.previous) if board.previous else {}
    rows = []
    for u in board.units:
        change = ""
        if shown[u.code].isdecimal() and before.get(u.code, "").isdecimal():
            change = trend(t, u.reports, int(before[u.code]))
        rows.append(
            [
                u.name,
                _with_trend(shown[u.code], change),
                share(t, u.sitreps_on_time, u.sitreps_due),
                share(t, u.responded, u.invited),
            ]
        )
    return rows


LOW_RESPONSE = 0.5  # a unit answering fewer than half of its poll invitations needs a look


def needs_attention(u: UnitScore) -> bool:
    """Reports filed, a situation report late or missing, or few poll answers."""
    few_answers = u.invited > 0 and u.responded < u.invited * LOW_RESPONSE
    return u.reports > 0 or u.sitreps_on_time < u.sitreps_due or few_answers


def _attention_order(u: UnitScore) -> tuple[float, float, int, str]:
    """Worst situation-report record first, then lowest poll response, then most reports."""
    sitreps = u.sitreps_on_time / u.sitreps_due if u.sitreps_due else 1.0
    polls = u.responded / u.invited if u.invited else 1.0
    return sitreps, polls, -u.reports, u.code


def attention_rows(t: Translator, board: Scoreboard) -> tuple[list[list[str]], str]:
    """The rows of the units that need attention, in that order, and one line counting the
    quiet others ("" when there are none): a leader reads ten rows, not a hundred of zeros."""
    rows = dict(zip((u.code for u in board.units), unit_rows(t, board), strict=True))
    loud = sorted((u for u in board.units if needs_attention(u)), key=_attention_order)
    quiet = len(board.units) - len(loud)
    line = (
        t("{count} other units: no reports filed, no situation report late or missing", count=quiet)
        if quiet
        else ""
    )
    return [rows[u.code] for u in loud], line


# -- the digest's section -------------------------------------------------------------------------
DIGEST_UNITS = 5  # units named in a digest per list: the full table is on the dashboard


def digest_lines(t: Translator, board: Scoreboard) -> list[str]:
    """The scoreboard for the weekly and monthly digest: one line per department, then the
    units that filed most and those behind on situation reports."""
    head = [t(h) for h in DEPARTMENT_HEAD]
    lines = ["", t("📊 Who is on time, against the previous period:")]
    for row in department_rows(t, board):
        name, *cells = row
        pairs = [f"{label}: {value}" for label, value in zip(head[1:], cells, strict=True)]
        lines.append(f"• {name} · " + " · ".join(pairs))
    if not board.departments:
        lines.append(t("No cases in this period."))
    lines += _unit_digest_lines(t, board)
    return lines


def _unit_digest_lines(t: Translator, board: Scoreboard) -> list[str]:
    rows = dict(zip((u.code for u in board.units), unit_rows(t, board), strict=True))
    shown = published_reports(board)
    busiest = sorted(
        (u for u in board.units if shown[u.code].isdecimal() and u.reports),
        key=lambda u: (-u.reports, u.code),
    )[:DIGEST_UNITS]
    lines = []
    if busiest:
        lines += ["", t("🏢 Units that filed most reports:")]
        lines += [f"• {rows[u.code][0]}: {rows[u.code][1]}" for u in busiest]
    behind = sorted(
        (u for u in board.units if u.sitreps_on_time < u.sitreps_due),
        key=lambda u: (u.sitreps_on_time / u.sitreps_due, u.code),
    )
    if behind:
        lines += ["", t("📝 Units behind on situation reports (last 3 months):")]
        for u in behind[:DIGEST_UNITS]:
            _, _, sitreps, polls = rows[u.code]
            lines.append(
                "• "
                + t(
                    "{unit}: on time {sitreps} · poll responses {polls}",
                    unit=u.name,
                    sitreps=sitreps,
                    polls=polls,
                )
            )
        if len(behind) > DIGEST_UNITS:
            lines.append(t("…and {count} more units.", count=len(behind) - DIGEST_UNITS))
    return lines
