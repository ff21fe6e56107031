"""The public web surface under attack: stored files, webhook bodies, hostile JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web import attachment_files, build_web_app, telegram_webhook
from tests.fake_telegram import tiny_png

SCRIPT = b"<html><script>fetch('/admin/invites')</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.fixture
async def files(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Path]]:
    root = tmp_path / "attachments"
    (root / "2026" / "12").mkdir(parents=True)
    app = build_web_app([attachment_files(root)], 200_000)
    async with TestClient(TestServer(app)) as client:
        yield client, root


def put(root: Path, name: str, content: bytes) -> str:
    rel = f"2026/12/{name.split('.')[0]:0>32}.{name.split('.')[1]}"
    (root / rel).write_bytes(content)
    return rel


async def test_stored_html_and_svg_are_never_served_as_pages(files):
    client, root = files
    for name, content in (
        ("a1.html", SCRIPT),
        ("a2.svg", SVG),
        ("a3.png", SCRIPT),  # a page dressed up with an image's name
        ("a4.bin", SCRIPT),
    ):
        resp = await client.get(f"/files/{put(root, name, content)}")
        if resp.status == 404:
            continue
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream", name
        assert resp.headers["Content-Disposition"].startswith("attachment"), name
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in resp.headers["Content-Security-Policy"]


async def test_real_images_are_served_inline_in_a_sandbox(files):
    client, root = files
    resp = await client.get(f"/files/{put(root, 'b1.png', tiny_png())}")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert "attachment" not in resp.headers.get("Content-Disposition", "")
    assert await resp.read() == tiny_png()


Sink = Callable[[dict[str, Any]], Awaitable[None]]


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[TestClient, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def sink(update: dict[str, Any]) -> None:
        seen.append(update)

    # The app's own cap is large (uploads); the webhook must apply its own.
    app = build_web_app([telegram_webhook("s3cret-token", sink)], 20 * 1024 * 1024)
    async with TestClient(TestServer(app)) as client:
        yield client, seen


HEADERS = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}


async def test_a_chunked_webhook_body_over_the_cap_is_refused(webhook):
    client, seen = webhook
    body = json.dumps({"update_id": 1, "pad": "x" * (15 * 1024 * 1024)}).encode()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
        for i in range(0, len(body), 256 * 1024):
            yield body[i : i + 256 * 1024]

    resp = await client.post("/telegram/webhook", data=chunks(), headers=HEADERS)
    assert resp.status == 413
    assert seen == []


async def test_deeply_nested_json_is_a_clear_400(webhook):
    client, seen = webhook
    deep = '{"update_id": 1, "x": ' + "[" * 50_000 + "]" * 50_000 + "}"
    resp = await client.post("/telegram/webhook", data=deep, headers=HEADERS)
    assert resp.status == 400
    assert (await resp.json())["error"] == "bad json"
    assert seen == []


@pytest.fixture
async def zalo_hook(core) -> AsyncIterator[tuple[TestClient, list[Any]]]:
    from bot.channels.context import ChannelContext
    from bot.channels.zalo import ZaloChannel
    from bot.channels.zalo_client import ZaloBotClient

    client = ZaloBotClient(token="1:abc", api_url="http://127.0.0.1:9", request_timeout=1)
    channel = ZaloChannel(
        client,
        ChannelContext(core.dispatcher, core.translations, core.settings.attachments_dir, 200_000),
    )
    accepted: list[Any] = []
    channel._accept = lambda body, source: accepted.append(body)  # type: ignore[method-assign]
    app = build_web_app([channel.webhook_route("zalo-secret-42")], 20 * 1024 * 1024)
    async with TestClient(TestServer(app)) as http:
        yield http, accepted
    await client.close()


async def test_zalo_webhook_ignores_chunked_giants_and_deep_nesting(zalo_hook):
    from bot.channels.zalo_client import SECRET_HEADER

    http, accepted = zalo_hook
    headers = {SECRET_HEADER: "zalo-secret-42"}
    body = json.dumps({"event_name": "message.text.received", "pad": "x" * 15_000_000}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 256 * 1024):
            yield body[i : i + 256 * 1024]

    resp = await http.post("/zalo/webhook", data=chunks(), headers=headers)
    assert resp.status in (200, 413)
    deep = "[" * 50_000 + "]" * 50_000
    resp = await http.post("/zalo/webhook", data=deep, headers=headers)
    assert resp.status == 200  # Zalo disables webhooks that fail: answered, then ignored
    assert accepted == []


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_files_the_core_refuses_are_deleted_on_telegram(tmp_path, sqlite_url):
    from tests.telegram_harness import running_bot

    async with running_bot(tmp_path, sqlite_url) as h:
        root = h.core.settings.attachments_dir
        before = len(h.fake.messages_to(5550077))
        h.fake.user_document(5550077, "trang.html", "text/html", SCRIPT)
        await h.replies(5550077, before)
        before = len(h.fake.messages_to(5550077))
        h.fake.user_photo(5550077)  # a newcomer's photo answers no question either
        await h.replies(5550077, before)
        assert stored_files(root) == []


async def test_files_the_core_refuses_are_deleted_on_zalo(tmp_path, sqlite_url):
    from bot.app import build_core, seed_demo
    from bot.channels.context import ChannelContext
    from bot.channels.zalo import ZaloChannel
    from bot.channels.zalo_client import ZaloBotClient
    from tests.conftest import make_settings
    from tests.fake_zalo import FakeZalo

    fake = FakeZalo()
    await fake.start()
    core = await build_core(make_settings(tmp_path, sqlite_url, web_chat=False))
    await seed_demo(core)
    client = ZaloBotClient(token=fake.bot_token, api_url=fake.url, request_timeout=5)
    channel = ZaloChannel(
        client,
        ChannelContext(core.dispatcher, core.translations, core.settings.attachments_dir, 200_000),
    )
    core.senders["zalo"] = channel
    try:
        await channel.start_polling()
        fake.user_image("zu9", fake.file_url("photo.png"), display_name="Lê Văn")
        await fake.wait_for_messages("zu9", 1, timeout=5)
        await channel.drain()
        assert stored_files(core.settings.attachments_dir) == []
    finally:
        await channel.stop()
        await core.close()
        await fake.stop()


async def test_a_telegram_image_bomb_is_refused_politely_and_not_kept(tmp_path, sqlite_url):
    from tests.fake_telegram import huge_png
    from tests.telegram_harness import running_bot
    from tests.test_telegram_e2e import _invite

    member = 5550088
    async with running_bot(tmp_path, sqlite_url) as h:
        await _invite(h.core, "BOMB0001")
        out = await h.say(member, "/start BOMB0001")
        out = await h.press(member, out[-1], 1)  # the Telegram profile name
        out = await h.press(member, out[-1], 1)  # agree
        out = await h.say(member, "/report")
        for number in (2, 2, 1):  # category, urgency, my unit
            out = await h.press(member, out[-1], number)
        await h.say(member, "Công nhân phân xưởng 2 bị nợ lương ba tháng, chưa có văn bản.")
        before = len(h.fake.messages_to(member))
        h.fake.user_document(member, "anh.png", "image/png", huge_png(12_000, 12_000))
        out = await h.replies(member, before)
        assert any("quá lớn" in m["text"] for m in out), out
        assert stored_files(h.core.settings.attachments_dir) == []
