"""The SLA pause is one rule: a case waiting for the reporter is neither nudged as overdue nor
counted overdue on the scoreboard, and both move its due time on by the same wait."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from handlers.types import ChatKind
from reports.scoreboard import collect_scoreboard
from tests.test_casework_rules import person
from tests.test_nudges import T0, flush, report, setup


async def overdue_on_the_scoreboard(core, at) -> int:
    async with core.sessions() as session:
        board = await collect_scoreboard(
            session, at - timedelta(days=7), at, core.settings.tz, now=at
        )
    return sum(d.overdue for d in board.departments)


async def test_waiting_for_the_reporter_pauses_the_nudges_and_the_scoreboard_alike(core):
    recorder = await setup(core)
    with time_machine.travel(T0, tick=False):
        reporter = await report(core, "8301", urgency=2)  # hot: due 24 h after acknowledging
        staff = await person(core, "8302", "staff")
        staff.chat_kind, staff.chat_id = ChatKind.GROUP, "staff-room"
        await staff.press_data("c:1:ack:0")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        await staff.press_data("c:1:ask:1")
        await staff.say("Ở phòng nào?")
    # Still waiting at +30 h, past the 24 h: no overdue nudge, not overdue on the scoreboard.
    assert await flush(core, T0 + timedelta(hours=30)) == 0
    assert await overdue_on_the_scoreboard(core, T0 + timedelta(hours=30)) == 0
    with time_machine.travel(T0 + timedelta(hours=30), tick=False):
        await reporter.say("Phòng hành chính, tầng 2.")
    # 29 h waited: due at +53 h, for the nudges and for the scoreboard.
    assert await flush(core, T0 + timedelta(hours=52)) == 0
    assert await overdue_on_the_scoreboard(core, T0 + timedelta(hours=52)) == 0
    assert await flush(core, T0 + timedelta(hours=54)) == 1
    assert await overdue_on_the_scoreboard(core, T0 + timedelta(hours=54)) == 1
    assert any("⏰ PA-0001" in r for r in recorder.to("staff-room"))
