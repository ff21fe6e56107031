"""The real Zalo clients (Bot platform and OA) against the fake Zalo server, over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.channels.zalo_client import (
    EVENT_IMAGE,
    EVENT_STICKER,
    EVENT_TEXT,
    EVENT_UNSUPPORTED,
    SECRET_HEADER,
    TEXT_LIMIT,
    ZaloAuthError,
    ZaloBotClient,
    ZaloError,
    ZaloEvent,
    ZaloNetworkError,
    ZaloRateLimited,
    ZaloServerError,
    ZaloTimeout,
    parse_update,
    secret_ok,
)
from bot.channels.zalo_client import (
    split_message as split_text,
)
from bot.channels.zalo_oa import (
    MemoryTokenStore,
    OATokens,
    ZaloOAClient,
    ZaloOARefreshError,
    verify_signature,
)
from handlers.text import utf16_units as text_units
from tests.fake_zalo import OA_GROUP_MESSAGE, OA_REFRESH, FakeZalo

USER = "e4ea2cd5189df1c3a88c"
GROUP = "f1a0c3b2d4e5f6a7b8c9"
SECRET = "webhook-secret-123"

SENTENCES = [
    "Chi bộ cơ sở phản ánh tình trạng chậm giải quyết hồ sơ đất đai tại phường.",
    "Nhiều đảng viên đề nghị Đảng ủy Khối sớm có ý kiến chỉ đạo!",
    "Vì sao việc trả lời kiến nghị của người lao động còn kéo dài?",
    "Đầu mối nắm bắt thông tin đã báo cáo định kỳ theo đúng quy định.",
    "Cộng tác viên dư luận xã hội ghi nhận ý kiến trái chiều về chính sách mới…",
]


def vietnamese_text(target: int) -> str:
    """Paragraphs of Vietnamese sentences, about ``target`` characters long."""
    paragraphs: list[str] = []
    total = 0
    i = 0
    while total < target:
        sentences = [SENTENCES[(i + k) % len(SENTENCES)] for k in range(4)]
        paragraph = " ".join(sentences)
        if i % 3 == 2:
            paragraph = paragraph.replace(". ", ".\n", 1)  # some single line breaks too
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
        i += 1
    return "\n\n".join(paragraphs)[:target].rstrip() + "."


@pytest.fixture
async def fake() -> AsyncIterator[FakeZalo]:
    async with FakeZalo() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeZalo) -> AsyncIterator[ZaloBotClient]:
    async with ZaloBotClient(fake.bot_token, api_url=fake.url, request_timeout=5) as client:
        yield client


def oa_tokens(issued: dict[str, Any], expires_in: timedelta | None = None) -> OATokens:
    lifetime = (
        expires_in if expires_in is not None else timedelta(seconds=int(issued["expires_in"]))
    )
    return OATokens(issued["access_token"], issued["refresh_token"], datetime.now(UTC) + lifetime)


@pytest.fixture
def store(fake: FakeZalo) -> MemoryTokenStore:
    return MemoryTokenStore(oa_tokens(fake.issue_oa_tokens()))


@pytest.fixture
async def oa(fake: FakeZalo, store: MemoryTokenStore) -> AsyncIterator[ZaloOAClient]:
    client = ZaloOAClient(
        fake.oa_app_id,
        fake.oa_app_secret,
        store,
        api_url=fake.url,
        oauth_url=fake.url,
        request_timeout=5,
    )
    async with client:
        yield client


class Receiver:
    """A tiny webhook endpoint that parses what it receives with the client's helpers."""

    def __init__(self) -> None:
        self.events: list[ZaloEvent | None] = []
        self.secrets_ok: list[bool] = []
        self.raw: list[bytes] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.raw.append(raw)
        self.secrets_ok.append(secret_ok(SECRET, request.headers.get(SECRET_HEADER)))
        self.events.append(parse_update(json.loads(raw)))
        return web.json_response({"message": "Success"})

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/zalo/webhook", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/zalo/webhook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


# ---------------------------------------------------------------------------- bot platform
async def test_get_me(bot: ZaloBotClient, fake: FakeZalo) -> None:
    me = await bot.get_me()
    assert me["id"] == fake.bot_info["id"]
    assert me["account_name"] == fake.bot_info["account_name"]
    assert fake.requests[-1]["token"] == fake.bot_token


