"""Interoperability with Bot API servers other than Telegram's own (emulators, self-hosted):
update ids that restart, chat types that disagree with the id, a start that fails."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from tests.cli import run_cli
from tests.fake_telegram import BOT_ID, FakeTelegram
from tests.telegram_harness import TOKEN, running_bot

DAY = 86_400
FIRST_EPOCH = 1_767_225_600  # 2026-01-01; message dates are data here, not the clock


def start_update(update_id: int, user_id: int, date: int, chat: dict[str, Any] | None = None):
    user = {"id": user_id, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": date,
            "chat": chat or {"id": user_id, "type": "private", "first_name": "Lan"},
            "from": user,
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_update_ids_that_restart_are_not_mistaken_for_replays(tmp_path, sqlite_url):
    """Telegram picks update ids afresh after a week without updates, a new bot starts its own,
    and an emulator restarts them when it restarts: none of those is a replay."""
    servers = [
        (BOT_ID, 7101, FIRST_EPOCH),
        (BOT_ID, 7102, FIRST_EPOCH + 8 * DAY),  # same bot, ids restarted after idling
        (BOT_ID + 1, 7103, FIRST_EPOCH),  # a new bot (a new token), same ids and dates
    ]
    for bot_id, member, date in servers:
        fake = FakeTelegram()
        fake.bot_user["id"] = bot_id
        await fake.start()
        try:
            async with running_bot(tmp_path, sqlite_url, fake=fake) as h:
                fake.raw_update(start_update(1, member, date))
                await fake.wait_for_messages(member, 1, timeout=10)
                await h.settle()
        finally:
            await fake.stop()
        assert "Grassroots" in fake.texts_to(member)[0]


async def test_a_replayed_update_is_handled_once_and_its_drop_is_logged(
    tmp_path, sqlite_url, caplog
):
    caplog.set_level(logging.INFO, logger="bot.dispatcher")
    async with running_bot(tmp_path, sqlite_url) as h:
        update = start_update(40, 7104, FIRST_EPOCH)
        h.fake.raw_update(update)
        await h.fake.wait_for_messages(7104, 2, timeout=10)
        await h.settle()
        await h.runner.telegram.feed_webhook(update)  # the same update, delivered again
        await h.settle()
        assert len(h.fake.texts_to(7104)) == 2
    assert any("already handled" in r.getMessage() for r in caplog.records)


async def test_a_negative_chat_id_is_a_group_whatever_its_type_says(tmp_path, sqlite_url):
    async with running_bot(tmp_path, sqlite_url) as h:
        group = -100555
        wrong = {"id": group, "type": "private", "first_name": "Not really"}
        h.fake.raw_update(start_update(50, 7105, FIRST_EPOCH, chat=wrong))
        await h.fake.wait_for_messages(group, 1, timeout=10)
        await h.settle()
        # A group gets the hint to write privately; a form never starts in front of everyone.
        assert "riêng" in h.fake.texts_to(group)[0]


class RefusesToken(FakeTelegram):
    async def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        from tests.fake_telegram import ApiError

        raise ApiError(401, "Unauthorized")


async def test_a_start_that_fails_exits_with_one_clear_line_and_closes_everything(
    tmp_path: Path,
):
    async with RefusesToken() as fake:
        out = await run_cli(
            ["run"],
            expect=1,
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'gr.db'}",
            DATA_DIR=str(tmp_path),
            ATTACHMENTS_DIR=str(tmp_path / "att"),
            WEB_HOST="127.0.0.1",
            WEB_PORT="0",
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=fake.url,
            ZALO_BOT_TOKEN="",
            PYTHONWARNINGS="default",
            PATH=os.environ["PATH"],
        )
    assert "Traceback" not in out and "Unclosed" not in out, out
    assert TOKEN not in out
    errors = [line for line in out.splitlines() if line.startswith("grassroots: ")]
    assert errors == ["grassroots: Telegram refused the bot token: check TELEGRAM_BOT_TOKEN"], out
    assert out.strip().splitlines()[-1] == errors[0], out  # the last word, after any notices
