"""Alembic, driven from code so `grassroots run` and `grassroots db upgrade` share one path.

Several instances may start (and migrate) at once: the upgrade runs under a lock, a PostgreSQL
session advisory lock or, for SQLite, an exclusive lock on a file beside the database. The
first to take it migrates; the others wait, then find the database at the head and do nothing.
A lock held by a process that dies is released with its connection (or file descriptor)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import ensure_sqlite_dir, is_sqlite
from storage.light import schema_heads

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_lock's key for "migrating Grassroots' schema": the bytes of "grassmig".
MIGRATION_LOCK_KEY = int.from_bytes(b"grassmig", "big")


@dataclass(frozen=True)
class Migrated:
    """The schema's revisions before and after an upgrade; unchanged when another instance
    (or an earlier run) had already migrated."""

    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config(database_url: str) -> Config:
    # Here, not at the top: alembic (with mako and pygments) costs 0.2 s of imports, and a
    # `grassroots run` on a database already at the head never needs it.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def head_revisions() -> tuple[str, ...]:
    """The revisions this version of the code expects (read from the migration files)."""
    from alembic.script import ScriptDirectory  # here: as alembic_config

    return tuple(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))


def known_revisions() -> frozenset[str]:
    """Every revision this version of the code has a migration for."""
    from alembic.script import ScriptDirectory  # here: as alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(rev.revision for rev in script.walk_revisions())


def _current(connection: Connection) -> tuple[str, ...]:
    """alembic_version's rows, as alembic's MigrationContext reads them, without its imports."""
    if not inspect(connection).has_table("alembic_version"):
        return ()
    rows = connection.execute(text("SELECT version_num FROM alembic_version"))
    return tuple(sorted(str(row[0]) for row in rows))


async def current_revisions(db: AsyncEngine) -> tuple[str, ...]:
    """The revisions the database is at; () for a database never migrated."""
    async with db.connect() as conn:
        return await conn.run_sync(_current)


@contextlib.asynccontextmanager
async def migration_lock(database_url: str) -> AsyncIterator[None]:
    """Held by one process at a time, across every instance on this database."""
    if is_sqlite(database_url):
        database = make_url(database_url).database or ""
        if not database or database == ":memory:":
            yield
            return
        fd = await asyncio.to_thread(os.open, f"{database}.migrate-lock", os.O_RDWR | os.O_CREAT)
        try:
            # Blocking until the other process is done: in a thread, off the event loop.
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock
        return
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                yield
            finally:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
    finally:
        await engine.dispose()


async def upgrade(database_url: str, revision: str = "head") -> Migrated:
    """Migrate under the lock. Alembic's env runs its own event loop, so keep it off ours.
    A database already at the head is left alone without starting alembic."""
    ensure_sqlite_dir(database_url)
    async with migration_lock(database_url):
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            before = await current_revisions(engine)
            if revision == "head" and before == schema_heads():
                return Migrated(before, before)  # alembic would find nothing to do, in 50 ms
            from alembic import command  # here: as alembic_config

            await asyncio.to_thread(command.upgrade, alembic_config(database_url), revision)
            after = await current_revisions(engine)
        finally:
            await engine.dispose()
    return Migrated(before, after)


def upgrade_sync(database_url: str, revision: str = "head") -> Migrated:
    """For code without an event loop of its own (tests' fixtures)."""
    return asyncio.run(upgrade(database_url, revision))


def downgrade_sync(database_url: str, revision: str) -> None:
    from alembic import command  # here: as alembic_config

    command.downgrade(alembic_config(database_url), revision)
