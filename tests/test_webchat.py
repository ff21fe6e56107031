"""The built-in web chat, through aiohttp's test client against the real core."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import Core
from bot.channels.context import ChannelContext
from bot.channels.webchat import WebChat, _cursor
from bot.web import build_web_app
from storage.models import Attachment, Report
from storage.transcripts import SqlTranscripts
from tests.fake_telegram import huge_png, tiny_png


@pytest.fixture
async def client(core: Core, tmp_path: Path) -> AsyncIterator[TestClient]:
    web = WebChat(
        ChannelContext(core.dispatcher, core.translations, tmp_path / "attachments", 200_000),
        SqlTranscripts(core.sessions),
        secure_cookies=False,
    )
    core.senders["web"] = web
    app = build_web_app(web.routes(), 200_000)
    async with TestClient(TestServer(app)) as c:
        yield c


async def send(client: TestClient, text: str | None = None, **body: object) -> dict:
    payload = {"id": str(uuid.uuid4()), **body}
    if text is not None:
        payload["text"] = text
    resp = await client.post("/api/chat/send", json=payload)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def data_of(reply: dict, number: int) -> str:
    return reply["messages"][-1]["choices"][number - 1]["data"]


async def test_page_and_static_files_are_served(client):
    resp = await client.get("/")
    assert resp.status == 200
    assert "text/html" in resp.headers["Content-Type"]
    assert "gr_chat" in resp.cookies
    cookie = resp.cookies["gr_chat"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert (await client.get("/static/chat.js")).status == 200
    assert (await client.get("/static/..%2Fchannels%2Fwebchat.py")).status == 404


async def test_the_chat_page_runs_only_its_own_scripts(client):
    resp = await client.get("/")
    csp = resp.headers["Content-Security-Policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in await resp.text() and " style=" not in await resp.text()


async def test_a_newcomer_completes_a_report_with_a_photo_and_a_location(client, core):
    await client.get("/")
    reply = await send(client, "/start")
    assert "Grassroots" in reply["messages"][0]["text"] and reply["lang"] == "vi"
    reply = await send(client, "Đỗ Minh Châu")
    reply = await send(client, "dien luc")  # accent-free search
    assert "Điện lực" in reply["messages"][-1]["text"]
    reply = await send(client, callback=data_of(reply, 1))
    reply = await send(client, "1")  # consent by number
    reply = await send(client, "/report")
    for n in (6, 2, 1):  # security, hot, my unit
        reply = await send(client, callback=data_of(reply, n))
    reply = await send(client, "Cháy kho vật tư lúc 14h, chưa rõ thiệt hại, đã báo PCCC.")
    form = FormData()
    form.add_field("id", str(uuid.uuid4()))
    form.add_field("file", tiny_png(), filename="hien-truong.png", content_type="image/png")
    resp = await client.post("/api/chat/upload", data=form)
    assert resp.status == 200
    reply = await resp.json()
    assert "1" in reply["messages"][0]["text"]
    reply = await send(client, location={"latitude": 10.95, "longitude": 106.82})
    reply = await send(client, callback=data_of(reply, 1))  # done
    reply = await send(client, callback=data_of(reply, 1))  # named
    reply = await send(client, callback=data_of(reply, 1))  # send
    assert "PA-0001" in reply["messages"][-1]["text"]
    async with core.sessions() as session:
        kinds = sorted(a.kind for a in (await session.execute(select(Attachment))).scalars())
        report = (await session.execute(select(Report))).scalar_one()
    assert kinds == ["location", "photo"]
    assert report.urgency == "hot" and report.channel == "web"

    history = await (await client.get("/api/chat/history")).json()
    assert {m["from"] for m in history["messages"]} == {"bot", "user"}
    assert any(m["from"] == "user" and m["text"] == "/report" for m in history["messages"])


async def test_a_retried_message_is_answered_once_with_the_same_reply(client):
    await client.get("/")
    payload = {"id": "retry-0001-abcd", "text": "/start"}
    first = await (await client.post("/api/chat/send", json=payload)).json()
    second = await (await client.post("/api/chat/send", json=payload)).json()
    assert second["duplicate"] is True
    assert second["messages"] == first["messages"]
    history = await (await client.get("/api/chat/history")).json()
    assert sum(1 for m in history["messages"] if m["from"] == "user") == 1


async def test_bad_requests_get_a_message_in_the_users_language(client):
    await client.get("/")
    resp = await client.post(
        "/api/chat/send", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert "thử lại" in (await resp.json())["error"].lower()
    resp = await client.post("/api/chat/send", json={"id": "x" * 10, "location": {"latitude": 999}})
    assert resp.status == 400
    resp = await client.post("/api/chat/send", json=["a list"])
    assert resp.status == 400
    form = FormData()
    form.add_field("file", b"x" * 300_000, filename="big.pdf", content_type="application/pdf")
    resp = await client.post("/api/chat/upload", data=form)
    assert resp.status == 413
    assert (await resp.json())["error"]


async def test_proactive_messages_reach_the_page_through_the_outbox(client, core):
    from storage.outbox import enqueue

    await client.get("/")
    await send(client, "/start")
    history = await (await client.get("/api/chat/history")).json()
    assert history["messages"]
    key = next(iter(client.session.cookie_jar)).value
    from bot.channels.webchat import session_key

    async with core.sessions() as session, session.begin():
        await enqueue(
            session, "test:1", "web", session_key(key), {"text": "PA-0001 đã được tiếp nhận."}
        )
    assert core.delivery is not None
    await core.delivery.run_once()
    updates = await (await client.get("/api/chat/updates?after=0")).json()
    assert [m["text"] for m in updates["messages"]] == ["PA-0001 đã được tiếp nhận."]
    later = await (
        await client.get(f"/api/chat/updates?after={updates['messages'][0]['seq']}")
    ).json()
    assert later["messages"] == []


async def test_the_live_stream_pushes_outbox_messages_and_resumes_after_the_last_one(client, core):
    """Server-Sent Events: each message once, with its seq as the event id; a browser that
    reconnects with Last-Event-ID gets only what came after."""
    import asyncio

    from bot.channels.webchat import session_key
    from storage.outbox import enqueue

    await client.get("/")
    await send(client, "/start")
    key = session_key(next(iter(client.session.cookie_jar)).value)

    async def deliver(n: int) -> None:
        async with core.sessions() as session, session.begin():
            await enqueue(session, f"test:{n}", "web", key, {"text": f"Tin {n}"})
        await core.delivery.run_once()

    async def events(resp, count: int) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        ident = ""
        while len(found) < count:
            line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().strip()
            if line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("data: "):
                found.append((ident, json.loads(line[6:])["text"]))
        return found

    await deliver(1)
    stream = await client.get("/api/chat/live?after=0")
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    [(first, text)] = await events(stream, 1)
    assert text == "Tin 1"
    await deliver(2)
    assert [t for _, t in await events(stream, 1)] == ["Tin 2"]
    stream.close()
    await deliver(3)
    again = await client.get("/api/chat/live?after=0", headers={"Last-Event-ID": first})
    assert [t for _, t in await events(again, 2)] == ["Tin 2", "Tin 3"]
    again.close()


async def test_uploaded_photos_lose_their_metadata(client, core, tmp_path):
    """EXIF can name the phone's owner or where it was: anonymity must not hinge on it."""
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x013B] = "Nguyễn Văn Chủ Máy"  # Artist
    exif[0x010F] = "Samsung"  # Make
    raw = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(raw, format="JPEG", exif=exif.tobytes())
    assert b"Samsung" in raw.getvalue()
    await client.get("/")
    for step in (
        "/start",
        "Ẩn Danh",
        "1",
        "1",
        "/report",
        "1",
        "1",
        "1",
        "Ảnh chụp hiện trường vụ việc.",
    ):
        await send(client, step)
    form = FormData()
    form.add_field("id", str(uuid.uuid4()))
    form.add_field("file", raw.getvalue(), filename="IMG_2026.jpg", content_type="image/jpeg")
    assert (await client.post("/api/chat/upload", data=form)).status == 200
    stored = next((tmp_path / "attachments").rglob("*.jpg"))
    data = stored.read_bytes()
    assert (
        data.startswith(b"\xff\xd8") and b"Samsung" not in data and "Chủ Máy".encode() not in data
    )
    with Image.open(stored) as img:
        assert img.size == (40, 30) and not img.getexif()


