"""`grassroots --help` and the commands that only read tables start without the heavy libraries
(#16). A subprocess lists what it imported (`python -X importtime`); nothing here is timed, as
the machine's load would decide a timed assertion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
