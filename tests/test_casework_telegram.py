"""The whole case lifecycle over Telegram, across the reporter's, the staff's and a department's
chats: the real python-telegram-bot against the fake Bot API server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import select

from storage import admin
from storage.models import Report, ReportEvent
from tests.telegram_harness import Harness, running_bot

REPORTER, STAFFER, HANDLER = 6001, 6101, 6201
STAFF_CHAT, DEPT_CHAT = -100500, -100600


def button(message: dict[str, Any], label: str) -> str:
    for row in message["reply_markup"]["inline_keyboard"]:
        for b in row:
            if label in b["text"]:
                return b["callback_data"]
    raise AssertionError(f"no {label!r} button in {message['reply_markup']}")


async def register(h: Harness, user: int, name: str, invite: str | None = None) -> None:
    await h.say(user, f"/start {invite}" if invite else "/start", first_name=name)
    await h.say(user, name)
    await h.say(user, "1")  # the unit (these invites carry none)
    await h.say(user, "1")  # consent


async def press_in(h: Harness, user: int, chat: int, message: dict[str, Any], label: str) -> None:
    """Tap a button in a group chat and wait until the bot has dealt with it."""
    answers = len(h.fake.callback_answers)
    h.fake.press_button(user, message["message_id"], button(message, label), chat_id=chat)
    await h.fake.wait_for(lambda: len(h.fake.callback_answers) > answers, timeout=10)
    await settle(h)


async def settle(h: Harness) -> None:
    """Let the delivery worker flush the outbox."""
    assert h.core.delivery is not None
    for _ in range(3):
        await h.settle()
        await h.core.delivery.run_once()
    await asyncio.sleep(0.05)


def card(h: Harness, chat: int) -> dict[str, Any]:
    return next(m for m in h.fake.messages_to(chat) if m.get("text", "").find("PA-0001 ·") >= 0)


async def test_lifecycle_new_to_closed_with_a_dispute_in_between(tmp_path, sqlite_url):
    async with running_bot(tmp_path, sqlite_url, default_locale="en") as h:
        fake = h.fake
        async with h.core.sessions() as session, session.begin():
            staff_invite = await admin.create_invite(session, "staff", None, 1)
            handler_invite = await admin.create_invite(session, "handler", None, 1, "SLDTBXH")
            await admin.bind_chat(session, "staff", "telegram", str(STAFF_CHAT))
            await admin.bind_chat(session, "department:SLDTBXH", "telegram", str(DEPT_CHAT))
        await register(h, STAFFER, "Cán bộ Tiếp nhận", staff_invite.code)
        await register(h, HANDLER, "Chuyên viên Sở LĐTBXH", handler_invite.code)
        await register(h, REPORTER, "Người Lao Động")

        for step in (
            "/report",
            "2",
            "1",
            "1",
            "Công ty nợ BHXH của 40 người lao động từ tháng 6.",
            "/skip",
            "3",
        ):
            await h.say(REPORTER, step)
        out = await h.say(REPORTER, "1")
        assert "PA-0001" in out[-1]["text"]
        await settle(h)

        staff_card = card(h, STAFF_CHAT)
        assert "New" in staff_card["text"] and "Anonymous" in staff_card["text"]
        labels = [b["text"] for row in staff_card["reply_markup"]["inline_keyboard"] for b in row]
        assert any("Acknowledge" in x for x in labels) and not any("Hand back" in x for x in labels)

        # A member cannot act on the card, even by pressing its buttons.
        await press_in(h, REPORTER, STAFF_CHAT, staff_card, "Acknowledge")
        assert fake.callback_answers[-1]["show_alert"] in (True, "true")
        assert "New" in card(h, STAFF_CHAT)["text"]

        await press_in(h, STAFFER, STAFF_CHAT, card(h, STAFF_CHAT), "Acknowledge")
        assert "Acknowledged" in card(h, STAFF_CHAT)["text"], fake.callback_answers
        assert "received by the committee" in fake.texts_to(REPORTER)[-1]

        await press_in(h, STAFFER, STAFF_CHAT, card(h, STAFF_CHAT), "Assign")
        picker = fake.messages_to(STAFF_CHAT)[-1]
        await press_in(h, STAFFER, STAFF_CHAT, picker, "Sở Lao động")
        assert "Assigned" in card(h, STAFF_CHAT)["text"]
        assert "Sở Lao động - Thương binh và Xã hội" in fake.texts_to(REPORTER)[-1]
        dept_card = card(h, DEPT_CHAT)
        dept_labels = [
            b["text"] for row in dept_card["reply_markup"]["inline_keyboard"] for b in row
        ]
        assert any("Hand back" in x for x in dept_labels) and not any(
            "Assign" in x for x in dept_labels
        )

        # The department asks the reporter; the answer comes back without revealing anyone.
        await press_in(h, HANDLER, DEPT_CHAT, dept_card, "Ask reporter")
        prompt = fake.messages_to(DEPT_CHAT)[-1]
        assert prompt["reply_markup"].get("force_reply")
        fake.user_text(HANDLER, "Công ty tên là gì, ở khu công nghiệp nào?", chat_id=DEPT_CHAT)
        await settle(h)
        assert "Needs information" in card(h, DEPT_CHAT)["text"]
        assert "Công ty tên là gì" in fake.texts_to(REPORTER)[-1]

        await h.say(REPORTER, "Công ty TNHH May mặc Hòa Bình, KCN Tam Phước.")
        await settle(h)
        relay = fake.texts_to(DEPT_CHAT)[-1] if "answered" in fake.texts_to(DEPT_CHAT)[-1] else ""
        assert "May mặc Hòa Bình" in relay or any(
            "May mặc Hòa Bình" in t for t in fake.texts_to(DEPT_CHAT)
        )
        assert "Assigned" in card(h, DEPT_CHAT)["text"]

        # Resolve; the reporter says it is not resolved; it reopens with an alert to the owner.
        await press_in(h, HANDLER, DEPT_CHAT, card(h, DEPT_CHAT), "Resolve")
        fake.user_text(
            HANDLER, "Đã làm việc với công ty, cam kết đóng đủ BHXH trước 15/12.", chat_id=DEPT_CHAT
        )
        await settle(h)
        notice = fake.messages_to(REPORTER)[-1]
        assert "resolved" in notice["text"] and "15/12" in notice["text"]
        answers = len(fake.callback_answers)
        fake.press_button(REPORTER, notice["message_id"], button(notice, "No"))
        await fake.wait_for(lambda: len(fake.callback_answers) > answers)
        await settle(h)
        await h.say(REPORTER, "Công ty mới đóng cho 10 người, còn 30 người chưa được đóng.")
        await settle(h)
        assert "Reopened" in card(h, DEPT_CHAT)["text"]
        assert any("reopened" in t and "30 người" in t for t in fake.texts_to(DEPT_CHAT))

        await press_in(h, HANDLER, DEPT_CHAT, card(h, DEPT_CHAT), "Acknowledge")
        await press_in(h, HANDLER, DEPT_CHAT, card(h, DEPT_CHAT), "Resolve")
        fake.user_text(
            HANDLER,
            "Công ty đã đóng đủ cho cả 40 người, có xác nhận của BHXH tỉnh.",
            chat_id=DEPT_CHAT,
        )
        await settle(h)
        notice = fake.messages_to(REPORTER)[-1]
        answers = len(fake.callback_answers)
        fake.press_button(REPORTER, notice["message_id"], button(notice, "Yes"))
        await fake.wait_for(lambda: len(fake.callback_answers) > answers)
        await settle(h)
        rating = fake.messages_to(REPORTER)[-1]
        answers = len(fake.callback_answers)
        fake.press_button(REPORTER, rating["message_id"], button(rating, "⭐⭐⭐⭐⭐"))
        await fake.wait_for(lambda: len(fake.callback_answers) > answers)
        await settle(h)

        for chat in (STAFF_CHAT, DEPT_CHAT):
            final = card(h, chat)
            assert "Closed" in final["text"]
            assert not final.get("reply_markup") or not any(
                "Resolve" in b["text"]
                for row in final["reply_markup"]["inline_keyboard"]
                for b in row
            )
        async with h.core.sessions() as session:
            report = (await session.execute(select(Report))).scalar_one()
            events = [
                (e.from_status, e.to_status)
                for e in (
                    await session.execute(select(ReportEvent).order_by(ReportEvent.id))
                ).scalars()
            ]
        assert report.status == "closed" and report.rating == 5
        assert [to for _, to in events] == [
            "new",
            "acknowledged",
            "assigned",
            "needs_info",
            "assigned",
            "resolved",
            "reopened",
            "assigned",
            "resolved",
            "closed",
        ]
        # Nothing staff- or department-facing names the anonymous reporter.
        facing = json.dumps(
            fake.messages_to(STAFF_CHAT) + fake.messages_to(DEPT_CHAT), ensure_ascii=False
        )
        for secret in ("Người Lao Động", str(REPORTER)):
            assert secret not in facing
