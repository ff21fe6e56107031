"""The public feedback page through aiohttp's test client against the real core: submissions
become cases with their staff card and hot alert, the status check, and every refusal."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import Core
from bot.feedback import FeedbackPage
from bot.feedback.guard import COOKIE, FormTokens
from bot.web import build_web_app
from handlers.ports import CaseChange
from storage import admin
from storage.models import Attachment, FeedbackTicket, OutboxMessage, Report
from storage.store import SqlStore
from tests.fake_telegram import tiny_png

MAX_UPLOAD = 300_000
DESCRIPTION = "Nhà xưởng bị dột nặng sau mưa bão, công nhân phải nghỉ làm hai ngày."


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make_page(core: Core, tmp_path: Path, **overrides: object) -> FeedbackPage:
    options: dict[str, object] = {
        "sessions": core.sessions,
        "effects": core.effects,
        "catalog": core.catalog,
        "translations": core.translations,
        "units": lambda: core.engine.units,
        "attachments_dir": tmp_path / "attachments",
        "max_upload_bytes": MAX_UPLOAD,
        "tz": core.settings.tz,
        "tokens": FormTokens(min_fill_seconds=0),
    }
    options.update(overrides)
    return FeedbackPage(**options)  # type: ignore[arg-type]


async def serve(page: FeedbackPage) -> TestClient:
    client = TestClient(TestServer(build_web_app(page.routes(), MAX_UPLOAD)))
    await client.start_server()
    return client


@pytest.fixture
async def setup(pg_or_sqlite_core: Core, tmp_path: Path) -> AsyncIterator[tuple[Core, TestClient]]:
    core = pg_or_sqlite_core
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "telegram", "-100staff")
        await admin.bind_chat(session, "leaders", "telegram", "-100leaders")
    client = await serve(make_page(core, tmp_path))
    yield core, client
    await client.close()


async def open_form(client: TestClient, lang: str = "") -> tuple[str, str]:
    resp = await client.get("/feedback" + (f"?lang={lang}" if lang else ""))
    assert resp.status == 200
    html = await resp.text()
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token is not None
    return html, token.group(1)


def fields(token: str, **values: str) -> dict[str, str]:
    base = {
        "token": token,
        "website": "",
        "lang": "vi",
        "unit": "U007",
        "category": "workplace",
        "urgency": "normal",
        "description": DESCRIPTION,
        "name": "",
        "contact": "",
    }
    base.update(values)
    return base


async def post(
    client: TestClient,
    values: dict[str, str],
    files: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    form = FormData(default_to_multipart=True)
    for key, value in values.items():
        form.add_field(key, value)
    for name, content, mime in files:
        form.add_field("files", content, filename=name, content_type=mime)
    resp = await client.post("/feedback", data=form, headers=headers or {})
    return resp.status, await resp.text()


def shown(html: str, element: str) -> str:
    found = re.search(rf'id="{element}">([^<]+)<', html)
    assert found is not None, html
    return found.group(1)


async def reports(core: Core) -> list[Report]:
    async with core.sessions() as session:
        return list((await session.execute(select(Report).order_by(Report.id))).scalars())


async def outbox(core: Core) -> list[OutboxMessage]:
    async with core.sessions() as session:
        rows = await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))
        return list(rows.scalars())


def jpeg_with_gps() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (8, 8), "red")
    exif = Image.Exif()
    exif[0x013B] = "Nguyen Van Chup"  # Artist
    exif[0x8825] = {1: "N", 2: (21.0, 1.0, 2.0)}  # GPS
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


# -- the happy paths -------------------------------------------------------------------------------
async def test_an_anonymous_submission_becomes_a_case_with_its_staff_card(setup, tmp_path):
    core, client = setup
    html, token = await open_form(client)
    assert 'lang="vi"' in html and "Gửi" in html  # Vietnamese by default
    assert "Kho bạc" in html and "<optgroup" in html  # units, grouped by kind of host
    status, html = await post(
        client, fields(token), [("hien-truong.jpg", jpeg_with_gps(), "image/jpeg")]
    )
    assert status == 200, html
    code, secret = shown(html, "code"), shown(html, "secret")
    assert code == "PA-0001" and re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", secret)

    [report] = await reports(core)
    assert (report.channel, report.anonymity, report.person_id) == ("webform", "anonymous", None)
    assert report.description == DESCRIPTION and report.status == "new"
    async with core.sessions() as session:
        ticket = (await session.execute(select(FeedbackTicket))).scalar_one()
        [attachment] = (await session.execute(select(Attachment))).scalars().all()
    assert secret.replace("-", "") not in ticket.secret_hash and ticket.sender_name == ""
    # The photo was kept under a name of ours, without its GPS position and author.
    assert attachment.kind == "photo" and attachment.name == "hien-truong.jpg"
    stored = tmp_path / "attachments" / attachment.path
    from PIL import Image

    with Image.open(stored) as img:
        assert not img.getexif()

    rows = await outbox(core)
    card = next(r for r in rows if r.payload.get("kind") == "card")
    assert card.chat_id == "-100staff" and card.payload["choices"]  # the usual buttons
    assert "PA-0001" in card.payload["text"] and "Ẩn danh" in card.payload["text"]
    assert "Trang góp ý công khai" in card.payload["text"]  # the source is named
    assert any(r.payload.get("kind") == "photo" for r in rows)  # the photo goes to staff too
    assert not any(r.chat_id == "-100leaders" for r in rows)  # not hot: no alert


async def test_a_named_hot_submission_alerts_leaders_and_shows_who_sent_it(setup):
    core, client = setup
    _, token = await open_form(client, "en")
    values = fields(token, lang="en", urgency="hot", name="Lê Thị Hoa", contact="0912 345 678")
    status, html = await post(client, values)
    assert status == 200 and "Feedback received" in html
    [report] = await reports(core)
    assert report.anonymity == "named" and report.urgency == "hot" and report.locale == "en"
    rows = await outbox(core)
    alert = next(r for r in rows if r.chat_id == "-100leaders")
    assert (
        "PA-0001" in alert.payload["text"] and "Lê Thị Hoa (0912 345 678)" in alert.payload["text"]
    )
    card = next(r for r in rows if r.payload.get("kind") == "card")
    assert "Lê Thị Hoa (0912 345 678)" in card.payload["text"]


async def test_the_status_page_shows_the_public_history_only(setup):
    core, client = setup
    _, token = await open_form(client)
    _, html = await post(client, fields(token))
    code, secret = shown(html, "code"), shown(html, "secret")
    async with core.sessions() as session, session.begin():
        store = SqlStore(session)
        case = await store.case_by_code(code)
        assert case is not None
        for action, to, note in (
            ("ack", "acknowledged", ""),
            ("due", "acknowledged", "ghi chú nội bộ của cán bộ"),
            ("ask", "needs_info", "Xưởng nào, ở địa chỉ nào?"),
        ):
            case = await store.change_case(
                CaseChange(case.id, case.version, None, action, case.status, to, note)
            )
    resp = await client.post(
        "/feedback/status", data={"code": code.lower(), "secret": secret.lower(), "lang": "vi"}
    )
    html = await resp.text()
    assert resp.status == 200
    assert shown(html, "status") == "Cần bổ sung thông tin"
    assert "Xưởng nào, ở địa chỉ nào?" in html  # the question is for the sender
    assert "ghi chú nội bộ" not in html  # internal steps stay with staff


async def test_a_wrong_secret_and_an_unknown_code_get_the_same_answer(setup):
    _, client = setup
    _, token = await open_form(client)
    _, html = await post(client, fields(token))
    code = shown(html, "code")
    answers = []
    for guess in (
        {"code": code, "secret": "AAAA-BBBB-CCCC-DDDD"},
        {"code": "PA-9999", "secret": "x"},
    ):
        resp = await client.post("/feedback/status", data={**guess, "lang": "en"})
        body = await resp.text()
        answers.append((resp.status, re.search(r'class="alert"[^>]*>([^<]+)<', body).group(1)))
        assert DESCRIPTION not in body
    assert answers[0] == answers[1] and answers[0][0] == 404
    assert "No feedback matches this code and secret" in answers[0][1]


async def test_status_checks_are_throttled_per_address(pg_or_sqlite_core, tmp_path):
    client = await serve(make_page(pg_or_sqlite_core, tmp_path, status_limit=(3, 600.0)))
    try:
        statuses = []
        for _ in range(4):
            resp = await client.post("/feedback/status", data={"code": "PA-0001", "secret": "x"})
            statuses.append(resp.status)
        assert statuses == [404, 404, 404, 429]
        assert "Quá nhiều lần thử" in await resp.text()
    finally:
        await client.close()


async def test_a_double_tap_on_send_files_one_case(setup):
    core, client = setup
    _, token = await open_form(client)
    first = await post(client, fields(token))
    second = await post(client, fields(token))
    assert shown(first[1], "secret") == shown(second[1], "secret")
    assert len(await reports(core)) == 1


async def test_a_double_tap_reaching_two_instances_at_once_files_one_case(setup, tmp_path):
    """Behind a balancer each tap may reach another instance: what was filed is remembered in
    the database, so both answers show the same case and its secret."""
    core, _ = setup
    tokens = FormTokens(min_fill_seconds=0)  # the instances share the key (SEAL_KEY)
    here = await serve(make_page(core, tmp_path, tokens=tokens))
    there = await serve(make_page(core, tmp_path, tokens=tokens))
    try:
        _, token = await open_form(here)
        cookie = {c.key: c.value for c in here.session.cookie_jar}[COOKIE]
        same_browser = {"Cookie": f"{COOKIE}={cookie}"}
        first, second = await asyncio.gather(
            post(here, fields(token), headers=same_browser),
            post(there, fields(token), headers=same_browser),
        )
        assert first[0] == second[0] == 200
        assert shown(first[1], "secret") == shown(second[1], "secret")
        assert shown(first[1], "code") == shown(second[1], "code")
        assert len(await reports(core)) == 1
        again = await post(there, fields(token), headers=same_browser)  # a reload, later
        assert shown(again[1], "secret") == shown(first[1], "secret")
    finally:
        await here.close()
        await there.close()


# -- refusals --------------------------------------------------------------------------------------
async def test_floods_from_one_address_are_refused_but_others_get_through(
    pg_or_sqlite_core, tmp_path
):
    core = pg_or_sqlite_core
    client = await serve(make_page(core, tmp_path, submit_limit=(2, 600.0), trust_proxy=True))
    try:
        flood = {"X-Forwarded-For": "203.0.113.7"}
        for _ in range(2):
            _, token = await open_form(client)
            assert (await post(client, fields(token), headers=flood))[0] == 200
        _, token = await open_form(client)
        status, html = await post(client, fields(token, name="Kẻ gửi dồn"), headers=flood)
        assert status == 429 and "Quá nhiều lần gửi" in html
        assert DESCRIPTION in html and 'value="Kẻ gửi dồn"' in html  # nothing typed is lost
        other = {"X-Forwarded-For": "198.51.100.20"}
        assert (await post(client, fields(token), headers=other))[0] == 200
        assert len(await reports(core)) == 3
    finally:
        await client.close()


async def test_bots_are_refused_without_losing_what_a_person_typed(pg_or_sqlite_core, tmp_path):
    core = pg_or_sqlite_core
    clock = Clock()
    tokens = FormTokens(min_fill_seconds=3, clock=clock)
    page = make_page(core, tmp_path, tokens=tokens, submit_limit=(20, 600.0))
    client = await serve(page)
    try:
        _, token = await open_form(client)
        status, html = await post(client, fields(token))  # no time passed: a script
        assert status == 400 and "nhanh hơn" in html and DESCRIPTION in html
        clock.now += 10
        status, html = await post(client, fields(token, website="http://spam.example"))
        assert status == 400  # the honeypot was filled
        status, html = await post(client, fields(token[:-4] + "0000"))
        assert status == 400  # a forged token
        client.session.cookie_jar.clear()
        status, html = await post(client, fields(token))
        assert status == 400  # a token from another browser (no form cookie)
        clock.now += 7 * 3600
        _, fresh = await open_form(client)
        clock.now += 7 * 3600
        status, html = await post(client, fields(fresh))
        assert status == 400 and "đã hết hạn" in html
        assert await reports(core) == []
        # The form drawn after a refusal carries a fresh token that works.
        token = re.search(r'name="token" value="([^"]+)"', html).group(1)
        clock.now += 10
        assert (await post(client, fields(token)))[0] == 200
    finally:
        await client.close()


async def test_missing_and_invalid_answers_are_explained_field_by_field(setup):
    core, client = setup
    _, token = await open_form(client, "en")
    status, html = await post(
        client, fields(token, lang="en", unit="NOPE", category="", description="short")
    )
    assert status == 400
    assert "Please choose the unit the issue concerns." in html
    assert "Please choose what the issue is about." in html
    assert "at least 10 characters" in html and ">short</textarea>" in html
    assert await reports(core) == []


async def test_uploads_that_are_too_big_or_of_the_wrong_type_are_refused(setup, tmp_path):
    core, client = setup
    cases = [
        ("lon.pdf", b"%PDF-1.4 " + b"x" * MAX_UPLOAD, "application/pdf", "quá lớn"),
        ("virus.exe", b"MZ\x90\x00", "application/octet-stream", "không phải loại tệp"),
        ("gia-anh.jpg", b"<html>not a photo</html>", "image/jpeg", "hỏng"),
    ]
    for name, content, mime, words in cases:
        _, token = await open_form(client)
        status, html = await post(client, fields(token, name="Hoa"), [(name, content, mime)])
        assert status == 400, name
        assert words in html, name
        assert DESCRIPTION in html and 'value="Hoa"' in html  # the text survives the refusal
    assert await reports(core) == []
    left = [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
    assert left == []  # refused files are not kept


async def test_image_bombs_are_refused_and_not_kept(setup, tmp_path):
    from tests.fake_telegram import huge_png

    core, client = setup
    for width in (12_000, 30_000):
        _, token = await open_form(client)
        bomb = ("anh.png", huge_png(width, width), "image/png")
        status, html = await post(client, fields(token), [bomb])
        assert status == 400
        assert "quá lớn" in html and "anh.png" in html
    assert await reports(core) == []
    assert [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    "name", ["../../etc/cron.d/x.png", "..\\..\\boot.png", "a/b.png", ".htaccess", "x\x00.png"]
)
async def test_file_names_with_path_tricks_are_refused(core, tmp_path, name):
    client = await serve(make_page(core, tmp_path))
    try:
        _, token = await open_form(client)
        # Written by hand: aiohttp's client would percent-encode the slashes, a hostile one not.
        boundary = "----gr-test-boundary"
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields(token).items()
        )
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
            + tiny_png()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        resp = await client.post(
            "/feedback",
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        status, html = resp.status, await resp.text()
        # A NUL byte breaks the part's headers themselves: the whole form is refused.
        assert status == 400 and ("Tên tệp" in html or "không đầy đủ" in html)
        assert DESCRIPTION in html
        assert await reports(core) == []
        assert not any(p.is_file() for p in tmp_path.rglob("*.png"))
    finally:
        await client.close()


async def test_markup_in_what_people_type_is_shown_as_text(setup):
    _, client = setup
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    _, token = await open_form(client)
    status, html = await post(client, fields(token, unit="", name=attack, description=attack * 2))
    assert status == 400 and "<script>alert" not in html and "&lt;script&gt;" in html
    _, html = await post(client, fields(token, description=DESCRIPTION + attack))
    code, secret = shown(html, "code"), shown(html, "secret")
    resp = await client.post("/feedback/status", data={"code": code, "secret": secret})
    page = await resp.text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


async def test_the_form_is_small_on_the_wire(setup):
    _, client = setup
    resp = await client.get("/feedback", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip"
    assert "<script" not in await resp.text()  # works without JavaScript, nothing to download


async def test_the_pages_allow_no_inline_code_but_their_own_style(setup):
    _, client = setup
    for path in ("/feedback", "/feedback/status"):
        resp = await client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "script-src" not in csp  # default-src 'none'
        nonce = re.search(r"style-src 'nonce-([A-Za-z0-9_\-]+)'", csp)
        assert nonce is not None, csp
        assert f'<style nonce="{nonce.group(1)}">' in await resp.text()
    again = await client.get("/feedback")
    assert again.headers["Content-Security-Policy"] != resp.headers["Content-Security-Policy"]


async def test_the_page_is_complete_in_english(setup):
    _, client = setup
    html, _ = await open_form(client, "en")
    assert 'lang="en"' in html and "Send feedback" in html and "Who you are (optional)" in html
    assert "Tiếng Việt" in html  # the way back
    resp = await client.get("/feedback/status?lang=en")
    assert "Check the status of your feedback" in await resp.text()


async def staff_do(core: Core, code: str, action: str, to: str, note: str = "") -> None:
    async with core.sessions() as session, session.begin():
        store = SqlStore(session)
        case = await store.case_by_code(code)
        assert case is not None
        await store.change_case(
            CaseChange(case.id, case.version, None, action, case.status, to, note)
        )


async def open_case(client: TestClient, code: str, secret: str) -> tuple[str, str]:
    resp = await client.post("/feedback/status", data={"code": code, "secret": secret})
    html = await resp.text()
    token = re.search(r'name="token" value="([^"]+)"', html)
    return html, token.group(1) if token else ""


async def reply(client: TestClient, code: str, secret: str, token: str, **values: str):
    data = {"code": code, "secret": secret, "token": token, "lang": "vi", **values}
    resp = await client.post("/feedback/status/reply", data=data)
    return resp.status, await resp.text()


async def test_the_sender_answers_a_question_and_says_whether_it_was_resolved(setup):
    core, client = setup
    _, token = await open_form(client)
    _, html = await post(client, fields(token))
    code, secret = shown(html, "code"), shown(html, "secret")
    html, token = await open_case(client, code, secret)
    assert 'value="addinfo"' in html and 'value="answer"' not in html  # open: add information

    await staff_do(core, code, "ack", "acknowledged")
    await staff_do(core, code, "ask", "needs_info", "Xưởng nào, ở đâu?")
    html, token = await open_case(client, code, secret)
    assert 'value="answer"' in html
    status, html = await reply(client, code, secret, token, action="answer", text="")
    assert status == 400 and "Vui lòng" in html  # an empty answer is refused kindly
    status, html = await reply(client, code, "AAAA", token, action="answer", text="x")
    assert status == 404  # a wrong secret changes nothing
    status, html = await reply(
        client, code, secret, token, action="answer", text="Xưởng số 2, <b>khu B</b>."
    )
    assert status == 200 and shown(html, "status") == "Đã tiếp nhận"
    assert "Xưởng số 2, &lt;b&gt;khu B&lt;/b&gt;." in html  # in the history, as text
    [case] = await reports(core)
    assert case.status == "acknowledged"
    alert = [r for r in await outbox(core) if "Xưởng số 2" in r.payload.get("text", "")]
    assert alert and alert[0].chat_id == "-100staff"  # the owner hears the answer at once

    await staff_do(core, code, "resolve", "resolved", "Đã sửa mái.")
    html, token = await open_case(client, code, secret)
    status, html = await reply(client, code, secret, token, action="dispute", text="Vẫn dột.")
    assert status == 200 and shown(html, "status") == "Đã mở lại"
    status, html = await reply(client, code, secret, token, action="confirm")
    assert status == 409  # no longer resolved: nothing to confirm, nothing changed
    await staff_do(core, code, "resolve", "resolved", "Đã sửa xong.")
    html, token = await open_case(client, code, secret)
    status, html = await reply(client, code, secret, token, action="confirm")
    assert status == 200 and shown(html, "status") == "Đã kết thúc"
    assert 'id="reply"' not in html  # closed: nothing more to do


async def test_a_reply_without_a_valid_form_token_keeps_the_text(setup):
    _, client = setup
    _, token = await open_form(client)
    _, html = await post(client, fields(token))
    code, secret = shown(html, "code"), shown(html, "secret")
    status, html = await reply(client, code, secret, "forged.token", action="addinfo", text="Thêm")
    assert status == 400 and ">Thêm</textarea>" in html
