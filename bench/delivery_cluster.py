"""Delivery across instances: one delivery leader, or a budget shared through the database?

Not a test: a measurement behind the choice written up in docs/architecture.md ("Several
instances"). On a fresh PostgreSQL database it measures

1. **one delivery leader**: the real delivery worker (scheduler/delivery.py) with Telegram's
   limits (30/s per token, 1/s per chat, 20/min per group) sending a poll's worth of invitations,
   a busy private chat and a busy group through a sender that takes a network round trip: the
   rate it reaches against the limit, the worst one-second, per-chat and per-group-minute counts,
   and the CPU it spends per message;
2. **a shared budget**: what every send would cost if each instance took its token from a
   token bucket row in PostgreSQL instead: the latency of one take with two instances taking
   at once, and how many takes per second that row can serve.

    uv run python bench/delivery_cluster.py [--invitations 600] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench.common import percentile
from scheduler.delivery import DEFAULT_LIMITS, DeliveryWorker
from storage import outbox
from storage.db import create_engine, session_factory
from storage.migrate import upgrade

ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://grassroots:grassroots@127.0.0.1:5432/postgres"
)
ROUND_TRIP = 0.03  # seconds the messenger takes to answer a send
BUSY_CHAT, BUSY_GROUP = "555", "-100777"


class Recorder:
    """A sender that answers after a round trip and remembers when each send left."""

    def __init__(self, expected: int) -> None:
        self.sent: list[tuple[float, str]] = []
        self.expected = expected
        self.done = asyncio.Event()

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        self.sent.append((time.monotonic(), chat_id))
        if len(self.sent) >= self.expected:
            self.done.set()
        await asyncio.sleep(ROUND_TRIP)
        return str(len(self.sent))


def worst_window(times: list[float], width: float) -> int:
    """The most sends in any `width`-second window."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


async def fresh_database() -> tuple[str, str]:
    name = f"bench_delivery_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(ADMIN_URL.replace("+asyncpg", ""))
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name, ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL.replace("+asyncpg", ""))
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def one_leader(url: str, invitations: int) -> dict[str, float]:
    """The delivery worker alone, as the leader runs it."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    rows = [
        (f"inv:{i}", "telegram", str(1_000_000 + i), {"text": "poll"}) for i in range(invitations)
    ]
    rows += [(f"busy:{i}", "telegram", BUSY_CHAT, {"text": f"#{i}"}) for i in range(10)]
    rows += [(f"group:{i}", "telegram", BUSY_GROUP, {"text": f"#{i}"}) for i in range(4)]
    async with sessions() as session, session.begin():
        await outbox.enqueue_many(session, rows)
    sender = Recorder(len(rows))
    worker = DeliveryWorker(sessions, {"telegram": sender}, None, DEFAULT_LIMITS)
    cpu, wall = time.process_time(), time.monotonic()
    task = asyncio.create_task(worker.run(idle_seconds=0.2))
    await sender.done.wait()
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    worker.stop()
    await task
    await engine.dispose()
    times = [t for t, _ in sender.sent]
    private = [t for t, chat in sender.sent if chat == BUSY_CHAT]
    group = [t for t, chat in sender.sent if chat == BUSY_GROUP]
    bulk = [t for t, chat in sender.sent if chat not in (BUSY_CHAT, BUSY_GROUP)]
    return {
        "messages": len(times),
        "rate": (len(bulk) - 1) / (bulk[-1] - bulk[0]),
        "worst_second": worst_window(times, 1.0),
        "busy_chat_min_gap": min(b - a for a, b in itertools.pairwise(private)),
        "group_min_gap": min(b - a for a, b in itertools.pairwise(group)),
        "cpu_ms_per_message": 1000 * cpu / len(times),
        "cpu_share": cpu / wall,
    }


BUCKET = """
CREATE TABLE budget (key text PRIMARY KEY, tokens float8 NOT NULL, stamp timestamptz NOT NULL);
INSERT INTO budget VALUES ('telegram', 30, clock_timestamp());
"""
TAKE = """
UPDATE budget SET
  tokens = LEAST(30, tokens + extract(epoch FROM clock_timestamp() - stamp) * $1) - 1,
  stamp = clock_timestamp()
WHERE key = 'telegram'
  AND LEAST(30, tokens + extract(epoch FROM clock_timestamp() - stamp) * $1) >= 1
RETURNING tokens
"""


async def shared_budget(url: str, seconds: float = 5.0) -> dict[str, float]:
    """Two instances taking tokens from one bucket row as fast as it lets them: each take's
    latency (the cost every send would carry) and the takes per second the row serves."""
    dsn = url.replace("+asyncpg", "")
    setup = await asyncpg.connect(dsn)
    await setup.execute(BUCKET)
    await setup.close()
    conns = [await asyncpg.connect(dsn) for _ in range(2)]
    latencies: list[float] = []
    taken = collections.Counter[str]()

    async def instance(conn: asyncpg.Connection, name: str, rate: float) -> None:
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            started = time.monotonic()
            got = await conn.fetchval(TAKE, rate)
            latencies.append(time.monotonic() - started)
            if got is not None:
                taken[name] += 1

    cpu = time.process_time()
    # A rate far above Telegram's, to see what the row itself can serve.
    await asyncio.gather(*(instance(c, f"i{n}", 1_000_000) for n, c in enumerate(conns)))
    cpu = time.process_time() - cpu
    for conn in conns:
        await conn.close()
    return {
        "takes_per_second": sum(taken.values()) / seconds,
        "take_p50_ms": 1000 * percentile(latencies, 0.5),
        "take_p95_ms": 1000 * percentile(latencies, 0.95),
        "client_cpu_ms_per_take": 1000 * cpu / max(1, len(latencies)),
    }


async def main() -> None:
    global ADMIN_URL
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=600)
    parser.add_argument("--postgres", default=ADMIN_URL, help="an admin URL (CREATE DATABASE)")
    args = parser.parse_args()
    ADMIN_URL = args.postgres
    name, url = await fresh_database()
    try:
        await upgrade(url)
        leader = await one_leader(url, args.invitations)
        budget = await shared_budget(url)
    finally:
        await drop_database(name)
    limit = DEFAULT_LIMITS["telegram"]
    print(
        f"One delivery leader, Telegram limits {limit.per_second:g}/s per token, "
        f"{limit.per_chat_per_second:g}/s per chat, {limit.per_group_per_minute:g}/min per group:"
    )
    print(
        f"  {leader['messages']:.0f} messages at {leader['rate']:.1f}/s "
        f"({leader['rate'] / limit.per_second:.0%} of the limit); worst second "
        f"{leader['worst_second']:.0f}; busy chat's closest two {leader['busy_chat_min_gap']:.2f} s "
        f"apart; busy group's closest two {leader['group_min_gap']:.2f} s apart"
    )
    print(
        f"  CPU {leader['cpu_ms_per_message']:.2f} ms per message, "
        f"{leader['cpu_share']:.1%} of one core at the limit"
    )
    print("A token bucket row in PostgreSQL, two instances taking at once:")
    print(
        f"  {budget['takes_per_second']:.0f} takes/s; one take {budget['take_p50_ms']:.2f} ms "
        f"p50, {budget['take_p95_ms']:.2f} ms p95; client CPU {budget['client_cpu_ms_per_take']:.2f} ms "
        f"per take (plus PostgreSQL's), a write per send and per chat bucket"
    )


if __name__ == "__main__":
    asyncio.run(main())
