"""Broadcast benchmark: 5,000 outbox messages to distinct chats through the real delivery worker
and Telegram adapter, against a fake Bot API server (its own process) that enforces a global
flood limit, scaled up so the run stays short.

    uv run python bench/broadcast.py                 # 5,000 messages at 500/s
    uv run python bench/broadcast.py --messages 1000 --limit 200

Target: the achieved rate is at least 95% of the allowed rate, with no 429 provoked, nothing
lost and nothing sent twice. It prints the achieved rate as a ratio of the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bot.app import build_core  # noqa: E402
from bot.channels.context import ChannelContext  # noqa: E402
from bot.channels.telegram import TelegramChannel, build_application  # noqa: E402
from bot.config import Settings  # noqa: E402
from storage.models import OutboxMessage  # noqa: E402
from storage.outbox import counts, enqueue  # noqa: E402


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / tick, sum(values) / tick


def fetch(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as resp:  # a benchmark's own local server
        return json.loads(resp.read())["result"]


async def main(messages: int, limit: float, profile: str | None = None) -> int:
    fake = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fake_telegram",
        "--port",
        "0",
        "--rate-limit",
        str(limit),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert fake.stdout is not None
    url = (await fake.stdout.readline()).decode().strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'b.db'}",
                attachments_dir=Path(tmp) / "att",
                telegram_bot_token="123:BENCH",
                telegram_api_url=url,
                telegram_rate_per_second=limit,
            )
            core = await build_core(settings)
            app = build_application(settings.telegram_bot_token, url, 16)
            context = ChannelContext(
                core.dispatcher, core.translations, settings.attachments_dir, 10**6
            )
            channel = TelegramChannel(app, context)
            await app.initialize()
            core.senders["telegram"] = channel
            async with core.sessions() as session, session.begin():
                for i in range(messages):
                    chat = str(10_000_000 + i)
                    await enqueue(session, f"b:{i}", "telegram", chat, {"text": f"Bản tin số {i}"})
            assert core.delivery is not None
            profiler = cProfile.Profile() if profile else None
            if profiler is not None:
                profiler.enable()
            start = time.perf_counter()
            loop_start, worker_start = time.thread_time(), time.process_time()
            fake_start, (busy_start, total_start) = process_cpu(fake.pid), machine_busy()
            while True:
                await core.delivery.run_once()
                async with core.sessions() as session:
                    unsent = await counts(session)
                if not unsent.get("pending") and not unsent.get("sending"):
                    break
            elapsed = time.perf_counter() - start
            loop_cpu = time.thread_time() - loop_start
            worker_cpu = time.process_time() - worker_start
            fake_cpu = process_cpu(fake.pid) - fake_start
            busy, total = (
                a - b for a, b in zip(machine_busy(), (busy_start, total_start), strict=True)
            )
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            async with core.sessions() as session:
                sent = (
                    await session.execute(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.status == "sent")
                    )
                ).scalar_one()
            await app.shutdown()
            await core.close()
        calls = fetch(f"{url}/_control/calls")
        recorded = fetch(f"{url}/_control/sent")
    finally:
        fake.terminate()
        await fake.wait()
    assert isinstance(calls, dict) and isinstance(recorded, list)
    chats = [str(m.get("chat_id")) for m in recorded if m.get("method") == "sendMessage"]
    duplicates = len(chats) - len(set(chats))
    lost = messages - len(set(chats))
    throttled = int(calls.get("429", 0))
    rate = messages / elapsed
    ratio = rate / limit
    ok = ratio >= 0.95 and throttled == 0 and lost == 0 and duplicates == 0 and sent == messages
    print(
        f"broadcast: {messages} messages in {elapsed:.2f} s = {rate:.0f}/s against a limit of "
        f"{limit:.0f}/s, ratio {ratio:.3f} (target >= 0.95); 429s {throttled}, lost {lost}, "
        f"duplicated {duplicates} {'PASS' if ok else 'FAIL'}"
    )
    per = 1000 / messages
    print(
        f"CPU per message: worker {worker_cpu * per:.2f} ms (event loop {loop_cpu * per:.2f} ms), "
        f"fake server {fake_cpu * per:.2f} ms; the machine ({os.cpu_count()} CPUs) was "
        f"{100 * busy / max(total, 1e-9):.0f}% busy during the run"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--limit", type=float, default=500)
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the timed run")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.messages, args.limit, args.profile)))
