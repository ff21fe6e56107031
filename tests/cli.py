"""Run the real `grassroots` command in a subprocess, as an operator would."""

from __future__ import annotations

import asyncio
import os
import sys


async def run_cli(args: list[str], expect: int = 0, **env: str) -> str:
    """Output (stdout + stderr) of `grassroots ARGS`; asserts the exit code."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        env={**os.environ, "TELEGRAM_BOT_TOKEN": "", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode() + err.decode()
    assert proc.returncode == expect, f"exit {proc.returncode}, expected {expect}:\n{text}"
    return text
