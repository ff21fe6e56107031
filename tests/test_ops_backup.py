"""`grassroots backup`, then a restore into a fresh place: the data is there and, with the seal
key kept apart, what was sealed in the database opens again."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from bot.app import build_core
from storage.backup import libpq_env
from tests.cli import run_cli
from tests.conftest import PG_ADMIN_URL, make_settings

KEPT = ("upd-1", {"message": {"text": "words only the reporter and the key may read"}})


async def keep_something_sealed(tmp_path: Path, db_url: str) -> None:
    """An update kept in the inbox: sealed under the key in DATA_DIR/keys (made here)."""
    core = await build_core(make_settings(tmp_path, db_url))
    try:
        assert await core.dispatcher.inbox_store("telegram", [KEPT]) == ["upd-1"]
    finally:
        await core.close()


async def read_back(data_dir: Path, db_url: str) -> list[tuple[str, dict[str, object]]]:
    core = await build_core(make_settings(data_dir, db_url))
    try:
        return await core.dispatcher.inbox_waiting("telegram")
    finally:
        await core.close()


async def test_sqlite_backup_restores_with_its_seal_key(tmp_path: Path, migrated_sqlite: Path):
    live = tmp_path / "live"
    live.mkdir()
    shutil.copyfile(migrated_sqlite, live / "gr.db")
    url = f"sqlite+aiosqlite:///{live / 'gr.db'}"
    await keep_something_sealed(live, url)

    env = {"DATABASE_URL": url, "DATA_DIR": str(live)}
    out = await run_cli(["backup", str(tmp_path / "copy.db")], **env)
    assert "Backed up the database to" in out
    assert "seal key is not in this backup" in out and str(live / "keys" / "seal.key") in out
    # Never over an existing file: a second run with the same name refuses.
    again = await run_cli(["backup", str(tmp_path / "copy.db")], expect=1, **env)
    assert "already exists" in again
    # Without a name, a dated file under DATA_DIR/backups.
    assert "backups/grassroots-" in await run_cli(["backup"], **env)

    # Restore on a fresh machine: the backup file, and the seal key copied from its own place.
    fresh = tmp_path / "fresh"
    (fresh / "keys").mkdir(parents=True)
    shutil.copyfile(tmp_path / "copy.db", fresh / "restored.db")
    shutil.copyfile(live / "keys" / "seal.key", fresh / "keys" / "seal.key")
    assert await read_back(fresh, f"sqlite+aiosqlite:///{fresh / 'restored.db'}") == [KEPT]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_postgresql_backup_is_a_pg_dump_that_pg_restore_restores(
    tmp_path: Path, db_url: str
) -> None:
    if shutil.which("pg_restore") is None and not os.environ.get("CI"):
        pytest.skip("pg_restore is not installed")
    await keep_something_sealed(tmp_path, db_url)
    out = await run_cli(["backup", str(tmp_path / "gr.dump")], DATABASE_URL=db_url)
    assert "Backed up the database to" in out and "seal key" in out

    # Into a new, empty database, as docs/deployment.md says.
    restored = db_url + "_restored"
    target = libpq_env(restored)
    admin = {**os.environ, **libpq_env(PG_ADMIN_URL)}
    name = target["PGDATABASE"]
    await run(["createdb", name], admin)
    try:
        await run(
            ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={name}", "gr.dump"],
            {**os.environ, **target},
            tmp_path,
        )
        assert await read_back(tmp_path, restored) == [KEPT]
    finally:
        await run(["dropdb", "--force", name], admin)


async def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
