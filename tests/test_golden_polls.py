"""Golden transcripts for polls and situation reports, in Vietnamese and English, over the
web chat and Zalo (through the core, as their adapters drive it) and over Telegram (the real
python-telegram-bot adapter against the fake Bot API server).

Proactive messages (invitations, reminders, results, escalations) arrive through the outbox
and the delivery worker, so they appear in the transcript where the person would see them.
Regenerate with `UPDATE_GOLDEN=1 uv run pytest tests/test_golden_polls.py` and review the diff.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select

from bot.app import Core, build_core, seed_demo
from bot.render import numbered_text
from handlers.types import Choice, Outbound
from scheduler.polls import run_polls
from storage.models import OutboxMessage
from tests.chat import Chat
from tests.conftest import make_settings
from tests.polls_helpers import bind, load_poll, person
from tests.telegram_harness import Harness, running_bot

GOLDEN = Path(__file__).with_name("golden")
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A local time in 2026 (the organisation's time zone), as UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=HANOI).astimezone(UTC)


def _render(payload: dict[str, Any]) -> str:
    if "text" not in payload:
        return f"({payload.get('kind')}: {payload.get('caption', '')})"
    choices = tuple(Choice(label, data) for data, label in payload.get("choices") or [])
    return numbered_text(Outbound("x", payload["text"], choices))


class Driver(Protocol):
    transcript: list[str]
    core: Core

    async def say(self, text: str) -> None: ...
    async def press(self, number: int) -> None: ...
    async def answer_invitation(self) -> None: ...
    async def jobs(self) -> None: ...


# -- the web chat and Zalo, through the core ------------------------------------------------------
class CoreDriver:
    """Drives the core as the web and Zalo adapters do; records what the outbox delivers."""

    def __init__(self, core: Core, channel: str, user_id: str) -> None:
        self.core = core
        self.chat = Chat(core, user_id=user_id, channel=channel, display_name="Phạm Thu Hà")
        self.transcript = self.chat.transcript
        self.buttons: list[tuple[str, str]] = []
        core.senders[channel] = self
        core.senders["test"] = self
        # Pacing is tested in test_delivery; here it would hold a chat's second message back
        # past the end of the scenario.
        assert core.delivery is not None
        core.delivery.limiters.clear()

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        where = "" if chat_id == self.chat.user_id else f"[{chat_id}] "
        self.transcript.append(f"<< {where}" + _render(payload).replace("\n", "\n  "))
        if chat_id == self.chat.user_id and payload.get("choices"):
            self.buttons = [(label, data) for data, label in payload["choices"]]
        return "1"

    async def say(self, text: str) -> None:
        await self.chat.say(text)

    async def press(self, number: int) -> None:
        await self.chat.press(number)

    async def answer_invitation(self) -> None:
        """The invitation's button; on Zalo, with no buttons, people send /poll."""
        if self.chat.channel == "zalo":
            await self.chat.say("/poll")
            return
        label, data = self.buttons[0]
        await self.chat.send(
            self.chat._inbound(callback=data, callback_message_id="1"), f"[{label}]"
        )

    async def jobs(self) -> None:
        await run_polls(self.core)
        assert self.core.delivery is not None
        self.core.delivery.parallel_chats = 1
        await self.core.delivery.run_once()


# -- Telegram, through python-telegram-bot and the fake Bot API -------------------------------------
USER = 4242
LEADERS = -100100
STAFF = -100200


