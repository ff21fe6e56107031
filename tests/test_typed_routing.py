"""A typed reply reaches the question it answers (Zalo has no buttons, so everything is typed):
a reporter with several cases waiting on them, and a collaborator with a report draft who is
invited to a poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from bot.app import Core
from handlers.types import ChatKind
from storage.models import Report
from storage.store import SqlStore
from tests.chat import Chat
from tests.polls_helpers import person as registered
from tests.test_casework_rules import person
from tests.test_polls import OPENS, _open

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ANSWER = "Monday, 8 in the morning, at the workshop gate."


async def zalo_reporter(core: Core, reports: int) -> Chat:
    """A member on Zalo, reading English, who filed `reports` reports by typing."""
    chat = Chat(core, user_id="5000", channel="zalo", display_name="Đinh Thị Lan", username="")
    for step in ("/start", "Đinh Thị Lan", "1", "1", "/lang", "2"):
        await chat.say(step)
    for n in range(reports):
        for step in (
            "/report",
            "2",
            "1",
            "1",
            f"Wages unpaid at workshop {n + 1}.",
            "/skip",
            "1",
            "1",
        ):
            await chat.say(step)
        assert f"PA-000{n + 1}" in chat.transcript[-1]
    return chat


async def staff_chat(core: Core) -> Chat:
    staff = await person(core, "7201", "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "-100500"
    return staff


async def ask(staff: Chat, case: int, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        await staff.press_data(f"c:{case}:ack:0")
        await staff.press_data(f"c:{case}:ask:1")
        await staff.say("Which day did it happen?")


async def resolve(staff: Chat, case: int, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        await staff.press_data(f"c:{case}:ack:0")
        await staff.press_data(f"c:{case}:resolve:1")
        await staff.say("Wages were paid on Friday.")


async def reporter_says(chat: Chat, text: str, at: datetime) -> list[str]:
    with time_machine.travel(at, tick=False):
        return await chat.say(text)


async def notes(core: Core, case: int, action: str) -> list[str]:
    async with core.sessions() as session:
        found = await SqlStore(session).case(case)
    assert found is not None
    return [e.note for e in found.events if e.action == action]


async def report(core: Core, case: int) -> Report:
    async with core.sessions() as session:
        return (await session.execute(select(Report).where(Report.id == case))).scalar_one()


async def asked_which_case(core: Core) -> tuple[Chat, list[str]]:
    """Three cases: PA-0001 and PA-0002 asked a question, PA-0003 (newest) asks "resolved?";
    the reporter's free text could answer either question, so the bot asks which case."""
    reporter = await zalo_reporter(core, 3)
    staff = await staff_chat(core)
    await ask(staff, 1, T0)
    await ask(staff, 2, T0 + timedelta(hours=1))
    await resolve(staff, 3, T0 + timedelta(hours=2))
    out = await reporter_says(reporter, ANSWER, T0 + timedelta(hours=3))
    assert "Which one is your message about?" in out[0]
    return reporter, out


async def test_free_text_answers_the_question_even_when_a_newer_case_asks_resolved(core):
    reporter = await zalo_reporter(core, 2)
    staff = await staff_chat(core)
    await ask(staff, 1, T0)
    await resolve(staff, 2, T0 + timedelta(hours=1))
    out = await reporter_says(reporter, ANSWER, T0 + timedelta(hours=2))
    assert out == ["Thank you: your message has been added to PA-0001."]
    assert await notes(core, 1, "answer") == [ANSWER]
    # The newer "resolved?" question still takes its typed yes.
    out = await reporter_says(reporter, "1", T0 + timedelta(hours=3))
    assert "Thank you for confirming" in out[0] and "PA-0002" in out[0]


async def test_a_reply_two_cases_could_take_is_kept_until_the_reporter_picks_the_case(core):
    reporter, out = await asked_which_case(core)
    assert "1. PA-0002\n2. PA-0001" in out[0]
    assert await notes(core, 1, "answer") == await notes(core, 2, "answer") == []
    out = await reporter_says(reporter, "7", T0 + timedelta(hours=3))
    assert out == ["Please reply with one of the numbers in the list, or /cancel."]
    out = await reporter_says(reporter, "2", T0 + timedelta(hours=3))
    assert out == ["Thank you: your message has been added to PA-0001."]
    assert await notes(core, 1, "answer") == [ANSWER]
    assert await notes(core, 2, "answer") == []


async def test_a_typed_yes_for_a_newer_case_is_not_the_rating_of_an_older_one(core):
    reporter = await zalo_reporter(core, 2)
    staff = await staff_chat(core)
    await resolve(staff, 1, T0)
    out = await reporter_says(reporter, "1", T0 + timedelta(hours=1))
    assert "How satisfied are you with how PA-0001" in out[0]  # not rated: they move on
    await resolve(staff, 2, T0 + timedelta(days=2))
    out = await reporter_says(reporter, "1", T0 + timedelta(days=2, hours=1))
    assert "Thank you for confirming" in out[0] and "PA-0002" in out[0]
    assert (await report(core, 1)).rating is None
    assert (await report(core, 2)).status == (await report(core, 1)).status
    # Right after the rating question, a number is the rating.
    await reporter_says(reporter, "4", T0 + timedelta(days=2, hours=1))
    assert (await report(core, 2)).rating == 4


@pytest.mark.parametrize("channel", ["zalo", "telegram"])
async def test_a_poll_answered_takes_over_from_a_report_draft_which_is_kept(core, channel):
    await registered(core, "c1", "collaborator", "U001", locale="en", channel=channel)
    chat = Chat(core, user_id="c1", channel=channel)
    with time_machine.travel(OPENS, tick=False):
        for step in ("/report", "1", "1", "1"):  # left at the description, question 4 of 6
            await chat.say(step)
        assert "Question 4 of 6" in chat.transcript[-1]
        rnd = await _open(core)
        out = await (chat.say("/poll") if channel == "zalo" else chat.press_data(f"poll:{rnd.id}"))
        assert out[0] == "Your unfinished report is kept: send /report to continue it afterwards."
        assert "question 1 of 5" in out[-1]
        await chat.press(1)  # the poll's question, not the report's
        assert "question 2 of 5" in chat.transcript[-1]
        out = await chat.say("/cancel")
        assert "Paused" in out[0]
        assert out[1] == (
            "You still have an unfinished report: send /report to continue where you left off."
        )
        out = await chat.say("/report")
        assert "continue where you left off" in out[0] and "Question 4 of 6" in out[1]


async def test_a_new_command_while_asked_which_case_says_the_kept_message_was_not_filed(core):
    reporter, _out = await asked_which_case(core)
    out = await reporter_says(reporter, "/my", T0 + timedelta(hours=3))
    assert out[0] == (
        f"Your message was not added to any report: “{ANSWER}”. Send it again when you want to."
    )
    assert await notes(core, 1, "answer") == await notes(core, 2, "answer") == []


async def test_hostile_replies_to_which_case_keep_the_message_until_a_real_pick(core):
    reporter, _out = await asked_which_case(core)
    for hostile in ("0", "-1", "3", "99999999999999999999999", "1e2", "1 2", "PA-0001", "x" * 5000):
        out = await reporter_says(reporter, hostile, T0 + timedelta(hours=3))
        assert out == ["Please reply with one of the numbers in the list, or /cancel."], hostile
    assert await notes(core, 1, "answer") == await notes(core, 2, "answer") == []
    out = await reporter_says(reporter, " 2. ", T0 + timedelta(hours=3))
    assert out == ["Thank you: your message has been added to PA-0001."]
    assert await notes(core, 1, "answer") == [ANSWER]
