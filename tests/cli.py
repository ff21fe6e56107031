"""Run the `grassroots` command as an operator would: in this process by default (the command's
behaviour, on the test's clock, without paying a second of imports per call), or in a real
subprocess where the process boundary is the point (`subprocess=True`, spawn_run)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# One in-process command at a time per test process: it owns os.environ, stdout and stderr.
_IN_PROCESS = threading.Lock()


def grassroots() -> list[str]:
    """The `grassroots` command as a subprocess argv, on the test's (frozen) clock."""
    return [sys.executable, "-m", "tests.clocked"]


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: ours) as the command sees it. DATA_DIR (where the seal key lives)
    defaults to the SQLite database's folder, as the tests' cores have it, so a server and the
    CLI run beside it find the same key."""
    base = dict(os.environ if env is None else env)
    url = base.get("DATABASE_URL", "")
    if "DATA_DIR" not in base and url.startswith("sqlite") and ":///" in url:
        base["DATA_DIR"] = str(Path(url.split(":///", 1)[1]).parent)
    return base


def clock_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """cli_env plus what a subprocess needs to share the test's clock and find our modules."""
    base = cli_env(env)
    path = base.get("PYTHONPATH")
    base["PYTHONPATH"] = f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)
    base["GRASSROOTS_TEST_NOW"] = datetime.now(UTC).isoformat()
    base.pop("PYTHONDONTWRITEBYTECODE", None)  # as tests/conftest.py: reuse compiled modules
    return base


async def cli_result(
    args: list[str], *, input: str = "", subprocess: bool = False, **env: str
) -> tuple[int, str]:
    """Exit code and output (stdout + stderr) of `grassroots ARGS`, `input` on its stdin."""
    full = {**os.environ, "TELEGRAM_BOT_TOKEN": "", **env}
    if subprocess:
        proc = await asyncio.create_subprocess_exec(
            *grassroots(),
            *args,
            env=clock_env(full),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(input.encode()), 60)
        return proc.returncode or 0, out.decode() + err.decode()
    # A thread of its own, as the command runs its own event loop (asyncio.run) while the
    # test's loop keeps serving the fakes the command may call. time_machine's clock is
    # process-wide, so the command sees the test's "now".
    return await asyncio.wait_for(
        asyncio.to_thread(_in_process, args, cli_env(full), input, threading.get_ident()), 60
    )


async def run_cli(args: list[str], expect: int = 0, *, subprocess: bool = False, **env: str) -> str:
    """Output (stdout + stderr) of `grassroots ARGS`; asserts the exit code."""
    code, text = await cli_result(args, subprocess=subprocess, **env)
    assert code == expect, f"exit {code}, expected {expect}:\n{text}"
    return text


def _in_process(
    args: list[str], env: dict[str, str], stdin: str, test_thread: int
) -> tuple[int, str]:
    """bot.cli.main(args) with `env` as the environment and its output captured, exiting as
    the process would: argparse's SystemExit, and an uncaught exception as a traceback and 1."""
    from bot.cli import main  # here: the CLI module, only for the tests that run it

    output = io.StringIO()
    with (
        _IN_PROCESS,
        _environment(env),
        _logging_to(output, test_thread),
        contextlib.redirect_stdout(output),
        contextlib.redirect_stderr(output),
        _stdin(stdin),
    ):
        try:
            code: object = main(args)
        except SystemExit as exc:
            code = exc.code
        except Exception:
            traceback.print_exc(file=output)
            code = 1
    if code is None:
        return 0, output.getvalue()
    if not isinstance(code, int):  # sys.exit("message") prints it and exits 1
        return 1, output.getvalue() + f"{code}\n"
    return code, output.getvalue()


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _stdin(text: str) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


@contextlib.contextmanager
def _logging_to(stream: io.StringIO, test_thread: int) -> Iterator[None]:
    """The command's log lines go to its output, as a subprocess's would (not the lines the
    test's own thread logs meanwhile); the levels and handlers it sets (configure_logging) are
    put back afterwards. Our handler also keeps basicConfig from adding one to stderr."""
    from bot.logs import QUIET  # here: as bot.cli

    root = logging.getLogger()
    saved_handlers = list(root.handlers)
    saved_levels = {name: logging.getLogger(name).level for name in ("", *QUIET)}
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(lambda record: record.thread != test_thread)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


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
