"""Which way of holding one person across instances is faster on PostgreSQL (not a test).

`uv run python bench/person_lock.py [--members 200] [--steps 20]`

Two Dispatchers on one PostgreSQL database stand for two instances (each has its own
in-process locks, so only the database keeps a person's events apart). Every member sends
`--steps` events, two at a time, one to each "instance", so every pair contends for the same
person. Measured for both modes of `storage.conversations.hold_person`:

- "advisory": `pg_advisory_xact_lock(hashtextextended(person))` first in the transaction;
- "row": the conversation row read `FOR UPDATE`.

Also measured without contention (one event at a time per member), which is the common case.
Prints events/s and p50/p95 latency per mode. Needs TEST_POSTGRES_URL (or the default local
role) with CREATEDB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    make_settings,
    percentile,
    register_members,
    scratch_dir,
    setup_logging,
)

PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://grassroots:grassroots@127.0.0.1:5432/postgres"
)
FIRST_MEMBER = 820_000_000


@contextlib.asynccontextmanager
async def fresh_database(prefix: str = "gr_bench") -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one run, dropped afterwards; yields its URL."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = PG_ADMIN_URL.replace("+asyncpg", "")
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        conn = await asyncpg.connect(admin)
        with contextlib.suppress(Exception):
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def inbound(uid: int, n: int, text: str) -> Any:
    from handlers.types import Inbound

    return Inbound(
        channel="telegram",
        update_key=f"bench:{uid}:{n}",
        user_id=str(uid),
        chat_id=str(uid),
        text=text,
    )


async def run_mode(mode: str, members: int, steps: int, pairs: bool) -> dict[str, float]:
    from bot.app import build_core, seed_demo
    from bot.dispatcher import Dispatcher

    async with fresh_database() as url:
        with scratch_dir("grassroots-bench-lock-") as workdir:
            core = await build_core(make_settings(workdir, database_url=url))
            try:
                await seed_demo(core)
                ids = [FIRST_MEMBER + i for i in range(members)]
                await register_members(core, ids)
                base = core.dispatcher
                instances = [
                    Dispatcher(
                        base.sessions,
                        base.engine,
                        base.translations,
                        base.effects,
                        person_lock=mode,
                    )  # type: ignore[arg-type]
                    for _ in range(2)
                ]
                latencies: list[float] = []

                async def one(d: Any, uid: int, n: int) -> None:
                    text = "/report" if n % 2 == 0 else "/cancel"
                    started = time.perf_counter()
                    await d.handle(inbound(uid, n, text))
                    latencies.append(time.perf_counter() - started)

                async def member(uid: int) -> None:
                    n = 0
                    while n < steps:
                        if pairs:  # two events of one person at once, on two instances
                            await asyncio.gather(
                                one(instances[0], uid, n), one(instances[1], uid, n + 1)
                            )
                            n += 2
                        else:
                            await one(instances[n % 2], uid, n)
                            n += 1

                started = time.perf_counter()
                await asyncio.gather(*(member(uid) for uid in ids))
                seconds = time.perf_counter() - started
            finally:
                await core.close()
    return {
        "events_per_s": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
    }


async def raw_costs(events: int) -> dict[str, float]:
    """Milliseconds per event transaction without the engine (a person's lock, the claim, the
    state read and write, commit), one after another: what each way of holding costs in
    itself, and what the flood check's upsert adds, free of the machine's other load."""
    from datetime import timedelta

    from bot.app import build_core
    from storage import ratelimit
    from storage.conversations import (
        claim_update,
        hold_person,
        load_conversation,
        save_conversation,
    )

    costs: dict[str, float] = {}
    async with fresh_database() as url:
        with scratch_dir("grassroots-bench-lock-") as workdir:
            core = await build_core(make_settings(workdir, database_url=url))
            try:
                for label, mode, flood in (  # alternated, twice: the machine's load drifts
                    ("advisory, 1st", "advisory", False),
                    ("row, 1st", "row", False),
                    ("advisory + flood upsert, 1st", "advisory", True),
                    ("advisory, 2nd", "advisory", False),
                    ("row, 2nd", "row", False),
                    ("advisory + flood upsert, 2nd", "advisory", True),
                ):
                    started = time.perf_counter()
                    for n in range(events):
                        user = str(FIRST_MEMBER + n % 50)
                        async with core.sessions() as session, session.begin():
                            await hold_person(session, "telegram", user, mode)  # type: ignore[arg-type]
                            if flood:
                                await ratelimit.bump(
                                    session, f"flood:telegram:{user}", timedelta(seconds=10)
                                )
                            await claim_update(session, "telegram", f"{label}:{n}")
                            row, state = await load_conversation(
                                session, "telegram", user, for_update=mode == "row"
                            )
                            await save_conversation(
                                session, row, "telegram", user, user, {**state, "n": n}
                            )
                    costs[label] = (time.perf_counter() - started) * 1000 / events
            finally:
                await core.close()
    return costs


async def main_async(args: argparse.Namespace) -> None:
    for label, ms in (await raw_costs(args.raw)).items():
        print(f"one event's transaction, sequential, {label:30} {ms:6.2f} ms", flush=True)
    if args.raw_only:
        return
    for pairs in (False, True):
        label = "contended pairs" if pairs else "one at a time"
        for mode in ("advisory", "row", "advisory", "row"):  # twice each: the first warms up
            r = await run_mode(mode, args.members, args.steps, pairs)
            print(
                f"{label:16} {mode:9} {r['events_per_s']:7.1f} events/s   "
                f"p50 {r['p50_ms']:6.1f} ms   p95 {r['p95_ms']:6.1f} ms",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--raw", type=int, default=2000, help="events per raw measurement")
    parser.add_argument("--raw-only", action="store_true", help="only the raw measurement")
    setup_logging()
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