async def test_empty_poll_answers_408_and_returns_no_updates(
    bot: ZaloBotClient, fake: FakeZalo
) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9  # the server really held the poll
    assert fake.poll_answers == ["408"]
    assert fake.requests[-1]["params"] == {"timeout": "1"}


async def test_poll_returns_promptly_when_an_update_arrives(
    bot: ZaloBotClient, fake: FakeZalo
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await asyncio.sleep(0.1)
    assert not poll.done()
    fake.user_text(USER, "Xin chào Đảng ủy", display_name="Nguyễn Văn A")
    updates = await asyncio.wait_for(poll, 2)
    assert len(updates) == 1
    event = parse_update(updates[0])
    assert event is not None
    assert (event.event_name, event.user_id, event.chat_id) == (EVENT_TEXT, USER, USER)
    assert (event.text, event.display_name) == ("Xin chào Đảng ủy", "Nguyễn Văn A")
    assert fake.pending_updates == []


async def test_poll_accepts_a_list_of_updates(fake: FakeZalo) -> None:
    fake.updates_as_list = True
    fake.user_text(USER, "một")
    fake.user_sticker(USER)
    async with ZaloBotClient(fake.bot_token, api_url=fake.url) as client:
        updates = await client.get_updates(timeout=1)
    events = [parse_update(u) for u in updates]
    assert [e.event_name for e in events if e] == [EVENT_TEXT, EVENT_STICKER]


async def test_webhook_bodies_in_both_shapes_parse_the_same(
    bot: ZaloBotClient, fake: FakeZalo
) -> None:
    async with Receiver() as receiver:
        result = await bot.set_webhook(receiver.url, SECRET)
        assert result["url"] == receiver.url
        assert (await bot.get_webhook_info())["url"] == receiver.url
        update = fake.user_text(USER, "Báo cáo tình hình: ổn định")
        assert fake.pending_updates == []  # with a webhook set, Zalo pushes instead
        assert await fake.deliver_webhook(update, wrapped=True) == 200
        assert await fake.deliver_webhook(update, wrapped=False) == 200
    assert b'"result"' in receiver.raw[0] and b'"result"' not in receiver.raw[1]
    assert receiver.secrets_ok == [True, True]
    wrapped, bare = receiver.events
    assert wrapped is not None and wrapped == bare
    assert wrapped.text == "Báo cáo tình hình: ổn định"
    assert (await bot.delete_webhook())["url"] == ""
    assert (await bot.get_webhook_info())["url"] == ""


def test_secret_check() -> None:
    assert secret_ok(SECRET, SECRET)
    assert not secret_ok(SECRET, SECRET + "x")
    assert not secret_ok(SECRET, None)
    assert not secret_ok(SECRET, "")
    assert not secret_ok("", "")  # an unset secret fails closed
    assert not secret_ok(SECRET, "bí mật")  # non-ASCII must not raise


def test_parse_maps_fields_and_milliseconds() -> None:
    body = {
        "ok": True,
        "result": {
            "event_name": "message.text.received",
            "message": {
                "from": {"id": 6142494823, "display_name": "Ted", "is_bot": False},
                "chat": {"id": 6142494823, "chat_type": "PRIVATE"},
                "text": "Xin chào",
                "message_id": "2d758cb5e222177a4e35",
                "date": 1750316131602,
            },
        },
    }
    event = parse_update(body)
    assert event == ZaloEvent(
        event_name=EVENT_TEXT,
        message_id="2d758cb5e222177a4e35",
        user_id="6142494823",
        chat_id="6142494823",
        display_name="Ted",
        text="Xin chào",
        photo_url=None,
        date=datetime(2025, 6, 19, 6, 55, 31, 602000, tzinfo=UTC),
    )
    assert event.date.tzinfo is UTC


@pytest.mark.parametrize(
    "content",
    [
        {"photo_url": "https://example.vn/a.jpg"},
        {"photo": "https://example.vn/a.jpg"},
        {"photo": {"url": "https://example.vn/a.jpg"}},
        {"photo": [{"url": "https://example.vn/small.jpg"}, {"url": "https://example.vn/a.jpg"}]},
    ],
    ids=["photo_url", "photo-string", "photo-object", "photo-sizes"],
)
def test_parse_accepts_every_photo_shape(content: dict[str, Any]) -> None:
    message = {"from": {"id": "u1"}, "chat": {"id": "u1"}, "caption": "Ảnh hiện trường"}
    event = parse_update({"event_name": EVENT_IMAGE, "message": {**message, **content}})
    assert event is not None
    assert event.photo_url == "https://example.vn/a.jpg"
    assert event.text == "Ảnh hiện trường"


def test_parse_keeps_unknown_event_names() -> None:
    event = parse_update(
        {"event_name": "message.voice.received", "message": {"from": {"id": "u"}, "date": 1}}
    )
    assert event is not None
    assert event.event_name == "message.voice.received" and not event.is_known
    assert event.chat_id == "u"


@pytest.mark.parametrize(
    "body",
    [
        None,
        "text",
        [],
        {},
        {"ok": False, "error_code": 408, "description": "Request timeout"},
        {"event_name": EVENT_TEXT, "message": "hello"},
        {"event_name": EVENT_TEXT, "message": {"text": "no sender"}},
        {"event_name": EVENT_TEXT, "message": {"from": {"id": None}, "text": "x"}},
        {"event_name": EVENT_TEXT, "message": {"from": "u1", "text": "x"}},
        {"event_name": EVENT_TEXT, "message": {"from": {"id": "u1"}, "date": "yesterday"}},
        {"event_name": EVENT_TEXT, "message": {"from": {"id": "u1"}, "date": 10**20}},
    ],
)
def test_parse_returns_none_for_malformed_bodies(body: Any) -> None:
    assert parse_update(body) is None


async def test_injected_events_parse(fake: FakeZalo) -> None:
    image = parse_update(fake.user_image(USER, caption="Đường ngập"))
    sticker = parse_update(fake.user_sticker(USER))
    unsupported = parse_update(fake.user_unsupported(USER))
    assert image is not None and image.event_name == EVENT_IMAGE
    assert image.photo_url and image.photo_url.endswith("/files/photo.png")
    assert image.text == "Đường ngập"
    assert sticker is not None and sticker.event_name == EVENT_STICKER
    assert sticker.photo_url is None and sticker.sticker
    assert unsupported is not None and unsupported.event_name == EVENT_UNSUPPORTED
    assert unsupported.text == "" and unsupported.message_id
    assert abs((unsupported.date - datetime.now(UTC)).total_seconds()) < 5


async def test_inbound_photo_can_be_downloaded(bot: ZaloBotClient, fake: FakeZalo) -> None:
    fake.user_image(USER)
    (update,) = await bot.get_updates(timeout=1)
    event = parse_update(update)
    assert event is not None and event.photo_url
    async with aiohttp.ClientSession() as session, session.get(event.photo_url) as resp:
        content = await resp.read()
    assert content.startswith(b"\x89PNG")
    assert fake.file_downloads["photo.png"] == 1


async def test_long_vietnamese_text_is_split_on_boundaries(
    bot: ZaloBotClient, fake: FakeZalo
) -> None:
    text = vietnamese_text(4500)
    assert len(text) >= 4500
    results = await bot.send_message(USER, text)
    sent = fake.texts_to(USER)
    assert len(results) == len(sent) >= 3
    assert all(r["message_id"] for r in results)
    assert all(1 <= len(chunk) <= TEXT_LIMIT for chunk in sent)
    assert " ".join(sent).split() == text.split()  # in order, nothing lost, no word cut
    for chunk in sent[:-1]:
        assert chunk[-1] in ".!?…", chunk[-40:]  # every cut is at least a sentence end
        assert text[text.index(chunk) + len(chunk)].isspace()
    assert [m["message_id"] for m in fake.messages_to(USER)] == [r["message_id"] for r in results]


def test_split_prefers_paragraphs_and_never_exceeds_the_limit() -> None:
    para = "Đoạn một. " * 150  # 1,500 characters
    text = para.strip() + "\n\n" + para.strip()
    assert split_text(text) == [para.strip(), para.strip()]
    assert split_text("ngắn") == ["ngắn"]
    word = "a" * 4500
    assert [len(c) for c in split_text(word)] == [2000, 2000, 500]
    emoji = "🙂" * 1500  # 3,000 UTF-16 units: Zalo counts each emoji twice
    chunks = split_text(emoji)
    assert all(text_units(c) <= TEXT_LIMIT for c in chunks) and "".join(chunks) == emoji
    nfd = "Đa\u0301ng " * 600  # decomposed accents must stay with their letter
    assert all(not c[0].isspace() and c[0] != "\u0301" for c in split_text(nfd.replace(" ", "")))


async def test_fake_rejects_text_over_2000_characters(bot: ZaloBotClient, fake: FakeZalo) -> None:
    with pytest.raises(ZaloError) as caught:
        await bot.call("sendMessage", {"chat_id": USER, "text": "x" * 2001})
    assert caught.value.code == 400 and caught.value.permanent
    assert fake.sent == []
    with pytest.raises(ZaloError):
        await bot.send_message(USER, "   ")


async def test_send_photo_by_url_and_chat_action(bot: ZaloBotClient, fake: FakeZalo) -> None:
    result = await bot.send_photo(USER, fake.file_url("photo.png"), caption="Hình ảnh minh họa")
    assert result["message_id"]
    (record,) = fake.messages_to(USER)
    assert record["photo"] == fake.file_url("photo.png")
    assert record["caption"] == "Hình ảnh minh họa"
    assert fake.file_downloads["photo.png"] == 1
    await bot.send_chat_action(USER)
    assert fake.chat_actions == [{"chat_id": USER, "action": "typing"}]
    with pytest.raises(ZaloError) as caught:
        await bot.send_photo(USER, fake.file_url("missing.png"))
    assert caught.value.code == 400
    await bot.send_photo(USER, fake.file_url(), caption="Chú thích dài. " * 170)  # 2,550 chars
    photo, rest = fake.messages_to(USER)[1:]
    assert photo["method"] == "sendPhoto" and len(photo["caption"]) <= TEXT_LIMIT
    assert rest["method"] == "sendMessage" and rest["text"].startswith("Chú thích")


@pytest.mark.parametrize(
    ("status", "body", "kind", "permanent"),
    [
        (401, None, ZaloAuthError, True),
        (403, None, ZaloAuthError, True),
        (429, None, ZaloRateLimited, False),
        (500, None, ZaloServerError, False),
        (503, None, ZaloServerError, False),
        (502, "<html><body>502 Bad Gateway</body></html>", ZaloServerError, False),
    ],
)
async def test_errors_are_typed(
    bot: ZaloBotClient,
    fake: FakeZalo,
    status: int,
    body: str | None,
    kind: type[ZaloError],
    permanent: bool,
) -> None:
    fake.fail_next("sendMessage", status, body=body)
    with pytest.raises(ZaloError) as caught:
        await bot.send_message(USER, "Thông báo")
    error = caught.value
    assert type(error) is kind
    assert error.code == status
    assert error.permanent is permanent
    assert_no_token(error, fake.bot_token)
    assert fake.sent == []
    assert (await bot.send_message(USER, "Thông báo"))[0]["message_id"]  # the fault was one-off


async def test_wrong_token_is_a_permanent_auth_error(fake: FakeZalo) -> None:
    async with ZaloBotClient("123:wrong-token-value", api_url=fake.url) as client:
        with pytest.raises(ZaloAuthError) as caught:
            await client.get_me()
    assert caught.value.permanent
    assert_no_token(caught.value, "123:wrong-token-value")


async def test_timeout_and_network_errors_are_transient_and_redacted(
    fake: FakeZalo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.delay_next("sendMessage", 1.0)
    async with ZaloBotClient(fake.bot_token, api_url=fake.url, request_timeout=0.2) as client:
        with pytest.raises(ZaloTimeout) as timed_out:
            await client.send_message(USER, "Chậm")
    assert not timed_out.value.permanent
    assert_no_token(timed_out.value, fake.bot_token)

    async with ZaloBotClient(fake.bot_token, api_url="http://127.0.0.1:9") as client:
        with pytest.raises(ZaloNetworkError) as refused:
            await client.get_me()
    assert not refused.value.permanent
    assert_no_token(refused.value, fake.bot_token)
    assert fake.bot_token not in caplog.text
    assert fake.bot_token not in repr(client)


def assert_no_token(error: BaseException, token: str) -> None:
    texts = [str(error), repr(error), *map(str, error.args)]
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            texts += [str(linked), repr(linked)]
    assert all(token not in text for text in texts), texts
    assert all(token.split(":")[-1] not in text for text in texts), texts


# ---------------------------------------------------------------------------- OA groups
async def test_oa_send_with_a_valid_token(oa: ZaloOAClient, fake: FakeZalo) -> None:
    results = await oa.send_group_text(GROUP, "Tin nóng: mưa lớn gây ngập tại khu công nghiệp")
    assert results[0]["message_id"]
    assert fake.group_texts(GROUP) == ["Tin nóng: mưa lớn gây ngập tại khu công nghiệp"]
    assert fake.refresh_calls == []


async def test_oa_long_text_is_split(oa: ZaloOAClient, fake: FakeZalo) -> None:
    text = vietnamese_text(4500)
    results = await oa.send_group_text(GROUP, text)
    sent = fake.group_texts(GROUP)
    assert len(results) == len(sent) >= 3
    assert all(len(chunk) <= TEXT_LIMIT for chunk in sent)
    assert " ".join(sent).split() == text.split()


async def test_oa_expired_token_refreshes_once_then_succeeds(
    oa: ZaloOAClient, fake: FakeZalo, store: MemoryTokenStore
) -> None:
    old = store.tokens
    assert old is not None
    fake.expire_access_token()  # the server says expired although our clock says fine
    await oa.send_group_text(GROUP, "Nhắc việc")
    assert [c["ok"] for c in fake.refresh_calls] == [True]
    assert [r["error"] for r in fake.oa_rejections] == [-124]
    (message,) = fake.group_messages(GROUP)
    assert len(store.saves) == 1
    saved = store.saves[0]
    assert saved.access_token == message["access_token"] != old.access_token  # saved, then used
    assert saved.refresh_token != old.refresh_token
    assert saved.expires_at > datetime.now(UTC) + timedelta(hours=24)
    await oa.send_group_text(GROUP, "Lần hai")  # no further refresh needed
    assert len(fake.refresh_calls) == 1


async def test_oa_refreshes_proactively_before_expiry(fake: FakeZalo) -> None:
    store = MemoryTokenStore(oa_tokens(fake.issue_oa_tokens(), timedelta(minutes=4)))
    async with ZaloOAClient(
        fake.oa_app_id, fake.oa_app_secret, store, api_url=fake.url, oauth_url=fake.url
    ) as client:
        await client.send_group_text(GROUP, "Báo cáo tuần")
    assert len(fake.refresh_calls) == 1
    assert fake.oa_rejections == []  # refreshed before the API could refuse
    assert fake.group_messages(GROUP)[0]["access_token"] == store.saves[0].access_token


@pytest.mark.parametrize("mode", ["reactive", "proactive"])
async def test_oa_concurrent_sends_share_one_refresh(fake: FakeZalo, mode: str) -> None:
    issued = fake.issue_oa_tokens()
    if mode == "reactive":
        fake.expire_access_token()
        store = MemoryTokenStore(oa_tokens(issued))
    else:
        store = MemoryTokenStore(oa_tokens(issued, timedelta(seconds=-1)))
    fake.delay_next(OA_REFRESH, 0.2)  # keep the refresh in flight while others pile up
    async with ZaloOAClient(
        fake.oa_app_id, fake.oa_app_secret, store, api_url=fake.url, oauth_url=fake.url
    ) as client:
        await asyncio.gather(*(client.send_group_text(GROUP, f"Tin số {i}") for i in range(10)))
    assert len(fake.refresh_calls) == 1 and fake.refresh_calls[0]["ok"]
    assert len(store.saves) == 1
    assert sorted(fake.group_texts(GROUP)) == sorted(f"Tin số {i}" for i in range(10))
    assert {m["access_token"] for m in fake.group_messages(GROUP)} == {store.saves[0].access_token}


async def test_oa_rejected_refresh_token_is_permanent_and_not_retried(
    oa: ZaloOAClient, fake: FakeZalo, store: MemoryTokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.expire_access_token()
    fake.revoke_refresh_token()  # e.g. used by another copy of the bot, or the app was revoked
    with pytest.raises(ZaloOARefreshError) as caught:
        await oa.send_group_text(GROUP, "Không gửi được")
    error = caught.value
    assert error.permanent
    assert "re-authorise" in str(error)
    assert len(fake.refresh_calls) == 1  # exactly one attempt, no loop
    assert store.saves == []
    assert fake.group_messages(GROUP) == []
    assert store.tokens is not None
    assert_no_token(error, store.tokens.refresh_token)
    assert_no_token(error, store.tokens.access_token)
    assert store.tokens.refresh_token not in caplog.text
    assert store.tokens.access_token not in caplog.text
    assert "re-authorise" in caplog.text or "refresh token rejected" in caplog.text
    with pytest.raises(ZaloOARefreshError):
        await oa.send_group_text(GROUP, "Vẫn không gửi được")
    assert len(fake.refresh_calls) == 2  # one attempt per send, never a loop


async def test_oa_reused_refresh_token_is_rejected(fake: FakeZalo) -> None:
    issued = fake.issue_oa_tokens()
    fake.expire_access_token()
    first = MemoryTokenStore(oa_tokens(issued))
    second = MemoryTokenStore(oa_tokens(issued))  # a stale copy of the same pair
    for store in (first, second):
        async with ZaloOAClient(
            fake.oa_app_id, fake.oa_app_secret, store, api_url=fake.url, oauth_url=fake.url
        ) as client:
            if store is first:
                await client.send_group_text(GROUP, "Một")
            else:
                with pytest.raises(ZaloOARefreshError):
                    await client.send_group_text(GROUP, "Hai")
    assert [c["ok"] for c in fake.refresh_calls] == [True, False]
    assert fake.group_texts(GROUP) == ["Một"]


async def test_oa_missing_tokens_and_transient_refresh_failure(fake: FakeZalo) -> None:
    async with ZaloOAClient(
        fake.oa_app_id, fake.oa_app_secret, MemoryTokenStore(), api_url=fake.url
    ) as client:
        with pytest.raises(ZaloOARefreshError):
            await client.send_group_text(GROUP, "x")
    store = MemoryTokenStore(oa_tokens(fake.issue_oa_tokens(), timedelta(0)))
    fake.fail_next(OA_REFRESH, 503)
    async with ZaloOAClient(
        fake.oa_app_id, fake.oa_app_secret, store, api_url=fake.url, oauth_url=fake.url
    ) as client:
        with pytest.raises(ZaloServerError) as caught:
            await client.send_group_text(GROUP, "x")
        assert not caught.value.permanent  # Zalo had a bad moment: the outbox retries later
        await client.send_group_text(GROUP, "x")
    assert fake.group_texts(GROUP) == ["x"]


async def test_oa_api_errors_are_typed(oa: ZaloOAClient, fake: FakeZalo) -> None:
    fake.fail_next(OA_GROUP_MESSAGE, 500)
    with pytest.raises(ZaloServerError):
        await oa.send_group_text(GROUP, "x")
    fake.fail_next(OA_GROUP_MESSAGE, 429)
    with pytest.raises(ZaloRateLimited):
        await oa.send_group_text(GROUP, "x")
    with pytest.raises(ZaloError) as caught:
        await oa.send_group_text("", "x")
    assert caught.value.permanent and caught.value.code == -201
    assert fake.refresh_calls == []


def test_signature_over_raw_bytes() -> None:
    app_id, key, timestamp = "2553928453557884079", "oa-secret", "1699003881354"
    raw = '{"event_name":"user_send_group_text","message":{"text":"Chào  A4B"}, "t":1}'.encode()
    mac = hashlib.sha256(app_id.encode() + raw + timestamp.encode() + key.encode()).hexdigest()
    header = f"mac={mac}"
    assert verify_signature(app_id, raw, timestamp, key, header)
    assert verify_signature(app_id, raw, timestamp, key, header.upper().replace("MAC=", "mac="))
    reserialised = json.dumps(json.loads(raw)).encode()  # same JSON, different bytes
    assert not verify_signature(app_id, reserialised, timestamp, key, header)
    assert not verify_signature(app_id, raw.replace(b"A4B", b"A4C"), timestamp, key, header)
    assert not verify_signature(app_id, raw, timestamp, "wrong-key", header)
    assert not verify_signature(app_id, raw, "1699003881355", key, header)
    assert not verify_signature(app_id, raw, timestamp, key, None)
    assert not verify_signature(app_id, raw, timestamp, key, "mac=")


async def test_fake_signs_like_zalo(fake: FakeZalo) -> None:
    raw = json.dumps({"event_name": "user_send_text", "timestamp": "1"}).encode()
    header = fake.oa_signature(raw, "1")
    assert verify_signature(fake.oa_app_id, raw, "1", fake.oa_secret_key, header)
