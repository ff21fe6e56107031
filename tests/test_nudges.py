"""Every step of the nudge ladder on a controlled clock, with quiet hours and no repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from handlers.types import ChatKind
from reports.digest import build
from scheduler.nudges import run_nudges
from storage import admin
from storage.models import Conversation
from tests.chat import Chat
from tests.test_casework_rules import person

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 09:00 in Asia/Ho_Chi_Minh


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def deliver(self, chat_id: str, payload: dict) -> str | None:
        self.sent.append((chat_id, payload.get("text", "")))
        return None

    def to(self, chat_id: str) -> list[str]:
        return [text for c, text in self.sent if c == chat_id]


async def setup(core) -> Recorder:
    recorder = Recorder()
    core.senders["web"] = recorder
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "web", "staff-room")
        await admin.bind_chat(session, "leaders", "web", "leaders-room")
    return recorder


async def report(core, user: str, urgency: int = 1) -> Chat:
    chat = Chat(core, user_id=user)
    for step in (
        "/start",
        "Phạm Văn Nam",
        "1",
        "1",
        "/report",
        "1",
        str(urgency),
        "1",
        "Dư luận bàn tán về việc sắp xếp lại bộ máy.",
        "/skip",
        "3",
        "1",
    ):
        await chat.say(step)
    return chat


async def flush(core, at: datetime) -> int:
    with time_machine.travel(at, tick=False):
        count = await run_nudges(core)
        await core.delivery.run_once()
    return count


async def test_unacknowledged_reports_remind_the_staff_chat_once_per_interval(core):
    recorder = await setup(core)
    with time_machine.travel(T0, tick=False):
        await report(core, "8001")
    assert await flush(core, T0 + timedelta(hours=23)) == 0
    assert await flush(core, T0 + timedelta(hours=24, minutes=1)) == 1
    assert await flush(core, T0 + timedelta(hours=25)) == 0  # no repeat within the interval
    assert await flush(core, T0 + timedelta(hours=48, minutes=1)) == 1
    reminders = recorder.to("staff-room")
    assert len([r for r in reminders if "PA-0001" in r and "⏳" in r]) == 2


async def test_quiet_hours_hold_nudges_back_until_morning(core):
    recorder = await setup(core)
    with time_machine.travel(T0, tick=False):
        await report(core, "8002")
    night = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 22:00 local, well past 24 h
    assert await flush(core, night) == 0
    morning = datetime(2026, 12, 2, 23, 45, tzinfo=UTC)  # 06:45 local
    assert await flush(core, morning) == 1
    assert any("⏳" in r for r in recorder.to("staff-room"))


async def test_overdue_cases_chase_their_owner_then_hot_ones_escalate_to_leaders(core):
    recorder = await setup(core)
    with time_machine.travel(T0, tick=False):
        await report(core, "8003", urgency=2)  # hot: due in 24 h once acknowledged
        staff = await person(core, "8101", "staff")
        staff.chat_kind, staff.chat_id = ChatKind.GROUP, "staff-room"
        await staff.press_data("c:1:ack:0")
        await core.delivery.run_once()
    leaders_before = len(recorder.to("leaders-room"))  # the hot alert itself
    assert await flush(core, T0 + timedelta(hours=23)) == 0
    assert await flush(core, T0 + timedelta(hours=25)) == 1
    assert any("⏰ PA-0001" in r for r in recorder.to("staff-room"))
    assert await flush(core, T0 + timedelta(hours=26)) == 0  # hot repeats every 4 h
    assert await flush(core, T0 + timedelta(hours=29, minutes=1)) == 1
    assert await flush(core, T0 + timedelta(days=2, hours=1)) == 2  # another reminder + escalation
    escalations = recorder.to("leaders-room")[leaders_before:]
    assert len(escalations) == 1 and "🚨" in escalations[0] and "PA-0001" in escalations[0]
    assert await flush(core, T0 + timedelta(days=2, hours=2)) == 0  # escalation happens once
    with time_machine.travel(T0 + timedelta(days=2, hours=3), tick=False):
        text, _ = await build(core, T0 + timedelta(days=1), T0 + timedelta(days=2, hours=3))
    assert "PA-0001" in text and "🚨" in text


async def test_an_abandoned_draft_gets_one_reminder_then_expires(core):
    recorder = await setup(core)
    chat = Chat(core, user_id="8004")
    with time_machine.travel(T0, tick=False):
        for step in ("/start", "Vũ Thị Hoa", "1", "1", "/report", "2", "1"):
            await chat.say(step)
    assert await flush(core, T0 + timedelta(minutes=59)) == 0
    assert await flush(core, T0 + timedelta(minutes=61)) == 1
    assert await flush(core, T0 + timedelta(hours=5)) == 0
    assert "/report" in recorder.to("8004")[-1]
    await flush(core, T0 + timedelta(days=8))
    async with core.sessions() as session:
        conv = (
            await session.execute(select(Conversation).where(Conversation.user_id == "8004"))
        ).scalar_one()
    assert "report" not in (conv.state.get("forms") or {})
    out = await chat.say("/report")
    assert "unfinished" not in out[0]  # the expired draft is gone: a fresh start
