"""A situation report imported after a round's due time does not invite anyone to a report
already late: the next round is the first. A round owed while the server was down still opens,
and its invitation says plainly that it is late."""

from __future__ import annotations

import pytest
import time_machine
from sqlmodel import select

from bot.app import Core
from scheduler.polls import run_polls
from storage.models import PollRound
from tests.polls_helpers import POLLS, bind, load_poll, outbox, person
from tests.test_cli_trust import cli
from tests.test_sitreps import at


async def periods(core: Core) -> list[str]:
    async with core.sessions() as session:
        return [r.period for r in (await session.execute(select(PollRound))).scalars()]


async def test_imported_after_the_due_day_the_first_round_is_next_months(core: Core) -> None:
    await person(core, "k1", "contact", "U001")
    with time_machine.travel(at(1, 9), tick=False) as clock:  # 1 November: October was due 28/10
        await load_poll(core, "sitrep-monthly", audience={"roles": ["contact"], "units": ["U001"]})
        assert await run_polls(core) == 0
        assert await periods(core) == [] and await outbox(core, "k1") == []
        clock.move_to(at(20, 8))
        assert await run_polls(core) == 1
    assert await periods(core) == ["2026-11"]
    [invitation] = await outbox(core, "k1")
    assert "Hạn nộp 17:00 28/11/2026" in invitation.payload["text"]


async def test_imported_before_the_due_day_the_current_round_opens(core: Core) -> None:
    await person(core, "k1", "contact", "U001")
    with time_machine.travel(at(25, 9, month=10), tick=False):  # three days left to file
        await load_poll(core, "sitrep-monthly", audience={"roles": ["contact"], "units": ["U001"]})
        assert await run_polls(core) == 1
    assert await periods(core) == ["2026-10"]


async def test_a_round_missed_while_down_opens_late_and_says_so(core: Core) -> None:
    await person(core, "k1", "contact", "U001", locale="en")
    await person(core, "s1", "secretary", "U001")
    await bind(core, "staff", "staff-room")
    with time_machine.travel(at(15, 9, month=10), tick=False) as clock:
        await load_poll(core, "sitrep-monthly", audience={"roles": ["contact"], "units": ["U001"]})
        clock.move_to(at(1, 9))  # the server was down from 19 October to 1 November
        assert await run_polls(core) == 1  # the invitation alone: no reminder, nobody told yet
        assert await periods(core) == ["2026-10"]
        invitation = (await outbox(core, "k1"))[0].payload["text"]
        assert "was due at 17:00 28/10/2026" in invitation and "late" in invitation
        assert "It is due at" not in invitation
        clock.move_to(at(3, 9, 1))  # two days after the late invitation: its secretary
        await run_polls(core)
        assert [m.chat_id for m in await outbox(core) if ":escalate:" in m.idempotency_key] == [
            "s1"
        ]


async def test_the_operator_importing_after_the_due_day_is_told_when_it_opens(
    core: Core, capsys: pytest.CaptureFixture[str]
) -> None:
    with time_machine.travel(at(1, 9), tick=False):
        out = await cli(core, capsys, "poll", "import", str(POLLS / "sitrep-monthly.yaml"))
        assert "A round is open now" not in out and "opens on day 20" in out
        out = await cli(core, capsys, "sitrep", "status")
    assert "2026-10" not in out and "no round yet" in out
