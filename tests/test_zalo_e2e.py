"""The real core and the Zalo adapter against the fake Zalo server, over real HTTP.

Polling and webhook modes, what a member sees for content the bot does not understand, and
outbox delivery with Zalo's limits (2,000 characters, no buttons, no edits, photos by URL).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import time_machine
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select, update

from bot.app import Core, build_core, seed_demo
from bot.channels.context import ChannelContext
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo_client import SECRET_HEADER, ZaloBotClient
from handlers.text import utf16_units as text_units
from scheduler.delivery import DeliveryError
from scheduler.polls import run_polls
from storage.models import Attachment, InboundUpdate, Person, PollResponse
from tests.conftest import make_settings
from tests.fake_zalo import FakeZalo
from tests.polls_helpers import load_poll

MEMBER = "a1b2c3d4e5f6a7b8c9d0"
OTHER = "0f1e2d3c4b5a69788796"
THIRD = "9c9c9c9c9c9c9c9c9c9c"
STAFF = "5a5a5a5a5a5a5a5a5a5a"
SECRET = "zalo-webhook-secret-42"
LIMIT = 2000
UPLOAD_LIMIT = 64 * 1024  # small, so an oversized photo is cheap to make
DESCRIPTION = (
    "Công nhân phân xưởng 2 bị nợ lương ba tháng, có nguy cơ ngừng việc tập thể. "
    "Ban giám đốc hứa trả trong tháng tới nhưng chưa có văn bản. "
)
NUMBERED = re.compile(r"^1\. .+$", re.MULTILINE)


@dataclass
class Rig:
    fake: FakeZalo
    core: Core
    channel: ZaloChannel

    def t(self, message: str, **values: object) -> str:
        return self.core.translations("vi")(message, **values)

    async def replies(self, user: str, before: int) -> list[str]:
        """Wait for the bot's first answer, then for the whole turn to finish."""
        await self.fake.wait_for_messages(user, before + 1, timeout=5)
        await self.channel.drain()
        return self.fake.texts_to(user)[before:]

    async def say(self, user: str, text: str, name: str = "Lê Văn") -> list[str]:
        """Polling mode: the user types ``text``; returns the bot's answers."""
        before = len(self.fake.messages_to(user))
        self.fake.user_text(user, text, display_name=name)
        return await self.replies(user, before)

    async def register(self, user: str) -> None:
        for text in ("/start", "Lê Văn Cường", "so tai chinh", "1", "1"):
            await self.say(user, text)

    async def count(self, model: Any) -> int:
        async with self.core.sessions() as session:
            return (await session.execute(select(func.count()).select_from(model))).scalar_one()


@pytest.fixture
async def rig(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Rig]:
    fake = FakeZalo()
    await fake.start()
    core = await build_core(make_settings(tmp_path, sqlite_url, web_chat=False))
    await seed_demo(core)
    client = ZaloBotClient(token=fake.bot_token, api_url=fake.url, request_timeout=5)
    channel = ZaloChannel(
        client,
        ChannelContext(
            core.dispatcher, core.translations, core.settings.attachments_dir, UPLOAD_LIMIT
        ),
    )
    core.senders["zalo"] = channel
    try:
        yield Rig(fake, core, channel)
    finally:
        await channel.stop()
        await core.close()
        await fake.stop()


def assert_within_limit(fake: FakeZalo) -> None:
    for message in fake.sent:
        body = message.get("text") or message.get("caption") or ""
        assert text_units(body) <= LIMIT, f"{len(body)} characters sent in one message"


