"""The card's remaining actions and the staff commands, through the real core."""

from __future__ import annotations

from sqlalchemy import select

from handlers.types import ChatKind
from scheduler.delivery import DeliveryError
from storage import admin
from storage.models import OutboxMessage, Report, ReportEvent
from tests.test_casework_rules import person, reporter_with_case


class Recorder:
    def __init__(self, fail_for: str | None = None) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.fail_for = fail_for

    async def deliver(self, chat_id: str, payload: dict) -> str | None:
        if chat_id == self.fail_for:
            raise DeliveryError("Forbidden: bot was blocked by the user", permanent=True)
        self.sent.append((chat_id, payload))
        return str(len(self.sent))

    def texts(self, chat_id: str) -> list[str]:
        return [p.get("text", "") for c, p in self.sent if c == chat_id]


async def staff_in_group(core, user: str = "7201"):
    staff = await person(core, user, "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "staff-room"
    return staff


async def row(core) -> Report:
    async with core.sessions() as session:
        return (await session.execute(select(Report).where(Report.id == 1))).scalar_one()


async def test_reject_with_a_redirect_reaches_the_reporter(core):
    recorder = Recorder()
    core.senders["web"] = recorder
    reporter = await reporter_with_case(core, anonymity=1)
    staff = await staff_in_group(core)
    await staff.press_data("c:1:reject:0")
    await staff.say("Nội dung thuộc thẩm quyền của chính quyền địa phương.")
    out = await staff.say("UBND phường Tân Phong, số 1 Nguyễn Ái Quốc")
    assert "Rejected" in out[0]
    await core.delivery.run_once()
    notice = recorder.texts(reporter.user_id)[-1]
    assert "thẩm quyền" in notice and "UBND phường Tân Phong" in notice
    assert (await row(core)).status == "rejected"


async def test_duplicate_of_needs_a_real_other_case(core):
    reporter = await reporter_with_case(core)
    for step in (
        "/report",
        "2",
        "1",
        "1",
        "Cùng sự việc nợ lương đã phản ánh trước đó.",
        "/skip",
        "3",
        "1",
    ):
        await reporter.say(step)
    staff = await staff_in_group(core)
    await staff.press_data("c:2:dup:0")
    out = await staff.say("PA-0002")  # itself
    assert "no other case" in out[0]
    await staff.press_data("c:2:dup:0")
    await staff.say("pa-0001")
    async with core.sessions() as session:
        second = (await session.execute(select(Report).where(Report.id == 2))).scalar_one()
    assert second.status == "duplicate" and second.duplicate_of_id == 1


async def test_due_date_presets_and_a_typed_date(core):
    await reporter_with_case(core)
    staff = await staff_in_group(core)
    await staff.press_data("c:1:due:0")
    assert [label for label, _ in staff.last_choices] == [
        "In 24 hours",
        "In 3 days",
        "In 7 days",
        "Type a date",
    ]
    await staff.press_data("c:1:due:0:3d")
    await staff.say("Chờ số liệu của phường")  # a moved due date is logged with a reason
    first = (await row(core)).due_at
    await staff.press_data("c:1:due:1:type")
    out = await staff.say("31/02/2027")
    assert "dd/mm/yyyy" in out[0]
    out = await staff.say("15/01/2027 09:30")
    assert "15/01/2027 09:30" in out[0] and (await row(core)).due_at == first  # asks why first
    await staff.say("Đơn vị xin gia hạn")
    due = (await row(core)).due_at
    assert first is not None and due is not None
    assert (due.day, due.month, due.year) == (15, 1, 2027) and due.hour in (2, 9)  # UTC or local
    async with core.sessions() as session:
        notes = list(
            (
                await session.execute(select(ReportEvent.note).where(ReportEvent.action == "due"))
            ).scalars()
        )
    assert notes[0].endswith(" · Chờ số liệu của phường")
    assert notes[1] == "15/01/2027 09:30 · Đơn vị xin gia hạn"


async def test_blocked_reporter_is_recorded_on_the_case_and_its_card(core):
    recorder = Recorder(fail_for="5000")
    core.senders["web"] = recorder
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "web", "staff-room")
    await reporter_with_case(core, user="5000")
    staff = await staff_in_group(core)
    await core.delivery.run_once()
    await staff.press_data("c:1:ack:0")
    await core.delivery.run_once()
    await core.delivery.run_once()
    case = await row(core)
    assert "blocked" in case.delivery_problem and case.status == "acknowledged"
    cards = recorder.texts("staff-room")
    assert "blocked" in cards[-1]
    async with core.sessions() as session:
        failed = (
            (await session.execute(select(OutboxMessage).where(OutboxMessage.status == "failed")))
            .scalars()
            .all()
        )
    # The anonymous reporter's row names their report, never their chat.
    assert [(m.channel, m.chat_id) for m in failed] == [("sealed", "report:1")]
    # The case goes on: staff can still act on it.
    await staff.press_data(f"c:1:resolve:{case.version}")
    await staff.say("Đã xử lý xong.")
    assert (await row(core)).status == "resolved"


async def test_cases_and_case_commands_for_staff_handlers_and_members(core):
    reporter = await reporter_with_case(core)
    staff = await person(core, "7301", "staff")
    handler = await person(core, "7302", "handler", "SCT")
    out = await staff.say("/cases")
    assert "PA-0001" in out[0]
    assert "PA-0001" in (await staff.say("/cases unassigned"))[0]
    assert "No open cases" in (await staff.say("/cases overdue"))[0]
    assert "No open cases" in (await handler.say("/cases"))[0]  # not their department's
    out = await handler.say("/case PA-0001")
    assert "No case PA-0001" in out[0]
    out = await staff.say("/case PA-0001")
    assert "PA-0001" in out[0] and any("Acknowledge" in label for label, _ in staff.last_choices)
    assert "cán bộ tiếp nhận" in (await reporter.say("/cases"))[0]  # the reporter reads Vietnamese


async def test_the_reporter_adds_information_from_my(core):
    recorder = Recorder()
    core.senders["web"] = recorder
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "web", "staff-room")
    reporter = await reporter_with_case(core)
    await reporter.say("/my")
    await reporter.press(1)
    await reporter.press("Bổ sung thông tin")
    out = await reporter.say("Bổ sung: có 3 người bị thương chứ không phải 1.")
    assert "added to PA-0001" in out[0] or "PA-0001" in out[0]
    await core.delivery.run_once()
    assert any("3 người bị thương" in t for t in recorder.texts("staff-room"))


async def test_a_card_for_a_very_long_report_still_fits_one_message(core):
    recorder = Recorder()
    core.senders["web"] = recorder
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "web", "staff-room")
    from tests.chat import Chat

    chat = Chat(core, user_id="6060")
    long_text = "Nội dung phản ánh rất dài. " * 148  # just under 4,000 characters
    for step in (
        "/start",
        "Trương Văn Dài",
        "1",
        "1",
        "/report",
        "1",
        "1",
        "1",
        long_text,
        "/skip",
        "3",
        "1",
    ):
        await chat.say(step)
    await core.delivery.run_once()
    card = recorder.texts("staff-room")[0]
    assert "PA-0001" in card and len(card) <= 4096
