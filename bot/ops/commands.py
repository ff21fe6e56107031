"""The operations commands' parsers and entry points, registered by bot/cli.py. Light to
import (`grassroots --help` loads this): each command imports what it uses when it runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: bot.config loads pydantic, which `--help` does not need
    from bot.config import Settings


def add_ops_parsers(sub: Any) -> None:
    """`backup` and `doctor`."""
    backup = sub.add_parser(
        "backup", help="copy the database to a file (SQLite), or run pg_dump (PostgreSQL)"
    )
    backup.add_argument(
        "path", nargs="?", type=Path, help="the file to write (default: DATA_DIR/backups/…)"
    )
    sub.add_parser(
        "doctor",
        help="check settings, database, migrations, channels' tokens, webhooks, files and clock",
    )


async def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: SQLAlchemy, only once a command runs.
    from bot.ops.backup import BackupError, backup

    try:
        print(await backup(settings, args.path))
    except BackupError as exc:
        print(f"grassroots: {exc}", file=sys.stderr)
        return 1
    return 0


def doctor_main() -> int:
    """`grassroots doctor` loads the settings itself: a broken one is one of its findings."""
    # Imported here: the database, the Zalo client and aiohttp, only for this command.
    from bot.ops.doctor import doctor

    return doctor()
