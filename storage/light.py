"""Reads that start without SQLAlchemy, SQLModel or alembic, which cost over a second of imports
(#16): the schema's head read from the migration files, and the report list for
`grassroots reports list` on a database already at that head. Each answers None when it cannot
be sure (a database missing, behind or unusual, a seal key missing or wrong), and the caller takes the full path, which
migrates and says clearly what is wrong."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

VERSIONS = Path(__file__).with_name("migrations") / "versions"
_REVISION = re.compile(r"^revision\b[^=]*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\b[^=]*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")

# The staff-facing report listing, one query for both paths (this one and
# storage.admin.list_reports, which runs it on its session): no reporter identity at all.
REPORTS_LISTING = (
    "SELECT r.code, r.created_at, r.status, r.category, r.urgency, u.code, u.name, "
    "r.anonymity, r.channel, r.description FROM report r "
    "LEFT OUTER JOIN org_unit u ON r.unit_id = u.id ORDER BY r.id DESC LIMIT {limit}"
)
# As storage.seal: the seals open_sealer tries, in its order, and the reports it would seal.
_UNSEALED = (
    "SELECT 1 FROM report WHERE anonymity IN ('confidential', 'anonymous') "
    "AND person_id IS NOT NULL LIMIT 1"
)
_FIRST_SEALS = (
    "SELECT sealed_reporter FROM report WHERE sealed_reporter IS NOT NULL LIMIT 1",
    "SELECT token FROM reporter_box LIMIT 1",
)
_NEWEST_WEB_CHAT = "SELECT payload FROM web_chat_message ORDER BY id DESC LIMIT 1"
_KEYS = (
    "code",
    "created_at",
    "status",
    "category",
    "urgency",
    "unit",
    "unit_name",
    "anonymity",
    "channel",
    "description",
)


def schema_heads(versions: Path = VERSIONS) -> tuple[str, ...]:
    """The head revisions, as alembic finds them (tests/test_cli_startup.py compares), from
    each file's `revision` and `down_revision` lines: about a millisecond, not alembic's 0.2 s."""
    revisions, parents = _revision_lines(versions)
    return tuple(sorted(revisions - parents))


def schema_revisions(versions: Path = VERSIONS) -> frozenset[str]:
    """Every revision there is a migration file for, as alembic finds them (compared by
    tests/test_cli_startup.py), read as schema_heads reads them."""
    return frozenset(_revision_lines(versions)[0])


def _revision_lines(versions: Path) -> tuple[set[str], set[str]]:
    """The revisions the migration files name, and those they name as parents."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = _REVISION.search(text)
        down = _DOWN.search(text)
        if found is None or down is None:
            continue
        revisions.add(found.group(1))
        parents.update(_QUOTED.findall(down.group(1)))
    return revisions, parents


def _sqlite_path(database_url: str) -> str | None:
    """The file of a plain `sqlite+aiosqlite:///PATH` URL; None for anything else."""
    prefix = "sqlite+aiosqlite:///"
    if not database_url.startswith(prefix) or "?" in database_url:
        return None
    path = database_url.removeprefix(prefix)
    return None if path in ("", ":memory:") else path


Fetch = Callable[[str], Awaitable[list[tuple[Any, ...]]]]


async def _with_sqlite(path: str, read: Callable[[Fetch], Awaitable[Any]]) -> Any:
    """Read-only: a missing file stays missing (the full path creates and migrates it)."""
    try:
        conn = sqlite3.connect(
            f"file:{quote(path)}?mode=ro", uri=True, timeout=10, check_same_thread=False
        )
    except sqlite3.Error:
        return None

    async def fetch(sql: str) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(lambda: conn.execute(sql).fetchall())

    try:
        return await read(fetch)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


async def _with_postgresql(database_url: str, read: Callable[[Fetch], Awaitable[Any]]) -> Any:
    # Imported here: asyncpg only for a PostgreSQL database.
    import asyncpg

    if "?" in database_url:  # options meant for SQLAlchemy's URL: the full path reads them
        return None
    try:
        conn = await asyncpg.connect("postgresql://" + database_url.split("://", 1)[1], timeout=30)
    except (OSError, asyncpg.PostgresError):
        return None

    async def fetch(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await conn.fetch(sql)]

    try:
        return await read(fetch)
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()


async def _seals_open(fetch: Fetch, keys: list[str]) -> bool:
    """What bot.keys.open_sealer checks at start-up, when all is well: a key that opens the
    database's first seal (storage.seal.first_seal), and no hidden report left to seal."""
    if not keys or await fetch(_UNSEALED):
        return False
    try:
        fernet = MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        return False
    seal = await _first_seal(fetch)
    if seal is None:
        return True
    try:
        fernet.decrypt(seal.encode())
    except InvalidToken:
        return False
    return True


async def _first_seal(fetch: Fetch) -> str | None:
    for sql in _FIRST_SEALS:
        rows = await fetch(sql)
        if rows and rows[0][0]:
            return str(rows[0][0])
    rows = await fetch(_NEWEST_WEB_CHAT)
    payload = json.loads(rows[0][0]) if rows and isinstance(rows[0][0], str) else None
    token = payload.get("sealed") if isinstance(payload, dict) else None
    return token if isinstance(token, str) else None


def _utc(value: datetime | str) -> datetime:
    """As storage.models.UTCDateTime reads it: SQLite keeps naive UTC text."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def list_reports(
    database_url: str, limit: int, keys: list[str]
) -> list[dict[str, Any]] | None:
    """storage.admin.list_reports' rows, or None unless the database is at the head and its
    seals open with `keys` (the seal key, newest first)."""
    heads = schema_heads()

    async def read(fetch: Fetch) -> list[tuple[Any, ...]] | None:
        found = tuple(
            sorted(row[0] for row in await fetch("SELECT version_num FROM alembic_version"))
        )
        if found != heads or not await _seals_open(fetch, keys):
            return None
        return await fetch(REPORTS_LISTING.format(limit=int(limit)))

    path = _sqlite_path(database_url)
    if path is not None:
        rows = await _with_sqlite(path, read)
    elif database_url.startswith("postgresql+asyncpg://"):
        rows = await _with_postgresql(database_url, read)
    else:
        return None
    return None if rows is None else listing(rows)


def listing(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """REPORTS_LISTING's rows as the listing's dicts, the time in ISO form (UTC)."""
    listed = [dict(zip(_KEYS, row, strict=True)) for row in rows]
    for row in listed:
        row["created_at"] = _utc(row["created_at"]).isoformat()
    return listed
