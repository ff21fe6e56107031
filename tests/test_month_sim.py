"""The loop's promises, over a few simulated days of a small organisation (bot/simulate): every
target met and every database count equal to the simulator's own tally, through a department
absent for days, the server down over the morning digest, a change of daylight-saving time, and
the turn of a month and of a year."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import build_core
from bot.simulate import MonthResult, Scale, Scenario, simulate
from bot.simulate.clock import SimClock
from bot.simulate.org import LEADERS_CHAT, Department, Person
from bot.simulate.plan import CasePlan
from bot.simulate.tally import Lateness, due_time, ladder, lateness
from bot.simulate.wire import Sent, Wire
from handlers.forms import load_catalog
from scheduler.nudges import load_rules
from scheduler.ratelimit import Limits, RateLimiter
from tests.conftest import make_settings


async def run(
    tmp_path: Path, migrated_sqlite: Path, tz: str, start: datetime, days: int, **kw: object
) -> MonthResult:
    shutil.copyfile(migrated_sqlite, tmp_path / "month.db")
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'month.db'}", timezone=tz)
    core = await build_core(settings)
    try:
        return await simulate(core, start=start, days=days, **kw)  # type: ignore[arg-type]
    finally:
        await core.close()


def digests(result: MonthResult, title: str) -> list[datetime]:
    """When each digest with this title reached the leaders' chat."""
    return [s.at for s in result.wire.to(*LEADERS_CHAT) if s.text.startswith(title)]


def failures(result: MonthResult) -> list[str]:
    return (
        [f"{t.name}: {t.value}" for t in result.targets if not t.ok]
        + [f"{c.name}: {c.expected} != {c.actual}" for c in result.checks if not c.ok]
        + result.errors
    )


async def test_daylight_saving_an_absent_department_and_the_server_down_over_the_digest(
    tmp_path: Path, migrated_sqlite: Path
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 10, 24, 0, 0, tzinfo=berlin)  # summer time ends on Sunday the 25th
    down_from = datetime(2026, 10, 26, 7, 0, tzinfo=berlin)  # over Monday's 07:30 digest
    scale = replace(Scale.small(), hot_share=0.5)  # hot cases fall due within the days
    result = await run(
        tmp_path,
        migrated_sqlite,
        "Europe/Berlin",
        start,
        3,
        seed=5,
        scale=scale,
        scenarios=[
            Scenario.absent_department(timedelta(0), timedelta(days=3), index=0),
            Scenario.server_down(down_from - start, timedelta(hours=2)),
        ],
    )
    assert failures(result) == []
    assert result.tally.reports >= 3 and result.tally.hot >= 1
    absent = result.org.departments[0]
    assert not [c for c in result.cases if c.department == absent and c.resolved_at]
    # One morning digest a day at 07:30 local time, on both sides of the change of time; the one
    # missed while the server was down is sent once, when it is back at 09:00.
    sent = [moment.astimezone(berlin) for moment in digests(result, "📋 Bản tin hằng ngày")]
    assert [(m.day, m.hour, m.minute) for m in sent] == [(24, 7, 30), (25, 7, 30), (26, 9, 0)]
    assert [m.utcoffset() for m in sent] == [
        timedelta(hours=2),
        timedelta(hours=1),
        timedelta(hours=1),
    ]


async def test_month_end_and_year_end(tmp_path: Path, migrated_sqlite: Path) -> None:
    hanoi = ZoneInfo("Asia/Ho_Chi_Minh")
    start = datetime(2026, 12, 31, 0, 0, tzinfo=hanoi)
    result = await run(
        tmp_path, migrated_sqlite, "Asia/Ho_Chi_Minh", start, 2, seed=7, scale=Scale.small()
    )
    assert failures(result) == []
    leaders = result.wire.to(*LEADERS_CHAT)
    monthly = [s for s in leaders if s.text.startswith("📋 Tổng hợp tháng")]
    assert [s.at.astimezone(hanoi) for s in monthly] == [datetime(2027, 1, 1, 8, 0, tzinfo=hanoi)]
    assert monthly[0].text.startswith("📋 Tổng hợp tháng 12/2026\n")  # December, by its name
    daily = [
        m.astimezone(hanoi).date().isoformat() for m in digests(result, "📋 Bản tin hằng ngày")
    ]
    assert daily == ["2026-12-31", "2027-01-01"]
    codes = [c.code for c in result.cases if c.code]
    assert codes == [f"PA-{n:04d}" for n in range(1, len(codes) + 1)]  # no break at the new year


