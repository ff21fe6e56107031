"""Settings load every documented variable; the CLI answers operators in one clear line."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from handlers.forms import FormError, load_catalog
from tests.cli import run_cli

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_lists_every_setting_with_its_default():
    from bot.config import Settings

    documented = dict(
        re.findall(r"^#?\s*([A-Z_]+)=(.*)$", (ROOT / ".env.example").read_text(), re.M)
    )
    for name in Settings.model_fields:
        assert name.upper() in documented, f"{name.upper()} missing from .env.example"


def test_env_example_copied_to_env_loads_the_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    s = load_settings()
    assert s.web_chat is None and s.org_dir is None and s.web_chat_enabled
    assert s.max_attachment_bytes == 20 * 1024 * 1024


def test_defaults_are_the_embedded_ones(monkeypatch):
    for var in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "ZALO_BOT_TOKEN", "WEB_PORT", "TIMEZONE"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings(_env_file=None)
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert (s.web_host, s.web_port, s.timezone, s.default_locale) == (
        "127.0.0.1",
        8080,
        "Asia/Ho_Chi_Minh",
        "vi",
    )
    assert not s.telegram_enabled and not s.zalo_enabled and s.web_chat_enabled


def test_a_channel_with_a_token_is_on_and_web_chat_steps_aside(monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    s = load_settings(_env_file=None)
    assert s.telegram_enabled and not s.web_chat_enabled
    monkeypatch.setenv("WEB_CHAT", "true")
    assert load_settings(_env_file=None).web_chat_enabled


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("WEB_PORT", "eighty"),
        ("TIMEZONE", "Mars/Olympus"),
        ("DATABASE_URL", "mysql://x"),
        ("TELEGRAM_MODE", "carrier-pigeon"),
        ("DEFAULT_LOCALE", "fr"),
        ("TELEGRAM_API_URL", "ftp://x"),
    ],
)
def test_an_invalid_value_fails_with_one_line_naming_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    assert var in str(err.value) and "\n" not in str(err.value)


def test_postgres_urls_get_the_async_driver(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/grassroots")
    assert load_settings(_env_file=None).database_url == "postgresql+asyncpg://u:p@db/grassroots"


def test_a_broken_form_file_fails_clearly(tmp_path):
    (tmp_path / "forms").mkdir()
    (tmp_path / "categories.yaml").write_text(
        "categories:\n  - code: Bad Code\n    name: {vi: x}\n"
    )
    with pytest.raises(FormError, match=r"categories\.yaml.*code"):
        load_catalog(tmp_path)
    (tmp_path / "categories.yaml").write_text("categories:\n  - code: ok\n    name: {vi: x}\n")
    (tmp_path / "forms" / "report.yaml").write_text(
        "id: report\non_complete: submit_report\nsteps:\n  - {id: a, type: choice, prompt: x}\n"
    )
    with pytest.raises(FormError, match=r"report\.yaml.*options or a source"):
        load_catalog(tmp_path)
    (tmp_path / "forms" / "report.yaml").write_text("id: [unclosed\n")
    with pytest.raises(FormError, match="not valid YAML"):
        load_catalog(tmp_path)


async def test_invalid_setting_stops_the_cli_with_one_line(tmp_path):
    out = await run_cli(["db", "upgrade"], expect=2, WEB_PORT="99999")
    assert out.strip().count("\n") == 0 and "WEB_PORT" in out


async def test_broken_form_stops_run_before_anything_starts(tmp_path):
    (tmp_path / "forms").mkdir()
    (tmp_path / "forms" / "report.yaml").write_text(
        "id: report\nsteps: []\non_complete: submit_report\n"
    )
    out = await run_cli(
        ["run"], expect=1, ORG_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/x.db"
    )
    assert "report.yaml" in out and "at least one step" in out


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("schedules.yaml", "jobs:\n  daily_digest: '61 7 * * *'\n", "invalid cron"),
        ("schedules.yaml", "jobs:\n  make_coffee: '0 7 * * *'\n", "unknown job"),
        ("nudges.yaml", "quiet_hours: {start: '25:00', end: '06:30'}\n", "quiet_hours"),
    ],
)
async def test_invalid_schedule_data_stops_start_up_clearly(tmp_path, name, content, expected):
    (tmp_path / name).write_text(content)
    out = await run_cli(
        ["run"], expect=1, ORG_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/x.db"
    )
    assert name in out and expected in out


async def test_jobs_list_shows_each_schedule_with_its_next_run(tmp_path):
    out = await run_cli(["jobs", "list"], DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    for job in ("daily_digest", "nudges", "close_unconfirmed", "weekly_digest", "monthly_digest"):
        assert job in out
    assert "next:" in out


def test_the_weekly_summary_is_scheduled_on_mondays():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.config import BUILTIN_DATA
    from scheduler.schedule import load_schedules

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    triggers = load_schedules(BUILTIN_DATA / "schedules.yaml", tz)
    sunday = datetime(2026, 11, 29, 12, 0, tzinfo=tz)
    assert (
        triggers["weekly_digest"].get_next_fire_time(None, sunday).strftime("%a %H:%M")
        == "Mon 08:00"
    )
    assert triggers["monthly_digest"].get_next_fire_time(None, sunday).day == 1
    assert triggers["daily_digest"].get_next_fire_time(None, sunday).strftime("%H:%M") == "07:30"


async def test_operator_commands_end_to_end(tmp_path):
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    assert "up to date" in await run_cli(["db", "upgrade"], **env)
    good = tmp_path / "units.csv"
    good.write_text(
        "\ufeffcode,name,kind,host_kind,parent_code\n"
        "DUK,Đảng bộ Khối,party_committee,agency,\n"
        'C01,"Chi bộ Sở Tư pháp, tỉnh",cell,agency,DUK\n',
        encoding="utf-8",
    )
    assert "2 new" in await run_cli(["org", "import", str(good)], **env)
    assert "0 new, 0 updated, 2 unchanged" in await run_cli(["org", "import", str(good)], **env)

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,name,kind,host_kind,parent_code\nC02,Chi bộ A,cell,agency,DUK\nC03,Chi bộ B,cellar,agency,\n"
        "C04,Chi bộ C,cell,agency,MISSING\n,Không mã,cell,agency,\n",
        encoding="utf-8",
    )
    out = await run_cli(["org", "import", str(bad)], expect=1, **env)
    assert "line 3" in out and "line 4" in out and "line 5" in out and "nothing was imported" in out
    assert "line 2" not in out
    assert "C02" not in await run_cli(["org", "list"], **env)

    binary = tmp_path / "units.xlsx"
    binary.write_bytes(b"PK\x03\x04\x00\x00\xff\xfe")
    out = await run_cli(["org", "import", str(binary)], expect=1, **env)
    assert "UTF-8" in out or "NUL" in out
    out = await run_cli(["org", "import", str(tmp_path / "missing.csv")], expect=1, **env)
    assert "cannot read" in out

    out = await run_cli(
        ["invite", "create", "--role", "collaborator", "--org", "C01", "--uses", "3"], **env
    )
    code = out.splitlines()[0]
    assert re.fullmatch(r"[A-Z2-9]{8}", code) and f"/start {code}" in out
    out = await run_cli(["invite", "create", "--role", "member", "--org", "NOPE"], expect=1, **env)
    assert "NOPE" in out

    assert "bound as staff" in await run_cli(
        ["chat", "bind", "staff", "--channel", "telegram", "--chat", "-1001"], **env
    )
    assert "already bound" in await run_cli(
        ["chat", "bind", "staff", "--channel", "telegram", "--chat", "-1001"], **env
    )
    db = sqlite3.connect(tmp_path / "cli.db")  # the audit log names the command line
    try:
        logged = list(db.execute("SELECT actor_name, action, target, details FROM audit_entry"))
    finally:
        db.close()
    assert [(who, action) for who, action, _t, _d in logged] == [
        ("command line", "units.import"),
        ("command line", "units.import"),
        ("command line", "invite.create"),
        ("command line", "binding.add"),
    ]
    assert code not in str(logged)  # an invite code is never logged
    out = await run_cli(
        ["chat", "bind", "bosses", "--channel", "telegram", "--chat", "-1"], expect=1, **env
    )
    assert "department:CODE" in out
    assert "No reports yet." in await run_cli(["reports", "list"], **env)
    assert (await run_cli(["reports", "list", "--json"], **env)).strip() == "[]"
