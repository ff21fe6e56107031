"""Telegram-specific faults: webhook secrets and retries, 429s, groups, stale keyboards."""

from __future__ import annotations

import json

import aiohttp
from sqlalchemy import func, select

from storage import admin
from storage.models import InboundUpdate, OutboxMessage
from tests.telegram_harness import running_bot, started
from tests.test_restart import free_port

SECRET = "s3cr3t-webhook-token"


async def test_webhook_checks_the_secret_and_processes_a_retried_update_once(tmp_path, sqlite_url):
    port = free_port()
    async with running_bot(
        tmp_path,
        sqlite_url,
        telegram_mode="webhook",
        telegram_webhook_secret=SECRET,
        web_port=port,
        public_url=f"http://127.0.0.1:{port}",
    ) as h:
        fake = h.fake
        assert fake.webhook["url"] == f"http://127.0.0.1:{port}/telegram/webhook"
        assert fake.webhook["secret_token"] == SECRET
        update = fake.user_text(7001, "/start")
        url = fake.webhook["url"]
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(url, json=update, headers=headers) as resp:
                    assert resp.status == 403
            async with http.post(
                url, data=b"{broken", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            ) as resp:
                assert resp.status == 400
            poison = {"update_id": 5, "message": "not a message", "callback_query": [1, 2]}
            async with http.post(
                url, json=poison, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            ) as resp:
                assert resp.status == 200  # accepted and dropped, so it is not retried forever
        assert fake.messages_to(7001) == []

        assert await fake.deliver_webhook(update) == 200
        assert await fake.deliver_webhook(update) == 200  # Telegram retries after a timeout
        await fake.wait_for_messages(7001, 2)
        await h.settle()
        texts = fake.texts_to(7001)
        assert len(texts) == 2  # welcome + first question, once
        async with h.core.sessions() as session:
            seen = (
                await session.execute(select(func.count()).select_from(InboundUpdate))
            ).scalar_one()
        assert seen == 1


async def test_429_on_a_reply_is_waited_out_and_nothing_is_sent_twice(tmp_path, sqlite_url):
    async with running_bot(tmp_path, sqlite_url) as h:
        h.fake.fail_next("sendMessage", status=429, retry_after=1)
        out = await h.say(7002, "/start")
        await h.settle()
        texts = h.fake.texts_to(7002)
        assert len(texts) == len(set(texts)) == 2
        assert "Grassroots" in texts[0]
        assert out


async def test_outbox_delivery_waits_out_a_429(tmp_path, sqlite_url):
    async with running_bot(tmp_path, sqlite_url) as h:
        async with h.core.sessions() as session, session.begin():
            await admin.bind_chat(session, "staff", "telegram", "-100777")
        h.fake.fail_next("sendMessage", status=429, retry_after=1)
        member = 7003
        for step in ("/start", "Võ Thị Hạnh", "1", "1"):
            await h.say(member, step)
        out = await h.say(member, "/report")
        for step in ("1", "1", "1", "Mô tả sự việc đủ chi tiết để xử lý.", "/skip", "1", "1"):
            out = await h.say(member, step)
        assert "PA-0001" in out[-1]["text"]
        staff = await h.fake.wait_for_messages(-100777, 1, timeout=15)
        assert "PA-0001" in staff[0]["text"] and "Võ Thị Hạnh" in staff[0]["text"]  # named
        assert len(h.fake.messages_to(-100777)) == 1


async def test_group_chat_strangers_get_a_hint_and_nothing_breaks(tmp_path, sqlite_url):
    async with running_bot(tmp_path, sqlite_url) as h:
        group = -100999
        h.fake.user_text(7004, "chào cả nhà", chat_id=group)
        out = await h.say(7004, "/report@grassroots_test_bot", chat_id=group)
        assert "riêng" in out[-1]["text"]  # "write to me in a private chat"
        h.fake.user_sticker(7004, chat_id=group)
        await h.settle()
        assert len(h.fake.messages_to(group)) == 1
        # The private conversation still works afterwards.
        out = await h.say(7004, "/start")
        assert "Grassroots" in out[0]["text"]


async def test_a_tapped_keyboard_is_retired_and_a_second_tap_is_refused(tmp_path, sqlite_url):
    async with running_bot(tmp_path, sqlite_url) as h:
        out = await h.say(7005, "/start")
        question = out[-1]
        data = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        await h.press(7005, question, 1)
        retired = h.fake.message(7005, question["message_id"])
        assert not retired.get("reply_markup")
        assert "✓" in retired["text"]
        h.fake.press_button(7005, question["message_id"], data, check=False)  # a double tap
        await h.fake.wait_for(lambda: len(h.fake.callback_answers) >= 2, timeout=5)
        await h.settle()
        assert h.fake.callback_answers[-1].get("show_alert") in (True, "true", "True")
        async with h.core.sessions() as session:
            pending = (
                await session.execute(select(func.count()).select_from(OutboxMessage))
            ).scalar_one()
        assert pending == 0


async def test_a_blocked_chat_is_a_permanent_failure_and_the_queue_moves_on(tmp_path, sqlite_url):
    from storage.outbox import enqueue

    async with running_bot(tmp_path, sqlite_url) as h:
        assert h.core.delivery is not None
        h.core.delivery.stop()  # drive the worker by hand
        async with h.core.sessions() as session, session.begin():
            await enqueue(session, "t:blocked", "telegram", "8001", {"text": "một"})
            await enqueue(session, "t:ok", "telegram", "8002", {"text": "hai"})
        h.fake.fail_next(
            "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
        )
        await h.core.delivery.run_once()
        async with h.core.sessions() as session:
            rows = {
                r.idempotency_key: r
                for r in (await session.execute(select(OutboxMessage))).scalars()
            }
        assert rows["t:blocked"].status == "failed" and "blocked" in rows["t:blocked"].last_error
        assert rows["t:ok"].status == "sent"
        assert h.fake.texts_to(8002) == ["hai"]


async def test_a_server_without_optional_methods_still_runs_the_bot(tmp_path, sqlite_url):
    """Emulators and self-hosted servers may lack deleteWebhook or setMyCommands."""
    from bot.app import Runner, build_core, seed_demo
    from tests.conftest import make_settings
    from tests.fake_telegram import FakeTelegram

    fake = FakeTelegram()
    await fake.start()
    fake.fail_next("deleteWebhook", status=404, description="Not Found")
    fake.fail_next("setMyCommands", status=404, description="Not Found")
    core = await build_core(
        make_settings(
            tmp_path,
            sqlite_url,
            telegram_bot_token="1:X",
            telegram_api_url=fake.url,
            web_chat=False,
        )
    )
    await seed_demo(core)
    runner = Runner(core)
    await runner.start()
    await started(runner)
    try:
        fake.user_text(7777, "/start")
        messages = await fake.wait_for_messages(7777, 2, timeout=10)
        assert "Grassroots" in messages[0]["text"]
    finally:
        await runner.stop()
        await core.close()
        await fake.stop()


async def test_the_command_menu_is_set_in_the_organisations_language(tmp_path, sqlite_url):
    async with running_bot(tmp_path, sqlite_url) as h:
        commands = h.fake.commands
        listed = json.dumps(commands, ensure_ascii=False)
        assert "report" in listed and "Phản ánh" in listed
