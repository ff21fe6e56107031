"""Anonymity that holds at rest: a database dump alone cannot link a hidden report to its
reporter; the key that can is kept apart, checked at start-up and rotated by one command."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from bot.app import build_core, seed_demo
from bot.channels.context import ChannelContext
from bot.channels.webchat import WebChat
from bot.web import build_web_app
from handlers.types import ChatKind
from storage import admin
from storage.models import Attachment, OutboxMessage, Person, Report
from storage.transcripts import SqlTranscripts
from tests.chat import Chat
from tests.cli import run_cli
from tests.conftest import make_settings
from tests.test_casework_actions import Recorder
from tests.test_casework_rules import person

USER = "770011"
NAME = "Đinh Thị Lan"
USERNAME = "dinhthilan"
# Tables that may name the reporter: who they are, and where their conversation is.
THEIR_TABLES = {"person", "identity", "conversation"}


async def hidden_reporter(core, anonymity: int) -> Chat:
    """A member who sends one report with the given anonymity (2 confidential, 3 anonymous)."""
    chat = Chat(core, user_id=USER, display_name=NAME, username=USERNAME)
    if not chat.transcript:
        for step in ("/start", NAME, "1", "1"):
            await chat.say(step)
    await send_report(chat, anonymity)
    return chat


async def send_report(chat: Chat, anonymity: int) -> None:
    for step in (
        "/report",
        "2",
        "2",
        "1",
        "Tai nạn lao động tại xưởng cơ khí, một người bị thương.",
        "/skip",
        str(anonymity),
        "1",
    ):
        await chat.say(step)
    assert "PA-000" in chat.transcript[-1]


async def casework(core) -> tuple[Chat, Recorder]:
    """An anonymous and a confidential report from one member; staff ask, the reporter answers,
    staff resolve, the reporter disputes; the reporter looks at /my; everything is delivered."""
    recorder = Recorder()
    core.senders["web"] = recorder
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "web", "staff-room")
    reporter = await hidden_reporter(core, 3)
    await send_report(reporter, 2)
    staff = await person(core, "7106", "staff")
    staff.chat_kind, staff.chat_id = ChatKind.GROUP, "staff-room"
    for case in (1, 2):
        await staff.press_data(f"c:{case}:ack:0")
        await staff.press_data(f"c:{case}:ask:1")
        await staff.say("Xin cho biết thời gian xảy ra?")
        await core.delivery.run_once()
        await reporter.say(f"Sáng thứ Hai, 8 giờ ({case}).")
    for case in (1, 2):
        await staff.press_data(f"c:{case}:resolve:3")
        await staff.say("Đã kiểm tra, doanh nghiệp đã khắc phục.")
    await core.delivery.run_once()
    await reporter.say("/my")  # leaves the list of their codes in their conversation
    await core.delivery.run_once()
    return reporter, recorder


def sqlite_dump(url: str) -> list[tuple[str, str]]:
    """(table, row) for every row, from sqlite3's own dump."""
    conn = sqlite3.connect(make_url(url).database or "")
    try:
        lines = list(conn.iterdump())
    finally:
        conn.close()
    rows = []
    for line in lines:
        if line.startswith('INSERT INTO "'):
            rows.append((line.split('"')[1], line))
    return rows