async def test_a_rate_held_group_chat_is_served_once_the_simulated_clock_reaches_its_slot() -> None:
    """The demo hung on a staff-chat row: the chat's bucket was a hair (in float arithmetic)
    short of a token, the wait was under a microsecond and the clock did not move, so the drain
    asked again for ever. Each wait must move the clock and free the chat."""
    staff_chat = "-1001000000001"
    with SimClock(datetime(2026, 12, 1, 2, 30, 24, tzinfo=ZoneInfo("UTC"))) as clock:
        limiter = RateLimiter(Limits(), clock)
        for _ in range(60):  # one group chat, 20 a minute: three simulated minutes
            waits = 0
            while (delay := limiter.delay_for(staff_chat)) > 0:
                clock.advance(delay)
                waits += 1
                assert waits <= 2, f"a wait of {delay} s did not free the chat"
            await limiter.acquire(staff_chat)
        assert clock.utcnow() < datetime(2026, 12, 1, 2, 33, 30, tzinfo=ZoneInfo("UTC"))
        for _ in range(1000):  # a wait far under a float's resolution of 1e9 seconds moves it too
            before = clock.utcnow()
            clock.advance(1e-9)
            assert clock.utcnow() > before


# -- the ladder check's own rule (bot/simulate/tally.py), from the simulator's record alone ------

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=ZoneInfo("UTC"))  # 08:00 in Hanoi
DUE = T0 + timedelta(days=3)


def case_with(*steps: tuple[float, str]) -> CasePlan:
    """A normal case acknowledged at T0 (due three days later), then `steps` (hours, what)."""
    dept = Department("UBKT", "Kiểm tra", "telegram", "-100200", ())
    person = Person(1, "telegram", "42", "member")
    case = CasePlan(
        0, T0, person, 0, False, "named", False, None, dept, timedelta(0), timedelta(0),
        ask=False, answers=False, outcome="open", reporter_says="never",
    )  # fmt: skip
    case.code, case.acked_at = "PA-0001", T0
    case.history = [(T0, "acked"), *((T0 + timedelta(hours=h), what) for h, what in steps)]
    return case


def test_the_clock_pauses_while_the_case_waits_for_the_reporter() -> None:
    # Asked on day 1 and never answered: waiting, not late, however long the month runs.
    waiting = lateness(case_with((24, "asked")), DUE, T0 + timedelta(days=30))
    assert waiting == Lateness(timedelta(0), None)
    # Answered after 50 hours: the due time moves on by 50 hours.
    answered = lateness(case_with((24, "asked"), (74, "answered")), DUE, DUE + timedelta(days=3))
    assert answered == Lateness(timedelta(days=3, hours=-50), DUE + timedelta(hours=50))
    # The department resolving while it waits ends the wait too; a late answer changes nothing.
    steps = ((24, "asked"), (48, "resolved"), (60, "answered"))
    assert lateness(case_with(*steps), DUE, T0 + timedelta(days=30)).open_late == timedelta(0)


def test_a_reopened_case_is_late_only_while_open_and_keeps_its_due_time() -> None:
    end = T0 + timedelta(days=30)
    # Resolved on day 1, disputed on day 5 (past the due time: late at once), resolved on day 6.
    reopened = case_with((24, "resolved"), (120, "disputed"), (144, "resolved"))
    assert lateness(reopened, DUE, end) == Lateness(timedelta(days=1), T0 + timedelta(days=5))
    # Disputed and never resolved again: late from the dispute to the end.
    still_open = case_with((24, "resolved"), (120, "disputed"))
    assert lateness(still_open, DUE, end).open_late == timedelta(days=25)


def test_the_ladder_check_wants_a_reminder_and_a_digest_escalation_for_a_late_open_case() -> None:
    case = case_with()  # never handled: open and late from DUE to the end
    catalog, rules = load_catalog(), load_rules()
    due = due_time(case, catalog)
    assert due is not None
    end = due + timedelta(days=5)
    dept, wire = case.department, Wire()
    assert ladder([case], wire, catalog, rules, end).missed == [
        "PA-0001 not nudged",
        "PA-0001 not escalated",
    ]
    wire.sent.append(
        Sent(due - timedelta(hours=1), dept.channel, dept.chat_id, "text", "⏰ PA-0001")
    )
    wire.sent.append(Sent(due + timedelta(days=4), *LEADERS_CHAT, "text", "🚨 …\n• PA-0001"))
    for sent in wire.sent:
        wire.by_chat[sent.channel, sent.chat_id].append(sent)
    # A reminder before the case fell due does not count.
    assert ladder([case], wire, catalog, rules, end).missed == ["PA-0001 not nudged"]
    # Escalated three days after the due time: its digest may come a day later than the
    # ladder's slack, so a month ending before that asks for no 🚨 yet.
    short = ladder([case], Wire(), catalog, rules, due + timedelta(days=3, hours=13))
    assert (short.overdue, short.due_for_escalation) == (1, 0)
