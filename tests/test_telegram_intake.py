"""Taking updates in: an unreadable update, an idle server that ignores `timeout`, an outage
while replying, and what the logs may carry."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select, text

from bot.logs import configure_logging
from storage.models import OutboxMessage
from tests.fake_telegram import FakeTelegram
from tests.telegram_harness import running_bot
from tests.test_restart import free_port
from tests.test_telegram_interop import FIRST_EPOCH

SECRET_NAME = "Nguyễn Bí Mật"


def poll_without_fields(update_id: int, user_id: int) -> dict:
    """A poll message lacking fields python-telegram-bot requires: it cannot be parsed."""
    user = {"id": user_id, "is_bot": False, "first_name": SECRET_NAME}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": FIRST_EPOCH,
            "chat": {"id": user_id, "type": "private", "first_name": SECRET_NAME},
            "from": user,
            "poll": {"id": "9", "question": "Ai đi họp?"},
        },
    }


async def test_an_unreadable_update_is_skipped_logged_once_and_everyone_after_it_is_served(
    tmp_path, sqlite_url, caplog
):
    caplog.set_level(logging.DEBUG, logger="bot")
    async with running_bot(tmp_path, sqlite_url) as h:
        h.fake.raw_update(poll_without_fields(60, 7201))
        out = await h.say(7202, "/start")
        assert "Grassroots" in out[0]["text"]
        await h.fake.wait_for(lambda: not h.fake.pending_updates, what="the update acknowledged")
        assert h.fake.messages_to(7201) == []
    skipped = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert len(skipped) == 1
    logged = "\n".join(r.getMessage() + str(r.exc_text or "") for r in caplog.records)
    assert SECRET_NAME not in logged and "Ai đi họp" not in logged


async def test_an_idle_bot_does_not_spin_against_a_server_that_ignores_the_poll_timeout(
    tmp_path, sqlite_url
):
    async with FakeTelegram() as fake:
        fake.ignore_timeout = True
        async with running_bot(tmp_path, sqlite_url, fake=fake) as h:
            before = fake.calls["getUpdates"]
            await asyncio.sleep(3)
            polls = fake.calls["getUpdates"] - before
            assert polls <= 10, f"{polls} getUpdates calls in 3 s of idling"
            out = await h.say(7203, "/start")  # and it still answers promptly
            assert "Grassroots" in out[0]["text"]


async def test_a_reply_during_an_outage_arrives_after_recovery_in_order(tmp_path, sqlite_url):
    async with running_bot(tmp_path, sqlite_url) as h:
        fake = h.fake
        fake.fail_next("sendMessage", status=502, times=4)  # every try of the direct reply
        fake.delay_next("sendMessage", 1.0)  # the first send after the outage is slow
        fake.user_text(7204, "/help")
        await fake.wait_for(lambda: fake.calls["sendMessage"] >= 5, timeout=15, what="retries")
        fake.user_text(7204, "/start")
        await fake.wait_for_messages(7204, 3, timeout=15)
        await h.settle()
        texts = fake.texts_to(7204)
        async with h.core.sessions() as session:
            stmt = select(OutboxMessage).where(OutboxMessage.idempotency_key.startswith("reply:"))
            deferred = (await session.execute(stmt)).scalars().all()
    assert deferred and all(set(row.payload) == {"sealed"} for row in deferred)
    assert "/report" in texts[0]  # the /help answer, first, as it was asked first
    assert "Grassroots" in texts[1]


async def test_no_log_line_carries_message_text_or_a_raw_update(tmp_path, sqlite_url):
    configure_logging("DEBUG")
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        async with running_bot(tmp_path, sqlite_url) as h:
            await h.say(7205, "/start")
            await h.say(7205, SECRET_NAME)
            h.fake.raw_update(poll_without_fields(70, 7206))
            await h.say(7205, "/help")
    finally:
        root.removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    assert records, "nothing was logged at all: the capture is broken"
    for record in records:
        line = record.getMessage() + (
            logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        )
        assert SECRET_NAME not in line, (record.name, line[:300])
        assert '"update_id"' not in line and "'update_id'" not in line, (record.name, line[:300])
        assert "Ai đi họp" not in line, (record.name, line[:300])


async def test_a_webhook_update_that_cannot_be_kept_is_refused_so_telegram_sends_it_again(
    tmp_path, sqlite_url
):
    port = free_port()
    async with running_bot(
        tmp_path,
        sqlite_url,
        telegram_mode="webhook",
        telegram_webhook_secret="s3cr3t-webhook-token",
        web_port=port,
        public_url=f"http://127.0.0.1:{port}",
    ) as h:
        update = h.fake.user_text(7207, "/start")
        async with h.core.db.begin() as conn:  # the database breaks under us
            await conn.execute(text("ALTER TABLE inbox RENAME TO inbox_away"))
        assert await h.fake.deliver_webhook(update) >= 500  # not acknowledged
        async with h.core.db.begin() as conn:
            await conn.execute(text("ALTER TABLE inbox_away RENAME TO inbox"))
        assert await h.fake.deliver_webhook(update) == 200  # Telegram's retry
        out = await h.fake.wait_for_messages(7207, 1, timeout=10)
        assert "Grassroots" in out[0]["text"]


async def test_forged_and_old_button_presses_crash_nothing_and_an_unseen_prompt_is_not_edited(
    tmp_path, sqlite_url
):
    """Button presses are read from the update's JSON (bot/channels/telegram.py `Tap`)."""
    async with running_bot(tmp_path, sqlite_url) as h:
        question = (await h.say(7301, "/start"))[-1]
        data = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        sent = len(h.fake.messages_to(7301))
        user = {"id": 7301, "is_bot": False, "first_name": SECRET_NAME}
        chat = {"id": 7301, "type": "private"}
        # Telegram's mark of a message the bot can no longer see (too old): date 0.
        unseen = {"message_id": question["message_id"], "date": 0, "chat": chat}
        for n, query in enumerate(
            [
                {"id": "q1", "chat_instance": "1", "data": data},  # no sender
                {"id": "q2", "from": {**user, "id": "7301"}, "data": data},
                {"id": "q3", "from": user, "chat_instance": "1", "data": data, "message": "x"},
                {"id": "q4", "from": user, "chat_instance": "1", "data": data, "message": unseen},
            ]
        ):
            h.fake.raw_update({"update_id": 900 + n, "callback_query": query})
        await h.fake.wait_for(lambda: len(h.fake.messages_to(7301)) > sent, what="q4 answered")
        await h.settle()
        assert h.fake.message(7301, question["message_id"])["reply_markup"]  # left as it was
        assert "Grassroots" in (await h.say(7302, "/start"))[0]["text"]