async def pg_dump(url: str) -> list[tuple[str, str]]:
    parsed = make_url(url)
    proc = await asyncio.create_subprocess_exec(
        "pg_dump",
        "--data-only",
        "--inserts",
        "-h",
        parsed.host or "127.0.0.1",
        "-p",
        str(parsed.port or 5432),
        "-U",
        parsed.username or "",
        parsed.database or "",
        env={**os.environ, "PGPASSWORD": parsed.password or ""},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    rows = []
    for line in out.decode().splitlines():
        if line.startswith("INSERT INTO public."):
            rows.append((line.split()[2].removeprefix("public.").strip('"'), line))
    return rows


async def test_a_dump_holds_no_path_from_hidden_reports_to_their_reporter(
    pg_or_sqlite_core, db_url
):
    core = pg_or_sqlite_core
    reporter, recorder = await casework(core)
    # The sealed link still works: every step reached the reporter, and their answers the case.
    to_reporter = recorder.texts(USER)
    assert sum("Xin cho biết thời gian" in t for t in to_reporter) == 2
    assert sum("đã được giải quyết" in t for t in to_reporter) == 2
    assert any("Sáng thứ Hai, 8 giờ (2)" in t for t in recorder.texts("staff-room"))
    assert "PA-0001" in reporter.transcript[-1] and "PA-0002" in reporter.transcript[-1]

    rows = sqlite_dump(db_url) if db_url.startswith("sqlite") else await pg_dump(db_url)
    assert any(table == "report" for table, _ in rows)
    async with core.sessions() as session:
        them = (
            await session.execute(select(Person).where(Person.display_name == NAME))
        ).scalar_one()
        codes = [r.code for r in (await session.execute(select(Report))).scalars()]
    assert codes == ["PA-0001", "PA-0002"]
    # Who they are appears only where they are described, never beside a report.
    for table, row in rows:
        for secret in (USER, NAME, USERNAME):
            assert secret not in row or table in THEIR_TABLES, f"{secret!r} in {table}: {row}"
        if table in THEIR_TABLES:
            for code in codes:
                assert code not in row, f"{code} in {table}: {row}"
    # No row that belongs to a report holds their person id, in any column that names a person.
    async with core.sessions() as session:
        for table in SQLModel.metadata.sorted_tables:
            to_report = table.name == "report" or any(
                fk.column.table.name == "report" for fk in table.foreign_keys
            )
            person_columns = [
                fk.parent for fk in table.foreign_keys if fk.column.table.name == "person"
            ]
            if not to_report:
                continue
            for column in person_columns:
                found = await session.execute(select(table).where(column == them.id))
                assert found.first() is None, f"{table.name}.{column.name} names the reporter"
        outbox = (await session.execute(select(OutboxMessage))).scalars().all()
    assert not [m for m in outbox if m.chat_id == USER]


async def test_first_start_creates_a_private_key_file_and_says_to_back_it_up(
    tmp_path, sqlite_url, caplog
):
    core = await build_core(make_settings(tmp_path, sqlite_url))
    await core.close()
    key_file = tmp_path / "keys" / "seal.key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert any("Back this file up" in r.getMessage() for r in caplog.records)
    before = key_file.read_text()
    core = await build_core(make_settings(tmp_path, sqlite_url))  # the second start keeps it
    await core.close()
    assert key_file.read_text() == before


async def _one_anonymous_report(tmp_path: Path, url: str) -> None:
    core = await build_core(make_settings(tmp_path, url))
    try:
        await seed_demo(core)
        reporter = await hidden_reporter(core, 3)
        await reporter.say("/my")  # their list now waits, sealed, in their conversation
    finally:
        await core.close()


def _cli_env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "DATA_DIR": str(tmp_path),
        "ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "ZALO_BOT_TOKEN": "",
        **extra,
    }


async def test_a_wrong_or_missing_key_stops_start_up_with_one_line(tmp_path, sqlite_url):
    await _one_anonymous_report(tmp_path, sqlite_url)
    other = tmp_path / "other.key"
    other.write_text("xXNTeA1s2uO0x3sqqqtD2pUEsf7kq2OGpb5wo2n4q9U=\n")
    out = await run_cli(
        ["reports", "list"], expect=1, **_cli_env(tmp_path, sqlite_url, SEAL_KEY_FILE=str(other))
    )
    assert out.strip().count("\n") == 0 and "cannot open" in out, out
    (tmp_path / "keys" / "seal.key").rename(tmp_path / "moved.key")
    out = await run_cli(["reports", "list"], expect=1, **_cli_env(tmp_path, sqlite_url))
    assert out.strip().count("\n") == 0 and "restore the key" in out, out
    assert not (tmp_path / "keys" / "seal.key").exists()  # no new key was made in its place


