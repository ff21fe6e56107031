"""Golden transcript of a whole case across three chats (reporter, staff, department), in both
languages, on a frozen clock:
new → acknowledged → assigned → needs info → answered → resolved → "not resolved" → reopened →
resolved → closed.  Regenerate with UPDATE_GOLDEN=1 after checking a change is intended."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from bot.app import build_core, seed_demo
from bot.render import numbered_text
from handlers.types import ChatKind, Choice, Outbound
from storage import admin
from storage.models import Invite
from tests.chat import Chat
from tests.conftest import make_settings

GOLDEN = Path(__file__).with_name("golden")
FROZEN = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
NAMES = {"777": "reporter", "staff-room": "staff chat", "dept-room": "department chat"}


class Transport:
    """The messengers behind the three chats: records what arrives and the cards' buttons."""

    def __init__(self, transcript: list[str]) -> None:
        self.transcript = transcript
        self.buttons: dict[str, list[tuple[str, str]]] = {}
        self.count = 0

    async def deliver(self, chat_id: str, payload: dict) -> str | None:
        self.count += 1
        kind = payload.get("kind", "text")
        choices = [(data, label) for data, label in payload.get("choices") or []]
        if choices:
            self.buttons[chat_id] = choices
        if kind in ("card", "card_edit"):
            head = "card" if kind == "card" else "card, edited"
            body = payload["text"] + (
                "\n[" + " | ".join(label for _, label in choices) + "]" if choices else ""
            )
        elif "text" in payload:
            head = "message"
            message = Outbound(
                chat_id, payload["text"], tuple(Choice(label, data) for data, label in choices)
            )
            body = numbered_text(message)
        else:
            head, body = payload["kind"], payload.get("caption", "")
        self.transcript.append(
            f"<< [{NAMES.get(chat_id, chat_id)}: {head}] " + body.replace("\n", "\n  ")
        )
        return str(self.count)


async def press(chat: Chat, transport: Transport, label: str, where: str) -> None:
    direct = [
        (c.data, c.label)
        for m in (chat.last_reply.messages if chat.last_reply else [])
        for c in m.choices
    ]
    data = next(d for d, lab in direct + transport.buttons.get(where, []) if label in lab)
    chat.transcript.append(
        f"> [{NAMES[chat.chat_id or chat.user_id]}] {chat.display_name} presses “{label}”"
    )
    await chat.send(chat._inbound(callback=data, callback_message_id="1"), None)


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_golden_case_lifecycle(lang: str, tmp_path: Path) -> None:
    transcript: list[str] = []
    labels = {
        "vi": {
            "ack": "Tiếp nhận",
            "assign": "Giao xử lý",
            "ask": "Hỏi",
            "resolve": "Đã giải quyết",
            "no": "Chưa",
            "yes": "Rồi",
        },
        "en": {
            "ack": "Acknowledge",
            "assign": "Assign",
            "ask": "Ask",
            "resolve": "Resolve",
            "no": "No",
            "yes": "Yes",
        },
    }[lang]
    with time_machine.travel(FROZEN, tick=False):
        core = await build_core(
            make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", default_locale=lang)
        )
        try:
            await seed_demo(core)
            async with core.sessions() as session, session.begin():
                session.add(Invite(code="STAFF001", role="staff", uses_left=1))
                inv = await admin.create_invite(session, "handler", None, 1, "SLDTBXH")
                inv.code = "DEPT0001"
                await admin.bind_chat(session, "staff", "test", "staff-room")
                await admin.bind_chat(session, "department:SLDTBXH", "test", "dept-room")
            transport = Transport(transcript)
            core.senders["test"] = transport

            async def flush() -> None:
                assert core.delivery is not None
                core.delivery.parallel_chats = 1  # one fixed order for the transcript
                await core.delivery.run_once()

            def chat(user: str, name: str, room: str | None = None) -> Chat:
                c = Chat(core, user_id=user, channel="test", display_name=name, username="")
                c.transcript = transcript
                if room:
                    c.chat_kind, c.chat_id = ChatKind.GROUP, room
                return c

            reporter = chat("777", "Hoàng Văn Bảy")
            staff_private, dept_private = chat("801", "Lê Cán Bộ"), chat("802", "Trần Chuyên Viên")
            for person, code in ((staff_private, "STAFF001"), (dept_private, "DEPT0001")):
                await person.say(f"/start {code}")
                await person.press(1)
                await person.say("1")
                await person.press(1)
            transcript.clear()
            staff, dept = (
                chat("801", "Lê Cán Bộ", "staff-room"),
                chat("802", "Trần Chuyên Viên", "dept-room"),
            )

            for step in ("/start", "Hoàng Văn Bảy", "1", "1"):
                await reporter.say(step)
            transcript.clear()
            for step in (
                "/report",
                "2",
                "1",
                "1",
                "Công ty chậm đóng BHXH cho 40 người lao động từ tháng 6/2026.",
                "/skip",
                "3",
                "1",
            ):
                await reporter.say(step)
            await flush()
            await press(staff, transport, labels["ack"], "staff-room")
            await flush()
            await press(staff, transport, labels["assign"], "staff-room")
            await press(staff, transport, "Sở Lao động", "staff-room")
            await flush()
            await press(dept, transport, labels["ask"], "dept-room")
            await dept.say("Công ty tên là gì, ở khu công nghiệp nào?")
            await flush()
            await reporter.say("Công ty TNHH May mặc Hòa Bình, KCN Tam Phước.")
            await flush()
            await press(dept, transport, labels["resolve"], "dept-room")
            await dept.say("Đã làm việc với công ty; công ty cam kết đóng đủ trước 15/12/2026.")
            await flush()
            await press(reporter, transport, labels["no"], "777")
            await reporter.say("Mới đóng cho 10 người, còn 30 người chưa được đóng.")
            await flush()
            await press(dept, transport, labels["ack"], "dept-room")
            await flush()
            await press(dept, transport, labels["resolve"], "dept-room")
            await dept.say("Công ty đã đóng đủ cho 40 người, có xác nhận của BHXH tỉnh.")
            await flush()
            await press(reporter, transport, labels["yes"], "777")
            await flush()
            await press(reporter, transport, "⭐⭐⭐⭐⭐", "777")
            await flush()
        finally:
            await core.close()
    got = "\n".join(transcript) + "\n"
    path = GOLDEN / f"case_lifecycle.{lang}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text(encoding="utf-8")