class TelegramDriver:
    def __init__(self, harness: Harness) -> None:
        self.h = harness
        self.core = harness.core
        self.transcript: list[str] = []
        self.seen = {USER: 0, LEADERS: 0, STAFF: 0}

    def _collect(self) -> None:
        for chat_id, label in ((USER, ""), (LEADERS, "[leaders] "), (STAFF, "[staff] ")):
            messages = self.h.fake.messages_to(chat_id)
            for m in messages[self.seen[chat_id] :]:
                body = m.get("text") or f"(photo: {m.get('caption', '')})"
                keyboard = (m.get("reply_markup") or {}).get("inline_keyboard") or []
                labels = [b["text"] for row in keyboard for b in row]
                if labels and "1. " not in body:
                    body += "\n[" + " | ".join(labels) + "]"
                self.transcript.append(f"< {label}" + body.replace("\n", "\n  "))
            self.seen[chat_id] = len(messages)

    async def _settle(self) -> None:
        await self.h.settle()
        await self._drain()
        self._collect()

    async def _drain(self) -> None:
        """Wait until the delivery worker has sent everything queued."""
        assert self.core.delivery is not None
        for _ in range(500):
            async with self.core.sessions() as session:
                pending = (
                    await session.execute(
                        select(func.count()).where(OutboxMessage.status == "pending")
                    )
                ).scalar_one()
            if not pending:
                await self.h.settle()
                return
            self.core.delivery.wake()
            await asyncio.sleep(0.02)
        raise AssertionError("outbox did not drain")

    async def say(self, text: str) -> None:
        self.transcript.append(f"> {text}")
        before = len(self.h.fake.messages_to(USER))
        self.h.fake.user_text(USER, text, first_name="Hà")
        await self.h.fake.wait_for_messages(USER, before + 1, timeout=10)
        await self._settle()

    async def _tap(self, m: dict[str, Any], button: dict[str, Any]) -> None:
        self.transcript.append(f"> [{button['text']}]")
        before = len(self.h.fake.messages_to(USER))
        self.h.fake.press_button(USER, m["message_id"], button["callback_data"])
        await self.h.fake.wait_for_messages(USER, before + 1, timeout=10)
        await self._settle()

    def _buttons(self, m: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            b for row in (m.get("reply_markup") or {}).get("inline_keyboard") or [] for b in row
        ]

    async def press(self, number: int) -> None:
        m = next(m for m in reversed(self.h.fake.messages_to(USER)) if self._buttons(m))
        await self._tap(m, self._buttons(m)[number - 1])

    async def answer_invitation(self) -> None:
        for m in reversed(self.h.fake.messages_to(USER)):
            for b in self._buttons(m):
                if b["callback_data"].startswith("poll:"):
                    await self._tap(m, b)
                    return
        raise AssertionError("no invitation")

    async def jobs(self) -> None:
        await run_polls(self.core)
        await self._settle()


# -- the scenarios ---------------------------------------------------------------------------------
async def poll_skip_logic(d: Driver, clock: Any) -> None:
    """A named poll with skip logic: a wrong answer, a multiple choice, a conditional question,
    then the results reach the leaders at the deadline."""
    await load_poll(d.core, "opinion-monthly")
    clock.move_to(at(25, 8))
    await d.jobs()
    await d.answer_invitation()
    await d.say("5")  # not an option
    await d.press(2)
    await d.say("1, 3")
    await d.say("7")  # outside 1-5
    await d.say("4")
    await d.press(1)  # yes: the detail question is added
    await d.say("Công nhân lo mất việc khi công ty sáp nhập vào tổng công ty.")
    await d.say("/skip")
    clock.move_to(at(28, 8, 1))
    await d.jobs()


async def poll_anonymous_pause_resume(d: Driver, clock: Any) -> None:
    """An anonymous poll, paused for a report and resumed; a reminder meanwhile."""
    await load_poll(d.core, "pulse-anonymous")
    clock.move_to(at(1, 8, month=12))
    await d.jobs()
    await d.say("/poll")
    await d.say("3")
    await d.say("/cancel")
    await d.say("/report")
    await d.say("/cancel")
    clock.move_to(at(2, 8, 30, month=12))
    await d.jobs()  # the 24-hour reminder: still not answered
    await d.say("/poll")
    await d.say("150")  # above the maximum
    await d.say("40,5")
    await d.say("Cần thêm người cho bộ phận một cửa.")
    clock.move_to(at(3, 8, 1, month=12))
    await d.jobs()


