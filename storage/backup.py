"""Copies of the database. SQLite through its online backup API (a consistent copy while the
bot runs, page by page, in a thread); PostgreSQL through pg_dump, which gets its connection from
libpq's environment variables so the password never appears in a process list."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from storage.db import is_sqlite


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite database; None for PostgreSQL or an in-memory database."""
    if not is_sqlite(database_url):
        return None
    database = make_url(database_url).database
    return Path(database) if database and database != ":memory:" else None


def _backup_sqlite(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=1024)  # in steps, so writers are held up only briefly
        finally:
            dst.close()
    finally:
        src.close()


async def backup_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of `source` (even while it is written to) into the new file `target`."""
    await asyncio.to_thread(_backup_sqlite, source, target)


def libpq_env(database_url: str) -> dict[str, str]:
    """PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE for pg_dump, pg_restore and psql."""
    url = make_url(database_url)
    names = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    return {name: str(value) for name, value in names.items() if value}
