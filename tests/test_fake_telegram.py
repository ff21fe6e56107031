"""Prove the fake Telegram server is faithful enough for the real python-telegram-bot stack.

Why: every bot-level test builds on FakeTelegram; if PTB cannot talk to it exactly as it
talks to api.telegram.org, those tests would prove nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import sys
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, EndPointNotFound, NetworkError, RetryAfter
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from tests.fake_telegram import BOT_USERNAME, FakeTelegram, tiny_png

# PTB 22 warns whenever RetryAfter is built (retry_after becomes a timedelta in v23).
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:TEST-token"
USER = 1001


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start(port=0)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    tg_bot = Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url)
    async with tg_bot:  # initialize() calls getMe against the fake
        yield tg_bot


def keyboard(*datas: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.title(), callback_data=d) for d in datas]])


async def test_get_me_and_token_recorded(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == BOT_USERNAME and me.id > 0
    assert bot.username == BOT_USERNAME
    assert TOKEN in fake.tokens
    assert fake.calls["getMe"] >= 1


async def test_send_message_with_inline_keyboard(fake: FakeTelegram, bot: Bot) -> None:
    first = await bot.send_message(USER, "Chào bạn", reply_markup=keyboard("yes", "no"))
    second = await bot.send_message(str(USER), "Lần hai")
    group = await bot.send_message(-100555, "Group hello")

    assert first.message_id == 1 and second.message_id == 2
    assert first.chat.type == "private" and first.from_user is not None
    assert first.from_user.username == BOT_USERNAME
    assert first.reply_markup == keyboard("yes", "no")
    assert group.chat.type == "supergroup" and group.message_id == 1

    records = fake.messages_to(str(USER))  # str/int-insensitive
    assert [r["text"] for r in records] == ["Chào bạn", "Lần hai"]
    assert records[0]["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "no"
    assert records[0]["method"] == "sendMessage" and records[0]["chat_id"] == USER
    assert fake.texts_to(-100555) == ["Group hello"]
    assert len(fake.sent) == 3


async def test_edit_message_text_and_markup_apply_to_record(fake: FakeTelegram, bot: Bot) -> None:
    msg = await bot.send_message(USER, "Question?", reply_markup=keyboard("a", "b"))

    edited = await bot.edit_message_text("Answered: a", chat_id=USER, message_id=msg.message_id)
    assert isinstance(edited, type(msg)) and edited.text == "Answered: a"
    record = fake.messages_to(USER)[0]
    assert record["text"] == "Answered: a"
    assert record["reply_markup"] is None  # Telegram drops the keyboard when omitted

    await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=keyboard("c"))
    assert fake.messages_to(USER)[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == (
        "c"
    )
    assert [e["method"] for e in fake.edits] == ["editMessageText", "editMessageReplyMarkup"]

    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=keyboard("c"))
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)


async def test_get_updates_long_poll_returns_promptly_and_offset_confirms(
    fake: FakeTelegram, bot: Bot
) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=0) == ()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done()  # it is really long-polling
    injected = fake.user_text(USER, "/start hello")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 2

    assert len(updates) == 1 and updates[0].update_id == injected["update_id"]
    message = updates[0].message
    assert message is not None and message.text == "/start hello"
    assert message.chat.type == "private" and message.from_user.language_code == "vi"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6

    # Unconfirmed updates are served again; confirming with offset drops them.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [injected["update_id"]]
    assert await bot.get_updates(offset=injected["update_id"] + 1, timeout=0) == ()
    assert fake.pending_updates == []

    # limit is honoured and update ids increase monotonically.
    ids = [fake.user_text(USER, f"m{i}")["update_id"] for i in range(3)]
    assert ids == sorted(ids) and ids[0] > injected["update_id"]
    assert [u.update_id for u in await bot.get_updates(limit=2, timeout=0)] == ids[:2]


async def test_replayed_update_id_is_delivered_twice(fake: FakeTelegram, bot: Bot) -> None:
    original = fake.user_text(USER, "duplicate me")
    fake.raw_update(original)
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [original["update_id"]] * 2
    assert fake.user_text(USER, "next")["update_id"] == original["update_id"] + 1


async def test_stop_releases_pending_long_poll(fake: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await fake.stop()
    assert await asyncio.wait_for(poll, 2) == ()
    assert time.monotonic() - started < 2


async def test_long_poll_times_out_empty(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 2


async def test_press_button_and_answer_callback_query(fake: FakeTelegram, bot: Bot) -> None:
    msg = await bot.send_message(USER, "Pick one", reply_markup=keyboard("red", "blue"))
    fake.press_button(USER, msg.message_id, "blue")
    (update,) = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query is not None and query.data == "blue"
    assert query.message is not None and query.message.message_id == msg.message_id
    assert query.message.text == "Pick one"

    assert await query.answer("Got it")
    assert fake.callback_answers[0]["callback_query_id"] == query.id
    assert fake.callback_answers[0]["text"] == "Got it"

    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("not-a-real-id")
    with pytest.raises(LookupError, match="no button"):
        fake.press_button(USER, msg.message_id, "green")


async def test_get_file_and_download(fake: FakeTelegram, bot: Bot) -> None:
    fake.user_photo(USER, caption="ảnh hiện trường")
    fake.user_document(USER, "report.csv", "text/csv", b"a,b\n1,2\n")
    fake.user_voice(USER)
    fake.user_location(USER, 21.03, 105.85)
    fake.user_sticker(USER)
    photo_update, doc_update, voice_update, loc_update, sticker_update = await bot.get_updates()

    photo_msg = photo_update.message
    assert photo_msg is not None and photo_msg.caption == "ảnh hiện trường"
    photo_file = await photo_msg.photo[-1].get_file()
    assert photo_file.file_size == len(tiny_png())
    assert bytes(await photo_file.download_as_bytearray()) == tiny_png()

    doc = doc_update.message.document
    assert doc is not None and doc.file_name == "report.csv"
    doc_file = await doc.get_file()
    assert bytes(await doc_file.download_as_bytearray()) == b"a,b\n1,2\n"

    assert voice_update.message.voice is not None
    assert loc_update.message.location.latitude == pytest.approx(21.03)
    assert sticker_update.message.sticker is not None

    with pytest.raises(BadRequest):
        await bot.get_file("missing")


async def test_upload_photo_and_document_multipart(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_photo(USER, photo=tiny_png(), caption="<b>Bản đồ</b>", parse_mode="HTML")
    assert sent.caption == "Bản đồ" and sent.photo
    downloaded = await (await sent.photo[-1].get_file()).download_as_bytearray()
    assert bytes(downloaded) == tiny_png()

    doc = await bot.send_document(USER, document=b"hello", filename="hello.txt")
    assert doc.document is not None and doc.document.file_name == "hello.txt"
    records = fake.messages_to(USER)
    assert [r["method"] for r in records] == ["sendPhoto", "sendDocument"]
    assert records[1]["document"]["size"] == 5


async def test_rate_limit_raises_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as excinfo:
        await bot.send_message(USER, "too fast")
    assert excinfo.value.retry_after in (3, dtm.timedelta(seconds=3))
    assert fake.messages_to(USER) == []

    await bot.send_message(USER, "now fine")  # only the next call failed
    assert fake.texts_to(USER) == ["now fine"]
    assert fake.calls["sendMessage"] == 2


async def test_bad_gateway_delay_and_unknown_method(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendChatAction", status=502, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match=r"(?i)Bad Gateway"):
            await bot.send_chat_action(USER, "typing")
    assert await bot.send_chat_action(USER, "typing")
    assert fake.chat_actions == [{"chat_id": USER, "action": "typing"}]

    fake.delay_next("getMe", 0.3)
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started >= 0.3

    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")


async def test_markup_validation_mirrors_real_api(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER, "<b>unclosed", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER, "a < b", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)reserved"):
        await bot.send_message(USER, "Done.", parse_mode=ParseMode.MARKDOWN_V2)
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "x", reply_markup=keyboard("z" * 65))
    ok = await bot.send_message(USER, "a &lt; <i>b</i>", parse_mode=ParseMode.HTML)
    assert ok.text == "a < b"
    assert fake.messages_to(USER)[0]["text"] == "a &lt; <i>b</i>"  # record keeps what was sent


async def test_webhook_commands_and_chat(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_webhook("https://example.invalid/hook", secret_token="s3cret")
    assert fake.webhook["url"] == "https://example.invalid/hook"
    assert fake.webhook["secret_token"] == "s3cret"
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    with pytest.raises(Conflict):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""

    assert await bot.set_my_commands([("start", "Bắt đầu"), ("help", "Trợ giúp")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]

    chat = await bot.get_chat(-4242)
    assert chat.type == "group"


async def test_deliver_webhook_sends_secret_header(fake: FakeTelegram, bot: Bot) -> None:
    received: list[tuple[str | None, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="abc")
        update = fake.user_text(USER, "via webhook")
        assert await fake.deliver_webhook(update) == 200
    finally:
        await runner.cleanup()
    assert received == [("abc", update)]


async def test_application_polling_echo(fake: FakeTelegram) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    app: Application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        try:
            fake.user_text(USER, "xin chào")
            messages = await fake.wait_for_messages(USER, 1, timeout=5)
            assert messages[0]["text"] == "echo: xin chào"
        finally:
            await app.updater.stop()
            await app.stop()
    assert fake.pending_updates == []  # the updater confirmed what it handled


async def test_wait_for_messages_timeout_is_helpful(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(USER, "only one")
    with pytest.raises(TimeoutError, match="only one"):
        await fake.wait_for_messages(USER, 2, timeout=0.2)


async def test_control_endpoints(fake: FakeTelegram, bot: Bot) -> None:
    async with ClientSession(base_url=fake.url) as http:
        async with http.post("/_control/user_text", json={"user_id": USER, "text": "hi"}) as r:
            assert (await r.json())["result"]["message"]["text"] == "hi"
        (update,) = await bot.get_updates()
        sent = await bot.send_message(USER, "menu", reply_markup=keyboard("go"))
        body = {"user_id": USER, "message_id": sent.message_id, "data": "go"}
        async with http.post("/_control/press_button", json=body) as r:
            assert r.status == 200
        async with http.post("/_control/fail_next", json={"method": "sendMessage"}) as r:
            assert r.status == 200
        async with http.get("/_control/sent", params={"chat_id": str(USER)}) as r:
            assert [m["text"] for m in (await r.json())["result"]] == ["menu"]
        async with http.get(
            "/_control/wait_messages", params={"chat_id": USER, "count": 2, "timeout": 0.1}
        ) as r:
            assert r.status == 408
    updates = await bot.get_updates(offset=update.update_id + 1)
    assert updates[0].callback_query is not None and updates[0].callback_query.data == "go"
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "x")


async def test_standalone_process_serves_until_killed() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fake_telegram",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        async with Bot(TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot") as b:
            assert (await b.get_me()).username == BOT_USERNAME
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 5) == 0