async def poll_late_answer(d: Driver, clock: Any) -> None:
    """The deadline passes in the middle of answering: the late answer is refused."""
    await load_poll(d.core, "pulse-anonymous")
    clock.move_to(at(1, 8, month=12))
    await d.jobs()
    await d.say("/poll")
    await d.say("2")
    clock.move_to(at(3, 9, month=12))
    await d.jobs()
    await d.say("30")
    await d.say("/poll")


async def sitrep_late_with_case(d: Driver, clock: Any) -> None:
    """A contact point files late after two reminders; the hot item becomes a case."""
    await load_poll(
        d.core, "sitrep-monthly", audience={"roles": ["contact"], "units": ["U007", "U012"]}
    )
    clock.move_to(at(20, 8))
    await d.jobs()
    clock.move_to(at(26, 17, 5))
    await d.jobs()  # two days before the due time
    clock.move_to(at(28, 17, 5))
    await d.jobs()  # at the due time
    clock.move_to(at(28, 19))
    await d.answer_invitation()
    await d.say("Cán bộ, đảng viên cơ bản ổn định; một số lo lắng về sắp xếp bộ máy.")
    await d.press(1)  # yes, a pressing issue
    await d.say("Ba tháng chưa trả lương cho 40 công nhân tại phân xưởng 2.")
    await d.say("Đề nghị làm việc với ban giám đốc.")
    clock.move_to(at(1, 17, 5, month=12))
    await d.jobs()  # three days late: U012 still missing, the staff chat is told


SCENARIOS: dict[str, Callable[[Driver, Any], Awaitable[None]]] = {
    "poll_skip_logic": poll_skip_logic,
    "poll_anonymous_pause_resume": poll_anonymous_pause_resume,
    "poll_late_answer": poll_late_answer,
    "sitrep_late_with_case": sitrep_late_with_case,
}
ROLE = {"sitrep_late_with_case": ("contact", "U007")}


def check(name: str, lang: str, channel: str, transcript: list[str]) -> None:
    got = "\n".join(transcript) + "\n"
    path = GOLDEN / f"{name}.{channel}.{lang}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with UPDATE_GOLDEN=1 and review it"
    assert got == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("channel", ["web", "zalo"])
@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_golden_poll(name: str, lang: str, channel: str, tmp_path: Path) -> None:
    with time_machine.travel(at(19, 12), tick=False) as clock:
        core = await build_core(
            make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", default_locale=lang)
        )
        try:
            await seed_demo(core)
            role, unit = ROLE.get(name, ("collaborator", "U007"))
            await person(core, "555", role, unit, name="Phạm Thu Hà", locale=lang, channel=channel)
            async with core.sessions() as session, session.begin():
                from storage import admin

                await admin.bind_chat(session, "leaders", "test", "leaders")
                await admin.bind_chat(session, "staff", "test", "staff")
            driver = CoreDriver(core, channel, "555")
            await SCENARIOS[name](driver, clock)
        finally:
            await core.close()
    check(name, lang, channel, driver.transcript)


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_golden_poll_over_telegram(name: str, lang: str, tmp_path: Path) -> None:
    # The test runs the polls job itself, at the scenario's times; the scheduler's own runs
    # (and its start-up catch-up digest) would interleave at random.
    org = tmp_path / "org"
    org.mkdir()
    (org / "schedules.yaml").write_text("jobs: {}\n", encoding="utf-8")
    with time_machine.travel(at(19, 12), tick=True) as clock:
        async with running_bot(
            tmp_path, f"sqlite+aiosqlite:///{tmp_path / 't.db'}", default_locale=lang, org_dir=org
        ) as h:
            role, unit = ROLE.get(name, ("collaborator", "U007"))
            await person(
                h.core, str(USER), role, unit, name="Phạm Thu Hà", locale=lang, channel="telegram"
            )
            await bind(h.core, "leaders", str(LEADERS))
            await bind(h.core, "staff", str(STAFF))
            driver = TelegramDriver(h)
            await SCENARIOS[name](driver, clock)
    check(name, lang, "telegram", driver.transcript)