async def test_keys_rotate_reseals_everything_under_a_new_key(tmp_path, sqlite_url):
    await _one_anonymous_report(tmp_path, sqlite_url)
    key_file = tmp_path / "keys" / "seal.key"
    old = key_file.read_text()
    env = _cli_env(tmp_path, sqlite_url)
    out = await run_cli(["keys", "rotate"], **env)
    assert "Re-sealed 3 links" in out  # the report's, the reporter's list, their conversation
    first = key_file.read_text()
    assert first != old and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    await run_cli(["keys", "rotate"], **env)  # safe to run twice
    assert key_file.read_text() not in (old, first)
    # The old keys are not needed: with one of them start-up refuses; with the new one, the
    # reporter still finds their report and hears from staff.
    (tmp_path / "old.key").write_text(old)
    await run_cli(["outbox", "status"], expect=1, SEAL_KEY_FILE=str(tmp_path / "old.key"), **env)
    core = await build_core(make_settings(tmp_path, sqlite_url))
    try:
        recorder = Recorder()
        core.senders["web"] = recorder
        reporter = Chat(core, user_id=USER, display_name=NAME, username=USERNAME)
        assert "PA-0001" in (await reporter.say("1"))[0]  # picked from the list shown before
        assert "PA-0001" in (await reporter.say("/my"))[0]
        staff = await person(core, "7106", "staff")
        await staff.press_data("c:1:ack:0")
        await core.delivery.run_once()
        assert any("PA-0001" in t for t in recorder.texts(USER))
    finally:
        await core.close()


def _word_file(path: Path) -> None:
    from docx import Document

    document = Document()
    document.add_paragraph("Biên bản cuộc họp.")
    props = document.core_properties
    props.author, props.last_modified_by, props.title = NAME, NAME, "Đơn của Lan"
    document.save(str(path))


def _pdf_file(path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata({"/Author": "Dinh Thi Lan", "/Title": "Don cua Lan"})
    writer.xmp_metadata = (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq><rdf:li>Dinh Thi Lan'
        b"</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
        b'<?xpacket end="w"?>'
    )
    with path.open("wb") as fh:
        writer.write(fh)


async def test_word_and_pdf_files_of_a_hidden_reporter_lose_their_author(core):
    from docx import Document
    from pypdf import PdfReader

    from handlers.types import Media, MediaKind
    from tests.test_bad_input import at_description, registered

    folder = core.settings.attachments_dir / "2026" / "11"
    folder.mkdir(parents=True)
    _word_file(folder / "a.docx")
    _pdf_file(folder / "b.pdf")
    assert b"Dinh Thi Lan" in (folder / "b.pdf").read_bytes()
    chat = await registered(core)
    await at_description(chat)
    await chat.say("Biên bản cuộc họp có nội dung đáng lo ngại.")
    await chat.media(
        Media(MediaKind.DOCUMENT, ref="2026/11/a.docx", name="don-cua-Lan.docx", size=9000)
    )
    await chat.media(Media(MediaKind.DOCUMENT, ref="2026/11/b.pdf", name="b.pdf", size=900))
    await chat.press("Done")
    review = (await chat.press(3))[0]  # anonymous
    assert "author's name" not in review  # no warning: these two are stripped
    out = await chat.press(1)  # send
    assert "PA-0001" in out[0]
    props = Document(str(folder / "a.docx")).core_properties
    assert (props.author, props.last_modified_by, props.title) == ("", "", "")
    assert "Biên bản cuộc họp." in Document(str(folder / "a.docx")).paragraphs[0].text
    pdf = (folder / "b.pdf").read_bytes()
    assert b"Dinh Thi Lan" not in pdf and b"Don cua Lan" not in pdf
    assert len(PdfReader(folder / "b.pdf").pages) == 1
    async with core.sessions() as session:
        names = [a.name for a in (await session.execute(select(Attachment))).scalars()]
    assert names == ["", ""]  # a file's own name can name its author too


@pytest.fixture
async def webchat(core, tmp_path) -> AsyncIterator[TestClient]:
    web = WebChat(
        ChannelContext(core.dispatcher, core.translations, tmp_path / "attachments", 200_000),
        SqlTranscripts(core.sessions),
        secure_cookies=False,
    )
    core.senders["web"] = web
    async with TestClient(TestServer(build_web_app(web.routes(), 200_000))) as c:
        yield c


async def test_the_web_chat_transcript_is_sealed_but_still_shown(webchat, sqlite_url):
    from tests.test_webchat import send

    client = webchat
    await client.get("/")
    steps = ["/start", "Đỗ Minh Châu", "dien luc", "1", "1", "/report", "2", "2", "1"]
    steps += ["Kho vật tư bị mất trộm đêm qua.", "/skip", "3", "1"]
    for step in steps:
        reply = await send(client, step)
    assert "PA-0001" in reply["messages"][-1]["text"]
    history = await (await client.get("/api/chat/history")).json()
    assert any("PA-0001" in m.get("text", "") for m in history["messages"])
    rows = [row for table, row in sqlite_dump(sqlite_url) if table == "web_chat_message"]
    assert rows and not [r for r in rows if "PA-0001" in r or "Kho vật tư" in r]


async def test_hidden_reports_from_before_the_upgrade_are_sealed_at_start_up(tmp_path, sqlite_url):
    from sqlalchemy import delete, update

    from storage.models import ReporterBox, ReportEvent

    core = await build_core(make_settings(tmp_path, sqlite_url))
    try:
        await seed_demo(core)
        await hidden_reporter(core, 3)
        staff = await person(core, "7106", "staff")
        await staff.press_data("c:1:ack:0")  # queues a notice to the reporter
        # As the release before sealing wrote it: the person id in clear everywhere.
        async with core.sessions() as session, session.begin():
            stmt = select(Person.id).where(Person.display_name == NAME)
            them = (await session.execute(stmt)).scalar_one()
            await session.execute(update(Report).values(person_id=them, sealed_reporter=None))
            await session.execute(delete(ReporterBox))
            await session.execute(
                update(ReportEvent)
                .where(ReportEvent.to_status == "new")
                .values(actor_person_id=them)
            )
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.idempotency_key.startswith("notice:1:"))
                .values(channel="web", chat_id=USER)
            )
    finally:
        await core.close()
    core = await build_core(make_settings(tmp_path, sqlite_url))
    try:
        recorder = Recorder()
        core.senders["web"] = recorder
        async with core.sessions() as session:
            report = (await session.execute(select(Report))).scalar_one()
            events = (await session.execute(select(ReportEvent))).scalars().all()
            notice = (
                await session.execute(
                    select(OutboxMessage).where(OutboxMessage.idempotency_key.startswith("notice:"))
                )
            ).scalar_one()
        assert report.person_id is None and report.sealed_reporter
        assert them not in [e.actor_person_id for e in events]
        assert (notice.channel, notice.chat_id) == ("sealed", "report:1")
        reporter = Chat(core, user_id=USER, display_name=NAME, username=USERNAME)
        assert "PA-0001" in (await reporter.say("/my"))[0]
        await core.delivery.run_once()
        assert any("PA-0001" in t for t in recorder.texts(USER))
    finally:
        await core.close()


