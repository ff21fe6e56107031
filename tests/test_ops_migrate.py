"""Migrations from several instances at once (#13): two real `grassroots run` processes start on
one fresh database at the same moment. One migrates, the other waits for it, and both serve.
With AUTO_MIGRATE=false `run` refuses a database that is behind, saying what to do."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import aiohttp
import pytest

from tests.cli import clock_env, grassroots, run_cli, stop_run
from tests.test_restart import free_port


async def ready(port: int, proc: asyncio.subprocess.Process, seconds: float = 120) -> None:
    """Until /readyz answers 200; fails at once if the process ends."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with aiohttp.ClientSession() as http:
        while proc.returncode is None and loop.time() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"instance on port {port} not ready (exit code {proc.returncode})")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: below, `db upgrade`
async def test_two_instances_migrate_a_fresh_database_at_once_one_wins_both_start(
    tmp_path: Path, db_url: str
) -> None:
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"instance{n}.log" for n in range(2)]
    procs = []
    for port, log in zip(ports, logs, strict=True):
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "DATA_DIR": str(tmp_path),
            "ATTACHMENTS_DIR": str(tmp_path / "att"),
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(port),
            "TELEGRAM_BOT_TOKEN": "",
            "ZALO_BOT_TOKEN": "",
            "LOG_FORMAT": "json",
        }
        with log.open("wb") as err:
            procs.append(
                await asyncio.create_subprocess_exec(
                    *grassroots(),
                    "run",
                    env=clock_env(env),
                    cwd=tmp_path,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=err,
                )
            )
    try:
        await asyncio.gather(*(ready(p, proc) for p, proc in zip(ports, procs, strict=True)))
    finally:
        for proc in procs:
            await stop_run(proc)
    lines = [line for log in logs for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # LOG_FORMAT=json: every line is one object
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    migrated = [r for r in records if r["message"].startswith("database migrated from empty")]
    assert len(migrated) == 1, lines


async def test_run_without_auto_migrate_refuses_a_database_that_is_behind(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gr.db'}"
    env = {"DATABASE_URL": url, "DATA_DIR": str(tmp_path), "AUTO_MIGRATE": "false"}
    out = await run_cli(["run"], expect=1, **env)
    assert "AUTO_MIGRATE is false" in out and "grassroots db upgrade" in out
    assert "Traceback" not in out
    first, again = await asyncio.gather(
        run_cli(["db", "upgrade"], subprocess=True, **env),
        run_cli(["db", "upgrade"], subprocess=True, **env),
    )  # two processes, as two operators or instances would
    # Both at once: one migrated, the other waited for it and found nothing to do.
    assert sorted("Migrated from an empty database." in o for o in (first, again)) == [False, True]
    assert "Database is up to date" in first and "Database is up to date" in again
