"""The loop's promises, over a few simulated days of a small organisation (bot/simulate): every
target met and every database count equal to the simulator's own tally, through a department
absent for days, the server down over the morning digest, a change of daylight-saving time, and
the turn of a month and of a year."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import build_core
from bot.simulate import MonthResult, Scale, Scenario, simulate
from bot.simulate.org import LEADERS_CHAT
from tests.conftest import make_settings

Build = Callable[..., object]


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
    start = datetime(2026, 10, 23, 0, 0, tzinfo=berlin)  # summer time ends on Sunday the 25th
    down_from = datetime(2026, 10, 27, 7, 0, tzinfo=berlin)  # over Tuesday's 07:30 digest
    scale = replace(Scale.small(), hot_share=0.5)  # hot cases climb the ladder within days
    result = await run(
        tmp_path,
        migrated_sqlite,
        "Europe/Berlin",
        start,
        6,
        seed=5,
        scale=scale,
        scenarios=[
            Scenario.absent_department(timedelta(0), timedelta(days=6), index=0),
            Scenario.server_down(down_from - start, timedelta(hours=2)),
        ],
    )
    assert failures(result) == []
    assert result.tally.reports >= 5 and result.tally.hot >= 2
    absent = result.org.departments[0]
    assert any(c.department == absent and c.code for c in result.cases)
    assert result.ladder.overdue >= 1 and result.ladder.due_for_escalation >= 1
    # One morning digest a day at 07:30 local time, on both sides of the change of time; the one
    # missed while the server was down is sent once, when it is back at 09:00.
    sent = [moment.astimezone(berlin) for moment in digests(result, "📋 Bản tin hằng ngày")]
    assert [m.day for m in sent] == [23, 24, 25, 26, 27, 28]
    late = sent[4]
    assert (late.hour, late.minute) == (9, 0)
    assert all((m.hour, m.minute) == (7, 30) for m in sent if m != late)
    assert [m.utcoffset() for m in (sent[1], sent[3])] == [timedelta(hours=2), timedelta(hours=1)]


async def test_month_end_and_year_end(tmp_path: Path, migrated_sqlite: Path) -> None:
    hanoi = ZoneInfo("Asia/Ho_Chi_Minh")
    start = datetime(2026, 12, 29, 0, 0, tzinfo=hanoi)
    result = await run(
        tmp_path, migrated_sqlite, "Asia/Ho_Chi_Minh", start, 4, seed=7, scale=Scale.small()
    )
    assert failures(result) == []
    monthly = digests(result, "📋 Tổng hợp tháng")
    assert [m.astimezone(hanoi) for m in monthly] == [datetime(2027, 1, 1, 8, 0, tzinfo=hanoi)]
    text = next(
        s.text for s in result.wire.to(*LEADERS_CHAT) if s.text.startswith("📋 Tổng hợp tháng")
    )
    assert "01/12/2026" in text and "31/12/2026" in text
    daily = [
        m.astimezone(hanoi).date().isoformat() for m in digests(result, "📋 Bản tin hằng ngày")
    ]
    assert daily == ["2026-12-29", "2026-12-30", "2026-12-31", "2027-01-01"]
    codes = [c.code for c in result.cases if c.code]
    assert codes == [f"PA-{n:04d}" for n in range(1, len(codes) + 1)]  # no break at the new year
