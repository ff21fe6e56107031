"""Engine and session factory. SQLite runs in WAL mode; PostgreSQL through asyncpg."""

from __future__ import annotations

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
    writes or reads a hidden reporter's link has the key without it being passed everywhere."""
    info = {"sealer": sealer} if sealer is not None else {}
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, info=info)


def database_busy(exc: BaseException) -> bool:
    """Whether `exc` says SQLite's one writer stayed taken past the busy timeout: the
    transaction rolled back whole, so the caller may simply try again."""
    if not isinstance(exc, OperationalError):
        return False
    return "database is locked" in str(exc.orig) or "database is busy" in str(exc.orig)
