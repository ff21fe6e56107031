"""The digest benchmark (bench/digest.py) on PostgreSQL: the same synthetic reports, copied from
the SQLite seed into a scratch PostgreSQL database, the digest's figures against the same figures
by hand-written SQL (asyncpg, no ORM), one query each, in the same run.

    uv run python bench/digest_pg.py               # 1,000,000 reports
    uv run python bench/digest_pg.py --rows 100000

TEST_POSTGRES_URL names a server where the role may create databases. Target: ≤ 1.2x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.digest import seeded_core  # noqa: E402
from storage.db import create_engine, session_factory  # noqa: E402
from storage.digests import collect  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

PG_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://grassroots:grassroots@127.0.0.1:5432/postgres"
)
COLUMNS = (
    "id, code, unit_id, category, urgency, description, anonymity, status, channel, locale,"
    " created_at, version, acknowledged_at, resolved_at, due_at, delivery_problem"
)
TIMES = (10, 12, 13, 14)  # the positions of the timestamps in COLUMNS
OPEN = "('acknowledged','assigned','needs_info','new','reopened')"
HIDDEN = "sum(CASE WHEN anonymity != 'named' THEN 1 ELSE 0 END)"


def _aware(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


async def copy(sqlite_db: Path, conn: asyncpg.Connection) -> None:
    lite = sqlite3.connect(sqlite_db)
    units = lite.execute("SELECT * FROM org_unit").fetchall()
    names = [d[0] for d in lite.execute("SELECT * FROM org_unit").description]
    await conn.copy_records_to_table("org_unit", records=units, columns=names)
    cursor = lite.execute(f"SELECT {COLUMNS} FROM report")
    while batch := cursor.fetchmany(100_000):
        records = [
            tuple(_aware(v) if i in TIMES else v for i, v in enumerate(row)) for row in batch
        ]
        await conn.copy_records_to_table(
            "report", records=records, columns=[c.strip() for c in COLUMNS.split(",")]
        )
    lite.close()
    await conn.execute("ANALYZE")


async def hand_written(conn: asyncpg.Connection, a: datetime, b: datetime) -> None:
    """The digest's figures, one hand-written query each."""
    w = "created_at >= $1 AND created_at < $2"
    day = "(created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
    for sql, args in [
        (f"SELECT category, count(*), {HIDDEN} FROM report WHERE {w} GROUP BY category", (a, b)),
        (f"SELECT urgency, count(*) FROM report WHERE {w} GROUP BY urgency", (a, b)),
        (
            f"SELECT u.host_kind, count(*), {HIDDEN} FROM report r JOIN org_unit u ON u.id ="
            f" r.unit_id WHERE r.{w} GROUP BY u.host_kind",
            (a, b),
        ),
        (
            "SELECT r.code, r.category, u.name, r.status FROM report r LEFT JOIN org_unit u ON"
            f" u.id = r.unit_id WHERE r.{w} AND r.urgency = 'hot' ORDER BY r.id LIMIT 50",
            (a, b),
        ),
        (
            "SELECT code FROM report WHERE due_at >= $1 AND due_at < $2 AND status IN"
            f" {OPEN} ORDER BY due_at LIMIT 50",
            (a, b),
        ),
        ("SELECT count(*) FROM report WHERE resolved_at >= $1 AND resolved_at < $2", (a, b)),
        (f"SELECT count(*) FROM report WHERE status IN {OPEN}", ()),
        (
            "SELECT created_at, acknowledged_at FROM report WHERE acknowledged_at >= $1 AND"
            " acknowledged_at < $2",
            (a, b),
        ),
        (
            "SELECT created_at, resolved_at FROM report WHERE resolved_at >= $1 AND"
            " resolved_at < $2",
            (a, b),
        ),
        (
            f"SELECT {day} AS day, category, count(*), {HIDDEN} FROM report WHERE {w}"
            " GROUP BY day, category",
            (b - timedelta(days=14), b),
        ),
        (
            "SELECT (resolved_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day, count(*) FROM"
            " report WHERE resolved_at >= $1 AND resolved_at < $2 GROUP BY day",
            (b - timedelta(days=14), b),
        ),
    ]:
        await conn.fetch(sql, *args)


async def best(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return min(times)


async def main(rows: int) -> int:
    now = datetime.now(UTC)
    admin = await asyncpg.connect(PG_URL.replace("+asyncpg", ""))
    name = f"gr_bench_digest_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await upgrade(url)
        with tempfile.TemporaryDirectory() as tmp:
            core, db = await seeded_core(Path(tmp), rows, now)
            tz = core.settings.tz
            await core.close()
            conn = await asyncpg.connect(url.replace("+asyncpg", ""))
            t0 = time.perf_counter()
            await copy(db, conn)
            print(f"copied into PostgreSQL in {time.perf_counter() - t0:.1f} s")
        engine = create_engine(url)
        sessions = session_factory(engine)
        since, until = now - timedelta(days=1), now

        async def ours() -> None:
            async with sessions() as session:
                await collect(session, since, until, tz)

        await ours()  # warm-up
        mine = await best(ours)
        base = await best(lambda: hand_written(conn, since, until))
        await conn.close()
        await engine.dispose()
    finally:
        for attempt in range(20):  # an autovacuum worker (not ours to end) may still be in it
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except asyncpg.InsufficientPrivilegeError:
                await asyncio.sleep(0.5 * (attempt + 1))
        await admin.close()
    ratio = mine / base if base else float("inf")
    ok = mine <= 1.0 and ratio <= 1.2
    print(
        f"PostgreSQL digest: {mine * 1000:.0f} ms, hand-written SQL {base * 1000:.0f} ms, ratio "
        f"{ratio:.2f} (targets <= 1000 ms and <= 1.20) {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    sys.exit(asyncio.run(main(parser.parse_args().rows)))
