"""Shared fixtures: databases (SQLite and PostgreSQL), the core, and a frozen clock."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import Core, build_core
from bot.config import Settings

PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://grassroots:grassroots@127.0.0.1:5432/postgres"
)


async def _pg_available() -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""), timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database of each kind. CI must have PostgreSQL: there it never skips."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if not await _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (CI must start it)")
        pytest.skip("PostgreSQL is not reachable; set TEST_POSTGRES_URL")
    import asyncpg

    name = f"gr_test_{uuid.uuid4().hex[:12]}"
    admin = PG_ADMIN_URL.replace("+asyncpg", "")
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(admin)
    try:
        for attempt in range(20):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except asyncpg.InsufficientPrivilegeError:
                # An autovacuum worker (owned by the server, not our role) is still in the
                # database and FORCE may not end it; it finishes within moments.
                await asyncio.sleep(0.25 * (attempt + 1))
    finally:
        await conn.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": tmp_path,
        "attachments_dir": tmp_path / "attachments",
        "telegram_bot_token": "",
        "zalo_bot_token": "",
        "web_port": 0,
        "default_locale": "vi",
        "timezone": "Asia/Ho_Chi_Minh",
        "public_url": "",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.fixture
async def core(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Core]:
    """The whole core on a fresh SQLite database, seeded with the demo organisation."""
    from bot.app import seed_demo

    built = await build_core(make_settings(tmp_path, sqlite_url))
    await seed_demo(built)
    yield built
    await built.close()


@pytest.fixture
async def pg_or_sqlite_core(tmp_path: Path, db_url: str) -> AsyncIterator[Core]:
    from bot.app import seed_demo

    built = await build_core(make_settings(tmp_path, db_url))
    await seed_demo(built)
    yield built
    await built.close()