async def at_attachments(client: TestClient) -> None:
    """A newcomer registers and starts a report up to its attachments question."""
    await client.get("/")
    for step in ("/start", "Ẩn Danh", "1", "1", "/report", "1", "1", "1"):
        await send(client, step)
    reply = await send(client, "Ảnh chụp hiện trường vụ việc.")
    assert reply["messages"][-1]["choices"], reply  # "Done": the attachments question


async def upload(client: TestClient, content: bytes, name: str, mime: str):
    form = FormData()
    form.add_field("id", str(uuid.uuid4()))
    form.add_field("file", content, filename=name, content_type=mime)
    return await client.post("/api/chat/upload", data=form)


async def test_image_bombs_are_refused_politely_and_not_kept(client, tmp_path):
    """A 12000x12000 PNG is a few hundred kB but decodes to over a gigabyte of memory."""
    await at_attachments(client)
    for width in (12_000, 30_000):
        resp = await upload(client, huge_png(width, width), "anh.png", "image/png")
        assert resp.status == 200, await resp.text()
        reply = await resp.json()
        assert "quá lớn" in reply["messages"][0]["text"]
    assert [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()] == []
    resp = await upload(client, tiny_png(), "anh.png", "image/png")  # a real photo still goes
    assert "1" in (await resp.json())["messages"][0]["text"]


