"""`grassroots poll …` and `grassroots sitrep status` as an operator runs them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import time_machine
from openpyxl import load_workbook

from bot.app import build_core, seed_demo
from scheduler.polls import run_polls
from tests.chat import Chat
from tests.cli import run_cli
from tests.conftest import make_settings
from tests.polls_helpers import POLLS, person

OPENS = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


async def test_import_list_results_and_exports(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {"DATABASE_URL": url, "ATTACHMENTS_DIR": str(tmp_path / "att")}
    out = await run_cli(["poll", "import", str(POLLS / "opinion-monthly.yaml")], **env)
    assert "opinion-monthly: created (version 1)" in out and "Next round opens at 08:00 25/" in out
    out = await run_cli(["poll", "import", str(POLLS / "opinion-monthly.yaml")], **env)
    assert "unchanged" in out
    core = await build_core(make_settings(tmp_path, url))
    try:
        await seed_demo(core)
        await person(core, "c1", "collaborator", "U001", name="Đỗ Minh Châu")
        await person(core, "c2", "collaborator", "C02")
        with time_machine.travel(OPENS, tick=False):
            await run_polls(core)
            chat = Chat(core, user_id="c1")
            await chat.say("/poll")
            for step in ("3", "2, 4", "1", "2", "/skip"):
                await chat.say(step)
    finally:
        await core.close()
    out = await run_cli(["poll", "list"], **env)
    assert "round 1" in out and "1/2 responded" in out
    out = await run_cli(["poll", "results", "opinion-monthly"], **env)
    assert "1 trên 2 (50%)" in out and "Bức xúc, dao động: 1 (100%)" in out
    out = await run_cli(["poll", "results", "opinion-monthly", "--format", "csv"], **env)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][:4] == ["name", "unit", "submitted_at", "mood"]
    assert rows[1][0] == "Đỗ Minh Châu" and rows[1][3] == "Bức xúc, dao động"
    assert rows[1][4] == "Sắp xếp tổ chức bộ máy; Phòng, chống tham nhũng"
    target = tmp_path / "r.xlsx"
    await run_cli(
        ["poll", "results", "opinion-monthly", "--format", "xlsx", "--out", str(target)], **env
    )
    sheet = load_workbook(target).active
    assert sheet is not None
    assert [c.value for c in sheet[2]][:2] == ["Đỗ Minh Châu", "U001"]
    out = await run_cli(["poll", "results", "nope"], expect=1, **env)
    assert "no poll with id 'nope'" in out


async def test_bad_poll_files_are_refused_with_the_field(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: x\ntitle: {vi: T}\nschedule: {once: '2026-12-01T08:00:00'}\nquestions:\n"
        "  - {id: a, type: scale, text: {vi: A}}\n"
        "  - {id: b, type: text, text: {vi: B}, when: {question: c, equals: 'yes'}}\n",
        encoding="utf-8",
    )
    out = await run_cli(["poll", "import", str(bad)], expect=1, **env)
    assert "bad.yaml" in out and "earlier question" in out
    bad.write_bytes(b"\xff\xfe not utf-8")
    out = await run_cli(["poll", "import", str(bad)], expect=1, **env)
    assert "not UTF-8" in out
    bad.write_text("id: x\ntitle: {en: Only English}\nquestions: []\n", encoding="utf-8")
    out = await run_cli(["poll", "import", str(bad)], expect=1, **env)
    assert "Vietnamese" in out
    past = POLLS / "pulse-anonymous.yaml"
    bad.write_text(past.read_text(encoding="utf-8").replace("2026-12-01", "2020-12-01"), "utf-8")
    out = await run_cli(["poll", "import", str(bad)], **env)
    assert "will never open" in out
    out = await run_cli(["poll", "import", str(tmp_path / "missing.yaml")], expect=1, **env)
    assert "cannot read" in out


async def test_sitrep_status_text_and_csv(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    env = {"DATABASE_URL": url}
    out = await run_cli(["sitrep", "status"], expect=1, **env)
    assert "no situation report imported yet" in out
    await run_cli(["poll", "import", str(POLLS / "sitrep-monthly.yaml")], **env)
    core = await build_core(make_settings(tmp_path, url))
    try:
        await seed_demo(core)
        await person(core, "k1", "contact", "U001")
        with time_machine.travel(datetime(2026, 11, 20, 1, 0, tzinfo=UTC), tick=False):
            await run_polls(core)
            chat = Chat(core, user_id="k1")
            for step in ("/poll", "Ổn định.", "2", "/skip"):
                await chat.say(step)
    finally:
        await core.close()
    out = await run_cli(["sitrep", "status", "--period", "2026-11"], **env)
    assert "Phải nộp 113 · đã nhận 1 · đúng hạn 1 · trễ hạn 0 · chưa nộp 112" in out
    out = await run_cli(["sitrep", "status", "--format", "csv"], **env)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["unit", "name", "status", "filed_at", "contact_points"]
    statuses = {r[0]: r[2] for r in rows[1:]}
    assert statuses["U001"] == "on_time" and statuses["U002"] == "missing" and len(statuses) == 113
