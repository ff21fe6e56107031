"""`grassroots backup [PATH]`: a copy of the database, and a reminder that the seal key is not
in it. The copy is written under a temporary name and renamed when complete, so a file with
the final name is always a whole backup; an existing file is never overwritten."""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import datetime
from pathlib import Path

from bot.config import Settings
from storage.backup import backup_sqlite, libpq_env, sqlite_file

PG_ROUTINE = """\
Back up PostgreSQL with pg_dump (install the PostgreSQL client tools of the server's version):
  PGHOST=… PGPORT=… PGUSER=… PGPASSWORD=… pg_dump --format=custom --no-owner \\
      --file grassroots-$(date +%Y%m%d-%H%M%S).dump DATABASE
Restore into an empty database, with every instance stopped:
  pg_restore --no-owner --exit-on-error --dbname DATABASE grassroots-….dump
See docs/deployment.md, "Backups and restore"."""


class BackupError(Exception):
    """The backup was not made; the message says why, in one line."""


def default_target(settings: Settings, suffix: str) -> Path:
    stamp = datetime.now(settings.tz).strftime("%Y%m%d-%H%M%S")
    return settings.data_dir / "backups" / f"grassroots-{stamp}{suffix}"


def seal_key_reminder(settings: Settings) -> str:
    where = "SEAL_KEY" if settings.seal_key.strip() else str(settings.seal_key_path)
    return (
        f"The seal key is not in this backup: keep a copy of {where} apart from it. Without the "
        "key, hidden reporters' links in the backup cannot be opened; with both in one place, "
        "anyone holding them can."
    )


async def backup(settings: Settings, target: Path | None) -> str:
    """Make the backup; returns what to tell the operator."""
    source = sqlite_file(settings.database_url)
    suffix = ".db" if source is not None else ".dump"
    target = target or default_target(settings, suffix)
    if target.exists():
        raise BackupError(f"{target} already exists; give another file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if source is not None:
            if not source.exists():
                raise BackupError(f"there is no database at {source}")
            await backup_sqlite(source, partial)
        else:
            await pg_dump(settings.database_url, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    size = target.stat().st_size
    return f"Backed up the database to {target} ({size / 1e6:.1f} MB).\n" + seal_key_reminder(
        settings
    )


async def pg_dump(database_url: str, target: Path) -> None:
    program = shutil.which("pg_dump")
    if program is None:
        raise BackupError("pg_dump is not installed on this machine.\n" + PG_ROUTINE)
    proc = await asyncio.create_subprocess_exec(
        program,
        "--format=custom",
        "--no-owner",
        f"--file={target}",
        env={**os.environ, **libpq_env(database_url)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        reason = err.decode(errors="replace").strip().splitlines()
        raise BackupError(f"pg_dump failed: {reason[-1] if reason else proc.returncode}")
