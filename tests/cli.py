"""Run the real `grassroots` command in a subprocess, as an operator would."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def grassroots() -> list[str]:
    """The `grassroots` command as a subprocess argv, on the test's (frozen) clock."""
    return [sys.executable, "-m", "tests.clocked"]


def clock_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: ours) plus what a subprocess needs to share the test's clock. DATA_DIR
    (where the seal key lives) defaults to the SQLite database's folder, as the tests' cores
    have it, so a server and the CLI run beside it find the same key."""
    base = dict(os.environ if env is None else env)
    url = base.get("DATABASE_URL", "")
    if "DATA_DIR" not in base and url.startswith("sqlite") and ":///" in url:
        base["DATA_DIR"] = str(Path(url.split(":///", 1)[1]).parent)
    path = base.get("PYTHONPATH")
    base["PYTHONPATH"] = f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)
    base["GRASSROOTS_TEST_NOW"] = datetime.now(UTC).isoformat()
    return base


async def run_cli(args: list[str], expect: int = 0, **env: str) -> str:
    """Output (stdout + stderr) of `grassroots ARGS`; asserts the exit code."""
    proc = await asyncio.create_subprocess_exec(
        *grassroots(),
        *args,
        env=clock_env({**os.environ, "TELEGRAM_BOT_TOKEN": "", **env}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode() + err.decode()
    assert proc.returncode == expect, f"exit {proc.returncode}, expected {expect}:\n{text}"
    return text


async def spawn_run(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    """`grassroots run ARGS` in the background (output discarded), for kill-and-restart tests."""
    return await asyncio.create_subprocess_exec(
        *grassroots(),
        "run",
        *args,
        env=clock_env(env),
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def stop_run(proc: asyncio.subprocess.Process) -> None:
    """Stop a running `grassroots run` as Ctrl+C would (SIGTERM); kill it if it hangs."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
