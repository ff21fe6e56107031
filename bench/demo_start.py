"""Demo start-up benchmark: the time from `uv run grassroots run --demo` on a fresh database to
/healthz answering, several runs, each in a new temporary folder (#14 §3: within 20 s).

    uv run python bench/demo_start.py                        # 3 runs of the demo (its history)
    uv run python bench/demo_start.py --now 2026-06-12T03:00 # on that day (its longest history)
    uv run python bench/demo_start.py --empty --runs 5       # `run --demo --empty`

`--now` starts the command on a clock set to that moment (UTC), through tests/clocked.py: the
history's length depends on the day of the month (bot/demo.py).

Prints each run and the median. The first line the demo prints after seeding ("Demo
organisation loaded…") is timed too, to tell seeding from the rest of start-up, and so is the
CPU the run used (uv, the server, to its stop): on a machine shared with other work, wall time
says more about the machine than about the demo.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def one_start(flags: list[str], now: str | None) -> tuple[float, float]:
    """Seconds to the seeding summary line and to /healthz answering."""
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite+aiosqlite:///{folder}/gr.db",
            "ATTACHMENTS_DIR": f"{folder}/att",
            "DATA_DIR": folder,
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(port),
            "TELEGRAM_BOT_TOKEN": "",
            "ZALO_BOT_TOKEN": "",
        }
        command = ["uv", "run", "grassroots"]
        if now:
            command = ["uv", "run", "python", "-m", "tests.clocked"]
            env["GRASSROOTS_TEST_NOW"] = f"{now}+00:00"
        began = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *command, "run", "--demo", *flags,
            env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        seeded = 0.0
        try:
            assert proc.stdout is not None
            async with aiohttp.ClientSession() as http:
                while True:
                    if proc.returncode is not None:
                        raise SystemExit("the demo stopped before serving")
                    try:
                        line = await asyncio.wait_for(proc.stdout.readline(), 0.05)
                        if b"Demo organisation loaded" in line:
                            seeded = time.monotonic() - began
                    except TimeoutError:
                        pass
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                            if resp.status == 200:
                                return seeded, time.monotonic() - began
                    except aiohttp.ClientError:
                        pass
        finally:
            proc.terminate()
            await proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--empty", action="store_true", help="time `run --demo --empty`")
    parser.add_argument("--now", help="the moment the demo starts at, UTC: 2026-06-12T03:00")
    args = parser.parse_args()
    flags = ["--empty"] if args.empty else []
    served = []
    for n in range(args.runs):
        cpu = children_cpu()
        seeded, up = await one_start(flags, args.now)
        served.append(up)
        cpu = children_cpu() - cpu
        print(
            f"run {n + 1}: seeded at {seeded:.1f} s, /healthz answered at {up:.1f} s, "
            f"{cpu:.1f} s of CPU",
            flush=True,
        )
    print(f"median {statistics.median(served):.1f} s, max {max(served):.1f} s (target: 20 s)")


if __name__ == "__main__":
    asyncio.run(main())
