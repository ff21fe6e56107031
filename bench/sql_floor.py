"""The floor of a flow step's durable SQL on this machine: the statements every step makes
(inbox DELETE, rate-window upsert, deduplication INSERT, person and conversation SELECTs,
conversation UPDATE, COMMIT; SQLite WAL, synchronous=NORMAL), run three ways:

- **raw**: bare aiosqlite, one trip to its thread per statement, SQL text written by hand;
- **storage**: the product's own functions as the dispatcher calls them (storage/event_start.py
  `start_event`: the first four in one trip; `end_event`: the UPDATE and the COMMIT in one),
  through SQLAlchemy's session and the one-trip driver;
- **storage, stock driver**: the same functions with SQLAlchemy's own aiosqlite cursor (one
  statement at a time, 3–4 trips each).

`--members` people take `--steps` steps each, 16 at a time, one writer at a time as in the
dispatcher. Prints CPU per step (the event loop's thread, and the whole process with the
database thread). Compare with bench/intake.py's CPU per step of the flow and of A:
the flow's minus A's is what our side of a step costs; this is what its SQL alone costs.

    uv run python bench/sql_floor.py                 # 200 members x 8 steps, each way twice
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `bench` is not an installed package

import aiosqlite  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from bench.common import scratch_dir  # noqa: E402
from storage.db import _sqlite_pragmas, create_engine, session_factory  # noqa: E402
from storage.event_start import EventKeys, end_event, start_event  # noqa: E402
from storage.models import Conversation, Identity, Person  # noqa: E402

CHANNEL = "telegram"
WINDOW = timedelta(seconds=10)
Step = Callable[[int, int], Awaitable[None]]


def state_of(member: int, step: int) -> dict[str, Any]:
    """A report draft about the size of the flow's (a few hundred bytes of JSON)."""
    answers = {f"q{i}": f"answer {i} of member {member}" for i in range(step)}
    return {"flow": "report", "step": step, "answers": answers, "prompt_id": 1000 + step}


async def seed(url: str, members: int) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        for m in range(members):
            person = Person(display_name=f"Member {m}", role="member", locale="vi")
            session.add(person)
            await session.flush()
            assert person.id is not None
            session.add(Identity(person_id=person.id, channel=CHANNEL, external_id=str(m)))
            session.add(Conversation(channel=CHANNEL, user_id=str(m), chat_id=str(m), state={}))
    await engine.dispose()


RAW_STEP = [
    ("DELETE FROM inbox WHERE channel = ? AND update_key = ?", "key"),
    (
        "INSERT INTO rate_window (key, started_ms, hits, expires_ms) VALUES (?, ?, 1, ?) "
        "ON CONFLICT (key) DO UPDATE SET hits = CASE WHEN rate_window.started_ms <= ? THEN 1 "
        "ELSE rate_window.hits + 1 END RETURNING hits",
        "window",
    ),
    (
        "INSERT INTO inbound_update (channel, update_key, received_at) VALUES (?, ?, ?) "
        "ON CONFLICT (channel, update_key) DO NOTHING",
        "claim",
    ),
    (
        "SELECT person.id, person.display_name, person.role, person.locale, person.last_channel "
        "FROM person JOIN identity ON identity.person_id = person.id "
        "WHERE identity.channel = ? AND identity.external_id = ?",
        "who",
    ),
    ("SELECT id, version, state FROM conversation WHERE channel = ? AND user_id = ?", "who"),
]


async def raw_way(path: Path) -> tuple[Step, Callable[[], Awaitable[None]]]:
    conn = await aiosqlite.connect(path)  # BEGIN comes with the first write, as in the product
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        await conn.execute(f"PRAGMA {pragma}")
    writer = asyncio.Lock()

    async def step(member: int, n: int) -> None:
        key, now = f"{member}:{n}", int(time.time() * 1000)
        args = {
            "key": (CHANNEL, key),
            "window": (f"flood:{member}", now, now + 10_000, now - 10_000),
            "claim": (CHANNEL, key, time.time()),
            "who": (CHANNEL, str(member)),
        }
        async with writer:
            rows: list[Any] = []
            for sql, kind in RAW_STEP:  # one trip each
                rows = list(await conn.execute_fetchall(sql, args[kind]))
            row_id, version, state = rows[0]
            state = json.loads(state)
            state.update(state_of(member, n))
            await conn.execute_fetchall(
                "UPDATE conversation SET state = ?, version = ? WHERE id = ? AND version = ?",
                (json.dumps(state), version + 1, row_id, version),
            )
            await conn.commit()

    return step, conn.close


async def storage_way(url: str, stock: bool) -> tuple[Step, Callable[[], Awaitable[None]]]:
    if stock:  # SQLAlchemy's own aiosqlite cursor, as before the one-trip driver
        from sqlalchemy import event  # only for this comparison

        engine = create_async_engine(url, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url)
    sessions = session_factory(engine)
    writer = asyncio.Lock()

    async def step(member: int, n: int) -> None:
        who = str(member)
        event = EventKeys(CHANNEL, f"{member}:{n}", who, f"flood:{member}", WINDOW, 30)
        async with writer, sessions() as session, session.begin():
            start = await start_event(session, event)
            state = {**start.state, **state_of(member, n)}
            await end_event(session, start.row, (CHANNEL, who, who), state, start.trip)

    return step, engine.dispose


async def measure(name: str, step: Step, members: int, steps: int) -> None:
    queue = [(m, n) for n in range(steps) for m in range(members)]
    gate = asyncio.Semaphore(16)

    async def one(m: int, n: int) -> None:
        async with gate:
            await step(m, n)

    loop_cpu, cpu, wall = time.thread_time(), time.process_time(), time.perf_counter()
    for n in range(steps):  # each member's steps in order, members at once
        await asyncio.gather(*(one(m, k) for m, k in queue if k == n))
    total = members * steps
    loop_cpu, cpu = time.thread_time() - loop_cpu, time.process_time() - cpu
    print(
        f"  {name}: {1000 * cpu / total:.2f} ms CPU/step ({1000 * loop_cpu / total:.2f} loop), "
        f"{total / (time.perf_counter() - wall):.0f} steps/s",
        flush=True,
    )


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"SQL floor of a flow step: {args.members} members x {args.steps} steps", flush=True)
    for r in range(args.rounds):
        for name in ("raw", "storage", "storage, stock driver"):
            with scratch_dir("grassroots-sql-floor-") as workdir:
                path = workdir / "floor.db"
                url = f"sqlite+aiosqlite:///{path}"
                await seed(url, args.members)
                if name == "raw":
                    step, close = await raw_way(path)
                else:
                    step, close = await storage_way(url, stock=name != "storage")
                await measure(f"round {r + 1} {name}", step, args.members, args.steps)
                await close()


if __name__ == "__main__":
    asyncio.run(main())
