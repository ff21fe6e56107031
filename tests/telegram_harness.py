"""Runs the real product (core + python-telegram-bot adapter) against the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import Core, Runner, build_core, seed_demo
from tests.conftest import make_settings
from tests.fake_telegram import FakeTelegram

TOKEN = "123456:TEST-TOKEN"


@dataclass
class Harness:
    fake: FakeTelegram
    core: Core
    runner: Runner

    async def say(self, user_id: int, text: str, **kw: Any) -> list[dict[str, Any]]:
        """Send a text and wait until the bot has answered (at least one new message)."""
        before = len(self.fake.messages_to(kw.get("chat_id") or user_id))
        self.fake.user_text(user_id, text, **kw)
        return await self.replies(kw.get("chat_id") or user_id, before)

    async def replies(self, chat_id: int, before: int, count: int = 1) -> list[dict[str, Any]]:
        await self.fake.wait_for_messages(chat_id, before + count, timeout=10)
        await self.settle()
        return self.fake.messages_to(chat_id)[before:]

    async def settle(self) -> None:
        """Wait until the update queue is drained and in-flight handlers are done."""
        import asyncio

        for _ in range(200):
            await asyncio.sleep(0.02)
            if not self.fake.pending_updates and len(self.core.dispatcher.locks) == 0:
                await asyncio.sleep(0.05)
                if len(self.core.dispatcher.locks) == 0:
                    return

    async def press(
        self, user_id: int, message: dict[str, Any], number: int
    ) -> list[dict[str, Any]]:
        data = message["reply_markup"]["inline_keyboard"][number - 1][0]["callback_data"]
        before = len(self.fake.messages_to(user_id))
        self.fake.press_button(user_id, message["message_id"], data)
        return await self.replies(user_id, before)


async def started(runner: Runner) -> None:
    """Wait for the start-up catch-up (a digest missed earlier today), so what a test binds or
    sends afterwards never races it, whatever the hour."""
    if runner.catch_up is not None:
        await runner.catch_up


@asynccontextmanager
async def running_bot(
    tmp_path: Path, database_url: str, fake: FakeTelegram | None = None, **settings: Any
) -> AsyncIterator[Harness]:
    """Run the bot against `fake` (started here, and stopped, when not given)."""
    own_fake = fake is None
    if fake is None:
        fake = FakeTelegram()
        await fake.start()
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": fake.url,
        "web_chat": False,
        # The fake server does not enforce flood limits; tests of the limiter set their own.
        "telegram_rate_per_second": 1000,
        "telegram_rate_per_chat_per_second": 1000,
        "telegram_rate_per_group_per_minute": 60000,
    }
    values.update(settings)
    core = await build_core(make_settings(tmp_path, database_url, **values))
    await seed_demo(core)
    runner = Runner(core)
    await runner.start()
    await started(runner)
    try:
        yield Harness(fake, core, runner)
    finally:
        await runner.stop()
        await core.close()
        if own_fake:
            await fake.stop()