async def test_cross_site_requests_cannot_drive_a_chat_or_replace_its_cookie(client):
    await client.get("/")
    jar = client.session.cookie_jar
    cookie = next(iter(jar)).value
    own = str(client.make_url("/")).rstrip("/")
    attacks: list[tuple[dict[str, str], bytes | str]] = [
        (
            {"Origin": "https://evil.example", "Content-Type": "application/json"},
            '{"text":"/start"}',
        ),
        ({"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, '{"text":"/start"}'),
        ({"Origin": "null", "Content-Type": "application/json"}, '{"text":"/start"}'),
        ({"Content-Type": "text/plain"}, '{"text":"/start"}'),  # what a plain HTML form can send
        ({"Content-Type": "application/x-www-form-urlencoded"}, "text=/start"),
    ]
    for headers, body in attacks:
        jar.clear()  # a cross-site post carries no Lax cookie
        resp = await client.post("/api/chat/send", data=body, headers=headers)
        assert resp.status in (403, 415), headers
        assert "Set-Cookie" not in resp.headers, headers
    jar.update_cookies({"gr_chat": cookie})
    history = await (await client.get("/api/chat/history")).json()
    assert history["messages"] == []  # nothing was said in the visitor's chat
    form = FormData()
    form.add_field("file", tiny_png(), filename="a.png", content_type="image/png")
    resp = await client.post(
        "/api/chat/upload", data=form, headers={"Origin": "https://evil.example"}
    )
    assert resp.status == 403
    ok = await client.post("/api/chat/send", json={"text": "/start"}, headers={"Origin": own})
    assert ok.status == 200
    jar.clear()  # the API itself never hands out a new cookie: only the page does
    resp = await client.get("/api/chat/history")
    assert resp.status == 200 and "Set-Cookie" not in resp.headers


async def test_hostile_json_is_a_clear_400(client):
    await client.get("/")
    deep = '{"text": ' + "[" * 20_000 + "]" * 20_000 + "}"  # under the size cap
    resp = await client.post(
        "/api/chat/send", data=deep, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert "thử lại" in (await resp.json())["error"].lower()


async def test_files_are_taken_only_at_the_attachments_question(client, tmp_path):
    await client.get("/")
    await send(client, "/start")
    resp = await upload(client, b"<html><script>alert(1)</script></html>", "x.html", "text/html")
    assert resp.status == 409
    assert "đính kèm" in (await resp.json())["error"]
    assert [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()] == []


async def test_one_visitor_cannot_upload_without_end(client, tmp_path):
    await at_attachments(client)
    statuses = [
        (await upload(client, tiny_png(), f"a{i}.png", "image/png")).status for i in range(25)
    ]
    assert 429 in statuses
    kept = [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
    assert len(kept) <= 10  # a report carries at most 10 files; the rest were not kept


async def test_files_the_core_refuses_are_not_kept(client, tmp_path):
    await at_attachments(client)
    resp = await upload(client, b"\x00\x00\x00\x18ftypmp42", "clip.mp4", "video/mp4")
    assert resp.status == 200
    assert "không nhận loại tệp" in (await resp.json())["messages"][0]["text"]
    assert [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()] == []


async def test_files_left_by_abandoned_drafts_are_swept(client, core, tmp_path):
    import os
    import time

    from scheduler.jobs import JOBS

    root = tmp_path / "attachments"
    await at_attachments(client)
    assert (await upload(client, tiny_png(), "giu.png", "image/png")).status == 200
    (kept,) = [p for p in root.rglob("*") if p.is_file()]
    orphan = kept.with_name("0" * 32 + ".pdf")  # a file some crash left behind
    orphan.write_bytes(b"%PDF-1.4")
    fresh = kept.with_name("1" * 32 + ".pdf")  # an upload still on its way in
    fresh.write_bytes(b"%PDF-1.4")
    old = time.time() - 2 * 24 * 3600
    for path in (kept, orphan):
        os.utime(path, (old, old))
    assert await JOBS["sweep_files"](core) == 1
    assert kept.exists() and fresh.exists() and not orphan.exists()
    await send(client, "/cancel")  # the draft holding the photo is dropped
    assert await JOBS["sweep_files"](core) == 1
    assert not kept.exists() and fresh.exists()


@given(st.one_of(st.none(), st.text(max_size=40)))
def test_a_hostile_resume_cursor_never_breaks_the_live_stream(value):
    """Last-Event-ID and ?after= come from anyone: whatever they hold, the stream starts from a
    readable cursor (0 when unreadable) instead of raising."""
    cursor = _cursor(value)
    assert isinstance(cursor, int) and cursor >= 0
    if not (value and value.isdecimal()):
        assert cursor == 0
