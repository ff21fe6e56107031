"""The SLA pause is one rule: a case waiting for the reporter is neither nudged as overdue nor
counted overdue on the scoreboard, and both move its due time on by the same wait."""

from __future__ import annotations

from datetime import timedelta

import time_machine

from handlers.types import ChatKind
from reports.scoreboard import collect_scoreboard
from storage.casequery import CaseFilter, case_page
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


async def listed_overdue(core, at) -> list[str]:
    async with core.sessions() as session:
        rows, _ = await case_page(session, CaseFilter(overdue=True), at, None, 20)
        every, _ = await case_page(session, CaseFilter(), at, None, 20)
    assert all(r.overdue(at) == (r in rows) for r in every)  # the row's mark agrees
    return [r.code for r in rows]


async def test_waiting_for_the_reporter_is_not_overdue_in_the_lists_or_on_the_card(core):
    await setup(core)
    with time_machine.travel(T0, tick=False):
        reporter = await report(core, "8311", urgency=2)  # hot: due 24 h after acknowledging
        staff = await person(core, "8312", "staff")
        await staff.press_data("c:1:ack:0")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        await staff.press_data("c:1:ask:1")
        await staff.say("Ở phòng nào?")

    async def seen_overdue(hours: int) -> tuple[list[str], str, str]:
        at = T0 + timedelta(hours=hours)
        with time_machine.travel(at, tick=False):
            listed = "\n".join(await staff.say("/cases overdue"))
            card = "\n".join(await staff.say("/case PA-0001"))
        return await listed_overdue(core, at), listed, card

    # Waiting at +30 h, past its set due time (+24 h): overdue nowhere.
    rows, chat, card = await seen_overdue(30)
    assert rows == [] and "PA-0001" not in chat and "(overdue)" not in card
    with time_machine.travel(T0 + timedelta(hours=30), tick=False):
        await reporter.say("Phòng hành chính, tầng 2.")
    # 29 h waited: due at +53 h.
    rows, chat, card = await seen_overdue(52)
    assert rows == [] and "PA-0001" not in chat and "(overdue)" not in card
    rows, chat, card = await seen_overdue(54)
    assert rows == ["PA-0001"] and "PA-0001 · " in chat and "⏰" in chat and "(overdue)" in card