async def test_a_key_rotated_under_a_running_bot_holds_only_the_sealed_rows(core):
    from storage.db import session_factory
    from storage.seal import Sealer, new_key

    recorder = Recorder()
    core.senders["web"] = recorder
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "staff", "web", "staff-room")
    await hidden_reporter(core, 3)
    staff = await person(core, "7106", "staff")
    await staff.press_data("c:1:ack:0")
    # The database was re-sealed under a key this process does not hold.
    core.delivery.sessions = session_factory(core.db, Sealer([new_key()]))
    core.delivery.ledger.sessions = core.delivery.sessions
    await core.delivery.run_once()
    assert recorder.texts("staff-room")  # everyone else's messages still go out
    assert not recorder.texts(USER)
    async with core.sessions() as session:
        notice = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == "report:1"))
        ).scalar_one()
    assert notice.status == "pending" and "seal key" in notice.last_error


async def test_a_key_file_that_cannot_be_written_is_named_in_one_line(tmp_path, sqlite_url):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = _cli_env(tmp_path, sqlite_url, SEAL_KEY_FILE=str(blocker / "seal.key"))
    out = await run_cli(["reports", "list"], expect=1, **env)
    assert out.strip().count("\n") == 0 and "SEAL_KEY_FILE" in out, out


async def test_a_reply_waiting_in_the_outbox_survives_a_key_rotation(tmp_path, sqlite_url):
    core = await build_core(make_settings(tmp_path, sqlite_url))
    try:
        text = "Phản ánh PA-0001 đã được tiếp nhận."
        await core.dispatcher.defer("web", USER, [{"kind": "text", "text": text, "choices": []}])
    finally:
        await core.close()
    await run_cli(["keys", "rotate"], **_cli_env(tmp_path, sqlite_url))
    core = await build_core(make_settings(tmp_path, sqlite_url))
    try:
        recorder = Recorder()
        core.senders["web"] = recorder
        await core.delivery.run_once()
        assert recorder.texts(USER) == [text]
    finally:
        await core.close()
