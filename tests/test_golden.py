"""Golden transcripts: every flow, in Vietnamese and English, on a frozen clock.

A changed transcript fails the test; after checking the change is intended, regenerate with
`UPDATE_GOLDEN=1 uv run pytest tests/test_golden.py` and review the diff like code.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from bot.app import build_core, seed_demo
from handlers.types import Media, MediaKind
from storage import admin
from storage.models import Invite, OrgUnit
from tests.chat import Chat
from tests.conftest import make_settings

GOLDEN = Path(__file__).with_name("golden")
FROZEN = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)  # 08:00 in Asia/Ho_Chi_Minh


class Recorder:
    """Stands in for the messenger behind the staff chat (transport only)."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat

    async def deliver(self, chat_id: str, payload: dict) -> None:
        if "text" in payload:
            body = payload["text"].replace("\n", "\n  ")
            self.chat.transcript.append(f"<< [staff chat] {body}")
        else:
            self.chat.transcript.append(
                f"<< [staff chat] ({payload['kind']}: {payload['caption']})"
            )


async def register(chat: Chat) -> None:
    await chat.say("/start")
    await chat.press(1)
    await chat.say("tai chinh")
    await chat.press(1)
    await chat.press(1)


async def onboarding_self(chat: Chat) -> None:
    await chat.say("/start")
    await chat.say("Lê Thị Mai")
    await chat.say("xyz khong co")  # no unit matches
    await chat.say("9")  # next page
    await chat.say("dien luc")
    await chat.press(1)
    await chat.press(2)  # declines consent
    await chat.say("/start")
    await chat.say("Lê Thị Mai")
    await chat.say("dien luc")
    await chat.say("1")
    await chat.say("/back")
    await chat.press(1)
    await chat.press(1)


async def onboarding_invite(chat: Chat) -> None:
    await chat.say("/start NOSUCHCODE")
    await chat.say("/cancel")
    await chat.say("/start GOLDEN42")
    await chat.press(1)
    await chat.press(1)
    await chat.say("/start")


async def report_full(chat: Chat) -> None:
    await register(chat)
    await chat.say("/report")
    await chat.press(3)
    await chat.press(2)  # hot
    await chat.say("cong thuong")
    await chat.press(1)
    await chat.say("Có dấu hiệu thông thầu trong gói mua sắm thiết bị y tế năm 2026.")
    await chat.media(Media(MediaKind.PHOTO, ref="2026/11/a.jpg", mime="image/jpeg", size=2048))
    await chat.media(Media(MediaKind.LOCATION, latitude=10.957413, longitude=106.842687))
    await chat.press(1)  # done
    await chat.press(3)  # anonymous
    await chat.press(2)  # edit
    await chat.press(4)  # description
    await chat.say(
        "Có dấu hiệu thông thầu trong gói mua sắm thiết bị y tế năm 2026, giá cao hơn thị trường 30%."
    )
    await chat.press(1)  # send
    await chat.flush_outbox()


async def report_named_and_confidential(chat: Chat) -> None:
    await register(chat)
    for anonymity in (1, 2):
        await chat.say("/report")
        await chat.say("2")
        await chat.say("1")
        await chat.say("1")
        await chat.say("Người lao động phản ánh chậm đóng bảo hiểm xã hội quý III.")
        await chat.say("/skip")
        await chat.say(str(anonymity))
        await chat.say("1")
    await chat.flush_outbox()


async def back_skip_cancel(chat: Chat) -> None:
    await register(chat)
    await chat.say("/back")
    await chat.say("/skip")
    await chat.say("/report")
    await chat.press(1)
    await chat.say("/back")
    await chat.say("/skip")
    await chat.press(7)
    await chat.press(1)
    await chat.press(1)
    await chat.say("/back")
    await chat.press(1)
    await chat.say("/cancel")
    await chat.say("/cancel")


async def my_reports(chat: Chat) -> None:
    await register(chat)
    await chat.say("/my")
    await chat.say("/report")
    for step in (
        "1",
        "1",
        "1",
        "Tình trạng tư tưởng hoang mang trước đợt sắp xếp tổ chức bộ máy.",
        "/skip",
        "1",
        "1",
    ):
        await chat.say(step)
    await chat.say("/my")
    await chat.press(1)
    await chat.say("PA-9999")


async def help_and_language(chat: Chat) -> None:
    await register(chat)
    await chat.say("/help")
    await chat.say("/report")
    await chat.press(2)
    await chat.say("/lang")
    await chat.say("2")
    await chat.say("/lang")
    await chat.press(1)
    await chat.say("xin chào")


async def bad_input(chat: Chat) -> None:
    await register(chat)
    await chat.say("hello")
    await chat.media(Media(MediaKind.PHOTO, ref="x.jpg"))
    await chat.say("/report")
    stale = chat.last_choices[0][1]
    await chat.say("nothing like a category")
    await chat.say("42")
    await chat.media(Media(MediaKind.STICKER))
    await chat.say("/unknown")
    await chat.press(1)
    await chat.press_data(stale)
    await chat.press_data("forged")
    await chat.press(1)
    await chat.press(1)
    await chat.say("ngắn")
    await chat.say("x" * 4001)
    await chat.say("Mô tả hợp lệ về sự việc cần phản ánh.")
    await chat.media(Media(MediaKind.VIDEO))
    await chat.media(Media(MediaKind.DOCUMENT, size=10**9, too_large=True))
    await chat.say("/skip")


SCENARIOS: dict[str, Callable[[Chat], Awaitable[None]]] = {
    "onboarding_self": onboarding_self,
    "onboarding_invite": onboarding_invite,
    "report_full": report_full,
    "report_named_and_confidential": report_named_and_confidential,
    "back_skip_cancel": back_skip_cancel,
    "my_reports": my_reports,
    "help_and_language": help_and_language,
    "bad_input": bad_input,
}


@pytest.mark.parametrize("channel", ["web", "zalo"])
@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_golden_transcript(name: str, lang: str, channel: str, tmp_path: Path) -> None:
    """The same flows over a channel with buttons and over Zalo, where people type numbers."""
    with time_machine.travel(FROZEN, tick=False):
        core = await build_core(
            make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", default_locale=lang)
        )
        try:
            await seed_demo(core)
            async with core.sessions() as session, session.begin():
                unit_id = (
                    await session.execute(select(OrgUnit.id).where(OrgUnit.code == "U007"))
                ).scalar_one()
                session.add(Invite(code="GOLDEN42", role="member", unit_id=unit_id, uses_left=1))
                await admin.bind_chat(session, "staff", "test", "staff-room")
            chat = Chat(
                core,
                user_id="777",
                display_name="Hoàng Văn Bảy",
                username="hoangbay",
                channel=channel,
            )
            core.senders["test"] = Recorder(chat)

            async def flush() -> None:
                assert core.delivery is not None
                core.delivery.parallel_chats = 1  # one fixed order for the transcript
                await core.delivery.run_once()

            chat.flush_outbox = flush  # type: ignore[attr-defined]
            await SCENARIOS[name](chat)
        finally:
            await core.close()
    got = chat.text()
    path = GOLDEN / (f"{name}.{lang}.txt" if channel == "web" else f"{name}.{channel}.{lang}.txt")
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text(encoding="utf-8")
