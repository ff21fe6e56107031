"""Engine and session factory. SQLite runs in WAL mode; PostgreSQL through asyncpg."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeAlias

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.sqlite_driver import one_trip_dbapi

# The names the rest of the application annotates with, so that only storage imports SQLAlchemy.
Session: TypeAlias = AsyncSession
Sessions: TypeAlias = async_sessionmaker[AsyncSession]
Database: TypeAlias = AsyncEngine


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a file-based SQLite database, so a fresh checkout just runs."""
    if not is_sqlite(url):
        return
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    ensure_sqlite_dir(url)
    # Database errors would otherwise quote SQL parameters, reporters' names among them, into
    # logs and tracebacks.
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if not is_sqlite(url):
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    if make_url(url).drivername == "sqlite+aiosqlite":
        kwargs["module"] = one_trip_dbapi()  # one thread hop per statement, not three or four
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine, sealer: object | None = None) -> Sessions:
    """`sealer` (storage.seal.Sealer) rides along in every session's `info`, so the code that
    writes or reads a hidden reporter's link has the key without it being passed everywhere.
    On SQLite the factory also carries the process's writer turn (`write_turn`)."""
    info: dict[str, Any] = {"sealer": sealer} if sealer is not None else {}
    if engine.dialect.name == "sqlite":
        info[WRITER_KEY] = asyncio.Lock()
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, info=info)


WRITER_KEY = "writer"


def shared_writer(sessions: Sessions) -> asyncio.Lock | None:
    """SQLite takes one writer at a time: the process's write transactions (an event's, the
    delivery worker's) queue for it on this lock, in order, rather than meeting in SQLite's
    busy handler, which sleeps (1 ms, then longer, up to 100 ms a time) while the writer may
    already be free: waits that made the slowest steps' latency (docs/performance.md)."""
    lock = (sessions.kw.get("info") or {}).get(WRITER_KEY)
    return lock if isinstance(lock, asyncio.Lock) else None


def write_turn(sessions: Sessions) -> AbstractAsyncContextManager[Any]:
    """Hold the writer's turn around a write transaction (a no-op but on SQLite)."""
    return shared_writer(sessions) or nullcontext()


def database_busy(exc: BaseException) -> bool:
    """Whether `exc` says SQLite's one writer stayed taken past the busy timeout: the
    transaction rolled back whole, so the caller may simply try again."""
    if not isinstance(exc, OperationalError):
        return False
    return "database is locked" in str(exc.orig) or "database is busy" in str(exc.orig)
