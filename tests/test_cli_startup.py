"""`grassroots --help` and the commands that only read tables start without the heavy libraries
(#16), and `grassroots reports list` on a database at the head without SQLAlchemy, alembic or
pydantic either. A subprocess lists what it imported (`python -X importtime`); nothing here is
timed, as the machine's load would decide a timed assertion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from bot.app import Core
from storage import admin
from storage.light import schema_heads, schema_revisions
from storage.migrate import head_revisions, known_revisions
from storage.models import OrgUnit, Report
from storage.seal import seal_reporter, sealer_of

ROOT = Path(__file__).resolve().parent.parent

# The channels, the web server, charts, documents and spreadsheets: what `grassroots run`,
# the digest and the monthly report need, and no table command.
HEAVY = ("bot.app", "telegram", "aiohttp", "matplotlib", "docx", "openpyxl", "jinja2", "PIL")
# What `--help` does not need either: the database, migrations, settings, catalogs, schedules.
NOT_FOR_HELP = (
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "babel",
    "apscheduler",
    "yaml",
    "storage",
    "scheduler",
)


# What the quick path of `reports list` leaves out: the database layers and the settings model.
NOT_FOR_A_QUICK_LIST = ("sqlalchemy", "sqlmodel", "alembic", "pydantic", "pydantic_settings")


def imports_of(args: list[str], env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """The modules `grassroots ARGS` imported, and what it printed."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot.cli", *args],
        cwd=ROOT,
        env={**os.environ, "TELEGRAM_BOT_TOKEN": "", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    }
    return modules, result.stdout


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(p for p in packages if any(m == p or m.startswith(p + ".") for m in modules))


def test_help_loads_no_database_channel_or_document_library() -> None:
    modules, out = imports_of(["--help"])
    assert "usage: grassroots" in out
    assert loaded(modules, HEAVY + NOT_FOR_HELP) == []
    modules, out = imports_of(["poll", "--help"])
    assert "usage: grassroots poll" in out
    assert loaded(modules, HEAVY + NOT_FOR_HELP) == []


def test_reports_list_opens_the_database_without_the_channels(tmp_path: Path) -> None:
    modules, out = imports_of(
        ["reports", "list"],
        {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gr.db'}", "DATA_DIR": str(tmp_path)},
    )
    assert "No reports yet." in out
    assert "sqlalchemy" in modules  # it did open the database
    assert loaded(modules, HEAVY) == []


def test_the_schema_head_read_from_the_files_is_alembics() -> None:
    assert schema_heads() == head_revisions()
    assert schema_revisions() == known_revisions()  # what /readyz calls "ahead"


async def test_reports_list_at_the_head_reads_without_sqlalchemy_and_says_the_same(
    pg_or_sqlite_core: Core, tmp_path: Path
) -> None:
    core = pg_or_sqlite_core
    async with core.sessions() as session, session.begin():
        unit = (await session.execute(select(OrgUnit).limit(1))).scalars().first()
        sealer = sealer_of(session)
        assert sealer is not None
        for n, (urgency, anonymity, at) in enumerate(
            [
                ("hot", "named", datetime(2026, 12, 2, 20, 5, tzinfo=UTC)),
                ("normal", "anonymous", datetime(2026, 12, 3, 1, 0, 0, 123456, tzinfo=UTC)),
            ]
        ):
            session.add(
                Report(
                    code=f"PA-{n:04d}",
                    category="workplace",
                    urgency=urgency,
                    description=f"Mô tả {n}",
                    anonymity=anonymity,
                    channel="telegram",
                    unit_id=unit.id if unit and n == 0 else None,
                    # the hidden one sealed, as the bot files it: the quick path checks the key
                    sealed_reporter=seal_reporter(sealer, 1) if n else None,
                    created_at=at,
                )
            )
    async with core.sessions() as session:
        expected = await admin.list_reports(session, 50)
    env = {
        "DATABASE_URL": core.settings.database_url,
        "DATA_DIR": str(core.settings.data_dir),
        "SEAL_KEY_FILE": str(core.settings.seal_key_path),
    }
    modules, out = imports_of(["reports", "list", "--json"], env)
    assert loaded(modules, HEAVY + NOT_FOR_A_QUICK_LIST) == []
    assert json.loads(out) == expected and len(expected) == 2
    modules, out = imports_of(["reports", "list"], env)
    assert loaded(modules, HEAVY + NOT_FOR_A_QUICK_LIST) == []
    assert "PA-0000\t2026-12-03 03:05\tnew\tHOT workplace\t" in out
    assert "PA-0001\t2026-12-03 08:00\tnew\tworkplace\t-" in out