# -- 1. polling ----------------------------------------------------------------------------------
async def test_polling_member_registers_and_files_a_hot_anonymous_photo_report(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake, t = rig.fake, rig.t
    await rig.channel.start_polling()

    out = await rig.say(MEMBER, "/start")
    assert NUMBERED.search(out[-1])  # "1. Use the name …": no buttons on Zalo
    await rig.say(MEMBER, "Lê Văn Cường")
    out = await rig.say(MEMBER, "so tai chinh")  # typed search without accents
    assert "1. Đảng bộ Sở Tài chính" in out[-1]
    out = await rig.say(MEMBER, "1")
    assert "1. " + t("I agree") in out[-1] and "2. " + t("I do not agree") in out[-1]
    out = await rig.say(MEMBER, "1")
    assert "Sở Tài chính" in out[-1]

    # A bad update and a failing poll on the way: the loop logs, backs off and keeps going.
    fake.fail_next("getUpdates", 500)
    fake.raw_update({"event_name": "message.text.received", "message": "garbage"})

    out = await rig.say(MEMBER, "/report")
    assert NUMBERED.search(out[-1])
    await rig.say(MEMBER, "2")  # category
    out = await rig.say(MEMBER, "2")  # hot
    assert "1. " in out[-1]
    await rig.say(MEMBER, "1")  # my unit
    long_description = (DESCRIPTION * 20)[:2400].strip()  # the review will not fit one message
    await rig.say(MEMBER, long_description)
    before = len(fake.messages_to(MEMBER))
    fake.user_image(MEMBER, fake.file_url("photo.png"), display_name="Lê Văn")
    out = await rig.replies(MEMBER, before)
    assert "1. " + t("Done") in out[-1]
    await rig.say(MEMBER, "1")  # done
    out = await rig.say(MEMBER, "3")  # anonymous
    assert len(out) >= 2, "the review is over 2,000 characters: it must arrive in parts"
    assert "1. ✅" in out[-1]
    out = await rig.say(MEMBER, "1")  # send
    code = re.search(r"PA-\d{4}", out[-1])
    assert code is not None, out

    out = await rig.say(MEMBER, "/my")
    assert f"1. {code.group()}" in out[-1]

    # The photo was downloaded over HTTP and stored with an unguessable relative name.
    async with rig.core.sessions() as session:
        att = (await session.execute(select(Attachment))).scalar_one()
    assert att.channel == "zalo" and att.kind == "photo"
    assert re.fullmatch(r"\d{4}/\d{2}/[0-9a-f]{32}\.png", att.path)
    stored = rig.core.settings.attachments_dir / att.path
    assert stored.read_bytes() == fake.files["photo.png"][0]
    assert fake.file_downloads["photo.png"] == 1

    assert_within_limit(fake)
    assert all(m["method"] == "sendMessage" for m in fake.sent)
    assert fake.calls["getUpdates"] >= 2
    assert "zalo poll failed" in caplog.text
    assert fake.bot_token not in caplog.text


# -- 2. webhook ----------------------------------------------------------------------------------
@asynccontextmanager
async def webhook_server(rig: Rig) -> AsyncIterator[str]:
    """The channel's webhook route on a local server, registered with the fake."""
    app = web.Application()
    app.add_routes([rig.channel.webhook_route(SECRET)])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/zalo/webhook"))
    await rig.channel.start_webhook(url, SECRET)
    try:
        yield url
    finally:
        await server.close()


@pytest.fixture
async def hook(rig: Rig) -> AsyncIterator[str]:
    async with webhook_server(rig) as url:
        yield url


async def post(url: str, body: bytes, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status


async def test_webhook_checks_the_secret_accepts_both_shapes_and_processes_once(
    rig: Rig, hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake, channel = rig.fake, rig.channel
    assert fake.webhook["url"] == hook

    start = fake.user_text(MEMBER, "/start")
    assert fake.pending_updates == []  # with a webhook set, Zalo pushes instead of queueing
    raw = json.dumps({"ok": True, "result": start}).encode()
    assert await post(hook, raw, None) == 403
    assert await post(hook, raw, "not-the-secret") == 403
    await channel.drain()
    assert fake.messages_to(MEMBER) == []
    assert await rig.count(InboundUpdate) == 0
    assert "wrong or missing secret" in caplog.text
    assert "not-the-secret" not in caplog.text and SECRET not in caplog.text

    # Wrapped: answered before it is handled (the reply is still on its way), then handled.
    fake.delay_next("sendMessage", 0.3)
    assert await fake.deliver_webhook(start, wrapped=True) == 200
    assert fake.messages_to(MEMBER) == []
    await channel.drain()
    welcome = fake.texts_to(MEMBER)
    assert welcome and NUMBERED.search(welcome[-1])

    # The same event again, in the other shape: a replay, so nothing new is said.
    assert await fake.deliver_webhook(start, wrapped=False) == 200
    await channel.drain()
    assert fake.texts_to(MEMBER) == welcome
    assert await rig.count(InboundUpdate) == 1

    # Bare body, new event: handled.
    assert await fake.deliver_webhook(fake.user_text(MEMBER, "Lê Văn Cường"), wrapped=False) == 200
    await channel.drain()
    assert len(fake.texts_to(MEMBER)) > len(welcome)

    # Malformed JSON and non-message events: 200 (so Zalo keeps the webhook), logged, ignored.
    sent = len(fake.sent)
    assert await post(hook, b'{"ok": true, "result": {', SECRET) == 200
    assert await post(hook, b'{"event_name": "user.follow", "user_id": "x"}', SECRET) == 200
    await channel.drain()
    assert len(fake.sent) == sent
    assert "not JSON" in caplog.text and "not a user message" in caplog.text

    # Without a message id the key is a hash of the message, the same in either shape.
    anonymous = fake.user_text(THIRD, "/start")
    del anonymous["message"]["message_id"]
    assert await fake.deliver_webhook(anonymous, wrapped=True) == 200
    await channel.drain()
    first = fake.texts_to(THIRD)
    assert first
    assert await fake.deliver_webhook(anonymous, wrapped=False) == 200
    await channel.drain()
    assert fake.texts_to(THIRD) == first

    # A replayed photo is not stored twice; this one answers no question, so neither copy stays.
    photo = fake.user_image(THIRD)
    for wrapped in (True, False):
        assert await fake.deliver_webhook(photo, wrapped=wrapped) == 200
        await channel.drain()
    files = [p for p in rig.core.settings.attachments_dir.rglob("*") if p.is_file()]
    assert files == [] and fake.file_downloads["photo.png"] == 2

    # An event name Zalo may add later: 200, logged, and the member hears what the bot accepts.
    reaction = fake.user_event("message.reaction.received", OTHER, {"text": "❤"})
    assert await fake.deliver_webhook(reaction) == 200
    await channel.drain()
    assert "message.reaction.received" in caplog.text
    assert fake.texts_to(OTHER), "the unknown event got no answer"
    assert_within_limit(fake)


# -- 3. content the bot does not understand --------------------------------------------------------
async def test_stickers_unsupported_content_and_oversized_input_get_explanations(
    rig: Rig,
) -> None:
    fake, t, channel = rig.fake, rig.t, rig.channel
    await channel.start_polling()
    await rig.register(MEMBER)

    async def send(inject: Any) -> list[str]:
        before = len(fake.messages_to(MEMBER))
        inject()
        return await rig.replies(MEMBER, before)

    # Idle: a sticker is explained.
    out = await send(lambda: fake.user_sticker(MEMBER))
    assert out == [t("To send a photo or a file with a report, start one with /report.")]

    for text in ("/report", "1", "1", "1"):
        out = await rig.say(MEMBER, text)
    question = out[-1]  # the description

    out = await send(lambda: fake.user_sticker(MEMBER))
    assert out == [t("Stickers cannot be used as an answer here."), question]
    out = await send(lambda: fake.user_unsupported(MEMBER))
    assert out[0] == t(
        "I was not expecting a file or a photo here. You can add attachments later in the report, at the attachments question."
    )
    assert out[-1] == question
    out = await rig.say(MEMBER, "x" * 4100)
    too_long = t(
        "Your text has {length} characters; the limit here is {limit}. Please shorten it and send it again. Your other answers are kept.",
        length=4100,
        limit=4000,
    )
    assert out == [too_long, question]

    # At the attachments question: an over-large photo is refused and never kept on disk.
    out = await rig.say(MEMBER, DESCRIPTION)
    big = fake.add_file("big.png", b"\x89PNG" + b"\0" * (UPLOAD_LIMIT + 10))
    out = await send(lambda: fake.user_image(MEMBER, big))
    too_large = t(
        "This file is too large to accept. Please send a smaller one (a photo rather than a video, for example)."
    )
    assert out[0] == too_large

    # Streamed without a length: reading stops at the limit and the partial file is removed.
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(UPLOAD_LIMIT // 4096 + 4):
            await response.write(b"\0" * 4096)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/cdn/photo.jpg", stream)
    async with TestServer(app, host="127.0.0.1") as cdn:
        out = await send(lambda: fake.user_image(MEMBER, str(cdn.make_url("/cdn/photo.jpg"))))
    assert out[0] == too_large
    # A photo the CDN cannot serve gets an apology; the member may simply send it again.
    out = await send(lambda: fake.user_image(MEMBER, fake.file_url("gone.png")))
    assert out == [
        t(
            "Sorry, something went wrong on our side. Your answers so far are kept: please try again in a moment."
        )
    ]
    attachments = rig.core.settings.attachments_dir
    assert not [p for p in attachments.rglob("*") if p.is_file()]
    assert_within_limit(fake)


# -- 4. outbox delivery --------------------------------------------------------------------------
async def test_outbox_delivery_splits_numbers_and_maps_errors(rig: Rig) -> None:
    fake, channel = rig.fake, rig.channel
    text = (DESCRIPTION * 30)[:2500]

    message_id = await channel.deliver(STAFF, {"text": text})
    sent = fake.messages_to(STAFF)
    assert len(sent) == 2 and message_id == sent[-1]["message_id"]
    assert all(text_units(m["text"]) <= LIMIT for m in sent)
    assert " ".join(m["text"] for m in sent).split() == text.split()

    card = {"kind": "card", "text": "PA-0001", "choices": [["c:1:ack", "Tiếp nhận"]]}
    await channel.deliver(STAFF, card)
    await channel.deliver(STAFF, {**card, "kind": "card_edit", "message_id": "abc"})
    assert fake.texts_to(STAFF)[-2:] == ["PA-0001\n\n1. Tiếp nhận"] * 2  # no edits on Zalo

    fake.fail_next("sendMessage", 403)
    with pytest.raises(DeliveryError) as refused:
        await channel.deliver(STAFF, {"text": "hello"})
    assert refused.value.permanent
    fake.fail_next("sendMessage", 429)
    with pytest.raises(DeliveryError) as limited:
        await channel.deliver(STAFF, {"text": "hello"})
    assert not limited.value.permanent
    fake.fail_next("sendMessage", 502)
    with pytest.raises(DeliveryError) as flaky:
        await channel.deliver(STAFF, {"text": "hello"})
    assert not flaky.value.permanent
    assert fake.bot_token not in str(refused.value) + str(limited.value) + str(flaky.value)

    # Files: without PUBLIC_URL the caption goes out with a note; with it, a photo by URL.
    rel = "2026/01/" + "ab" * 16 + ".png"
    stored = rig.core.settings.attachments_dir / rel
    stored.parent.mkdir(parents=True)
    stored.write_bytes(fake.files["photo.png"][0])
    await channel.deliver(STAFF, {"kind": "photo", "path": rel, "caption": "PA-0001"})
    assert fake.texts_to(STAFF)[-1].startswith("PA-0001\n📎")
    fake.add_file(rel, stored.read_bytes())  # the fake plays our /files route
    channel.public_url = fake.url
    await channel.deliver(STAFF, {"kind": "photo", "path": rel, "caption": "PA-0001"})
    photo = fake.messages_to(STAFF)[-1]
    assert photo["method"] == "sendPhoto" and photo["photo"] == f"{fake.url}/files/{rel}"
    assert photo["caption"] == "PA-0001"

    for bad in ("2026/01/missing.png", "../outside.png"):
        with pytest.raises(DeliveryError) as missing:
            await channel.deliver(STAFF, {"kind": "photo", "path": bad, "caption": "x"})
        assert missing.value.permanent


# -- 5. polls over Zalo --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_collaborator_answers_a_poll_over_zalo(rig: Rig, mode: str) -> None:
    """The invitation arrives through the outbox with no buttons; the collaborator types /poll
    and numbers, and the answers are stored against the round."""
    async with AsyncExitStack() as stack:
        if mode == "webhook":
            await stack.enter_async_context(webhook_server(rig))
        else:
            await rig.channel.start_polling()
        await answer_poll_over_zalo(rig, pushed=mode == "webhook")


async def answer_poll_over_zalo(rig: Rig, pushed: bool) -> None:
    async def say(text: str) -> list[str]:
        if not pushed:
            return await rig.say(MEMBER, text)
        before = len(rig.fake.messages_to(MEMBER))
        assert await rig.fake.deliver_webhook(rig.fake.user_text(MEMBER, text)) == 200
        return await rig.replies(MEMBER, before)

    for text in ("/start", "Lê Văn Cường", "so tai chinh", "1", "1"):
        await say(text)
    async with rig.core.sessions() as session, session.begin():
        await session.execute(update(Person).values(role="collaborator"))
    await load_poll(rig.core, "pulse-anonymous")
    with time_machine.travel(datetime(2026, 12, 1, 1, 0, tzinfo=UTC), tick=True):
        before = len(rig.fake.messages_to(MEMBER))
        assert await run_polls(rig.core) == 1
        assert rig.core.delivery is not None
        await rig.core.delivery.run_once()
        invitation = rig.fake.texts_to(MEMBER)[before]
        assert "Khảo sát nhanh ẩn danh" in invitation and "Gửi /poll để bắt đầu." in invitation
        assert "Trả lời ngay" not in invitation  # no button to point at on Zalo
        out = await say("/poll")
        assert NUMBERED.search(out[-1]) and "câu hỏi 1 trên 3" in out[-1]
        out = await say("9")
        assert "từ 1 đến 5" in out[0]
        await say("4")
        await say("25")
        out = await say("Cần tăng cường đối thoại với người lao động.")
        assert "đã được ghi nhận" in out[-1]
    async with rig.core.sessions() as session:
        row = (await session.execute(select(PollResponse))).scalars().one()
    assert row.person_id is None
    assert row.answers == {
        "workload": 4,
        "staff_cut": 25,
        "say": "Cần tăng cường đối thoại với người lao động.",
    }


async def test_a_stopping_instance_refuses_new_webhook_events_and_answers_the_one_in_hand(
    rig: Rig, hook: str
) -> None:
    """A rolling restart: while it stops, the instance answers 503 (the balancer or Zalo's
    retry takes the event to another instance) and the event it already holds is answered."""
    fake, channel = rig.fake, rig.channel
    fake.delay_next("sendMessage", 0.5)  # the answer is on the wire when the stop begins
    assert await fake.deliver_webhook(fake.user_text(MEMBER, "/start")) == 200
    for _ in range(100):
        if channel.inflight.replies:
            break
        await asyncio.sleep(0.01)
    stopping = asyncio.create_task(channel.stop())
    await asyncio.sleep(0.05)
    late = fake.user_text(OTHER, "/start")
    assert await fake.deliver_webhook(late) == 503
    await stopping
    assert NUMBERED.search(fake.texts_to(MEMBER)[-1])  # answered before the connection closed
    assert fake.messages_to(OTHER) == []
    assert await rig.count(InboundUpdate) == 1  # the refused one is not kept: another takes it
