"""Trust (#11), the chat side of casework: a reporter's answers land where they meant them,
/case and /cases stay in the chats meant for them, forged case buttons reveal nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers.types import ChatKind
from storage import admin
from storage.deptimport import import_departments
from storage.models import Report
from storage.store import SqlStore
from tests.chat import Chat
from tests.test_casework_rules import person, reporter_with_case

QUESTION = "Xin cho biết thời gian xảy ra?"
ASK_FOR_ANSWER = "Nhập câu trả lời cho PA-0001"


async def ask_reporter(core) -> Chat:
    """Staff acknowledge case 1 and ask its reporter a question."""
    staff = await person(core, "7201", "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "-100500"
    await staff.press_data("c:1:ack:0")
    await staff.press_data("c:1:ask:1")
    await staff.say(QUESTION)
    return staff


async def case_events(core, report_id: int = 1) -> list[tuple[str, str]]:
    async with core.sessions() as session:
        case = await SqlStore(session).case(report_id)
    assert case is not None
    return [(e.action, e.note) for e in case.events if e.action]


async def answers(core) -> list[str]:
    return [note for action, note in await case_events(core) if action == "answer"]


# -- 1. the reporter's answer to a staff question --------------------------------------------------
@pytest.mark.parametrize("typed", ["1", "trả lời câu hỏi"], ids=["number", "label"])
async def test_typing_the_offered_option_asks_for_the_answer_instead_of_storing_it(core, typed):
    reporter = await reporter_with_case(core)
    await ask_reporter(core)
    out = await reporter.say(typed)
    assert ASK_FOR_ANSWER in out[0]
    assert await answers(core) == []
    await reporter.say("Sáng thứ Hai, 8 giờ.")
    assert await answers(core) == ["Sáng thứ Hai, 8 giờ."]


async def test_an_answer_typed_while_in_my_reaches_the_question(core):
    reporter = await reporter_with_case(core)
    await reporter.say("/my")
    await ask_reporter(core)
    out = await reporter.say("Sáng thứ Hai, 8 giờ.")
    assert "PA-0001" in out[0] and "/report" not in out[0]
    assert await answers(core) == ["Sáng thứ Hai, 8 giờ."]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1", ASK_FOR_ANSWER),
        ("2", "Nhập nội dung cần bổ sung cho PA-0001"),
        ("Bổ sung thông tin", "Nhập nội dung cần bổ sung cho PA-0001"),
    ],
)
async def test_a_typed_number_in_a_my_case_detail_chooses_that_option(core, typed, expected):
    reporter = await reporter_with_case(core)
    await ask_reporter(core)
    await reporter.say("/my")
    detail = await reporter.say("1")
    assert "1. Trả lời câu hỏi" in detail[0] and "2. Bổ sung thông tin" in detail[0]
    out = await reporter.say(typed)
    assert expected in out[0]
    await reporter.say("Sáng thứ Hai, 8 giờ.")
    notes = [note for _, note in await case_events(core)]
    assert notes[-1] == "Sáng thứ Hai, 8 giờ."


async def test_cancel_drops_a_pending_answer_so_a_new_report_keeps_its_own_answers(core):
    reporter = await reporter_with_case(core)
    await ask_reporter(core)
    await reporter.say("/my")
    await reporter.say("1")
    await reporter.press("Trả lời câu hỏi")
    out = await reporter.say("/cancel")
    assert "Đã hủy" in out[0]
    await reporter.say("/report")
    out = await reporter.say("2")  # the second category, not an answer to PA-0001
    assert "(Câu 2/" in out[-1], out
    for step in ("2", "1", "Một sự việc khác hẳn, ở xưởng dệt.", "/skip", "3", "1"):
        await reporter.say(step)
    assert "PA-0002" in reporter.transcript[-1]
    assert await answers(core) == []
    async with core.sessions() as session:
        second = (await session.execute(select(Report).where(Report.id == 2))).scalar_one()
        first = (await session.execute(select(Report).where(Report.id == 1))).scalar_one()
    assert second.category == first.category  # both were "2" in the same category list
    assert first.status == "needs_info"


async def test_a_pending_answer_does_not_swallow_a_new_reports_answers(core):
    reporter = await reporter_with_case(core)
    await ask_reporter(core)
    await reporter.say("/my")
    await reporter.say("1")
    await reporter.press("Trả lời câu hỏi")
    await reporter.say("/report")
    await reporter.say("2")
    assert await answers(core) == []


async def test_an_oversized_answer_is_refused_and_nothing_is_stored_cut(core):
    reporter = await reporter_with_case(core)
    await ask_reporter(core)
    out = await reporter.say("x" * 100_000)
    assert "100000 ký tự" in out[0] and "2000" in out[0]
    assert await answers(core) == []
    assert all(len(note) < 2000 for _, note in await case_events(core))
    out = await reporter.say("Sáng thứ Hai, 8 giờ.")
    assert await answers(core) == ["Sáng thứ Hai, 8 giờ."]


# -- 2. the welcome text -----------------------------------------------------------------------------
async def test_welcome_counts_the_questions_an_invite_leaves(core):
    async with core.sessions() as session, session.begin():
        with_unit = await admin.create_invite(session, "member", "U007", 1, None, False)
    out = await Chat(core, user_id="8801").say(f"/start {with_unit.code}")
    assert "hai câu hỏi ngắn" in out[0] and "(Câu 1/2)" in out[1]
    out = await Chat(core, user_id="8802").say("/start")
    assert "ba câu hỏi ngắn" in out[0]


# -- 3. /case and /cases -----------------------------------------------------------------------------
async def _bind(core, role: str, chat_id: str) -> None:
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, role, "web", chat_id)


@pytest.mark.parametrize("command", ["/case PA-0001", "/cases"])
async def test_case_commands_say_nothing_of_cases_in_an_unbound_group(core, command):
    await reporter_with_case(core, anonymity=2)  # confidential
    staff = await person(core, "7301", "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "-100999"
    out = await staff.say(command)
    assert out == ["Please write to me in a private chat to use this command."]
    assert not staff.last_reply or all(not m.choices for m in staff.last_reply.messages)


async def test_case_commands_work_in_bound_staff_and_department_chats(core):
    async with core.sessions() as session, session.begin():
        await import_departments(session, b"code,name,kind\nSCT,So Cong Thuong,external\n")
    await _bind(core, "staff", "staff-room")
    await _bind(core, "department:SCT", "dept-room")
    await reporter_with_case(core)
    staff = await person(core, "7302", "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "staff-room"
    assert "PA-0001" in (await staff.say("/case PA-0001"))[0]
    assert "PA-0001" in (await staff.say("/cases"))[0]
    # A department's chat sees its own cases only, whoever asks there.
    staff.chat_id = "dept-room"
    assert "No case PA-0001" in (await staff.say("/case PA-0001"))[0]
    assert "No open cases" in (await staff.say("/cases"))[0]
    staff.chat_id = "staff-room"
    await staff.press_data("c:1:assign:0:SCT")
    staff.chat_id = "dept-room"
    out = await staff.say("/case PA-0001")
    assert "PA-0001" in out[0]
    assert "↩ Hand back" in [label for label, _ in staff.last_choices]
    assert "PA-0001" in (await staff.say("/cases"))[0]


async def test_case_shows_a_named_reporter_by_name_and_hides_the_others(core):
    reporter = await reporter_with_case(core, anonymity=1)  # named
    for step in ("/report", "2", "2", "1", "Một sự việc khác, ở xưởng dệt.", "/skip", "2", "1"):
        await reporter.say(step)  # PA-0002, confidential
    staff = await person(core, "7303", "staff")
    out = await staff.say("/case PA-0001")
    assert "Reporter: Đinh Thị Lan (@dinhthilan)" in out[0]
    out = await staff.say("/case PA-0002")
    assert "Reporter: Confidential: identity hidden" in out[0] and "Đinh" not in out[0]


# -- 4. forged case buttons --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data", ["c:1:ack:1", "c:1:ack:7", "c:1:reopen:1", "c:1:resolve:1", "c:1:assign:1:SCT"]
)
@pytest.mark.parametrize("who", ["member", "stranger", "other_department"])
async def test_forged_case_buttons_from_non_staff_reveal_nothing(core, data, who):
    async with core.sessions() as session, session.begin():
        await import_departments(
            session, b"code,name,kind\nSCT,So Cong Thuong,external\nSXD,So Xay Dung,external\n"
        )
    await reporter_with_case(core, anonymity=2)
    staff = await person(core, "7304", "staff")
    await staff.press_data("c:1:assign:0:SXD")
    if who == "member":
        chat = await person(core, "7305", "member")
    elif who == "other_department":
        chat = await person(core, "7306", "handler", "SCT")
    else:
        chat = Chat(core, user_id="7307")
    out = await chat.press_data(data)
    shown = " ".join(out)
    assert "PA-0001" not in shown and "Assigned" not in shown and "Đã chuyển xử lý" not in shown, (
        shown
    )
    async with core.sessions() as session:
        row = (await session.execute(select(Report))).scalar_one()
    assert (row.status, row.version) == ("assigned", 1)


async def test_a_new_command_ends_a_staff_members_pending_note(core):
    await reporter_with_case(core)
    staff = await person(core, "7308", "staff")  # in their private chat
    await staff.press_data("c:1:ack:0")
    await staff.press_data("c:1:ask:1")  # "what should we ask the reporter?"
    await staff.say("/report")
    out = await staff.say("2")  # the second category of a report of their own
    assert "(Question 2 of" in out[-1], out
    assert ("ask", "2") not in await case_events(core)


def test_a_handler_without_a_department_sees_no_unassigned_case():
    """A department removed from under its handler must not open every unassigned case."""
    from handlers.casework import Actor, CaseFacts, Status, may_view

    lost = Actor(person_id=1, role="handler", department_code=None)
    assert not may_view(lost, CaseFacts(Status.NEW, None, "confidential"))
    assert may_view(Actor(1, "handler", "SCT"), CaseFacts(Status.ASSIGNED, "SCT", "named"))


async def test_case_choices_in_a_private_chat_can_be_typed(core):
    async with core.sessions() as session, session.begin():
        await import_departments(session, b"code,name,kind\nSCT,So Cong Thuong,external\n")
    await reporter_with_case(core)
    staff = await person(core, "7310", "staff")  # in their private chat
    card = await staff.say("/case PA-0001")
    assert "1. ✔ Acknowledge" in card[0]
    out = await staff.say("1")
    assert out == ["Done: PA-0001 is now Acknowledged."]
    await staff.say("/case PA-0001")
    out = await staff.say("➡ assign")
    assert "Assign PA-0001 to which department?" in out[0] and "So Cong Thuong" in out[0]
    await staff.say("so cong thuong")
    async with core.sessions() as session:
        case = await SqlStore(session).case(1)
    assert case is not None and (case.status, case.department_code) == ("assigned", "SCT")
    out = await staff.say("1")  # used once: a stray number later does nothing to the case
    assert "PA-0001" not in out[0]
