"""Digest benchmark: the daily digest's figures over 1,000,000 synthetic reports on SQLite,
against the same figures computed by hand-written SQL on the same database in the same run.

    uv run python bench/digest.py            # 1,000,000 reports (about a minute to seed)
    uv run python bench/digest.py --rows 100000

Targets (#16 §3): the digest takes at most 1 s, and at most 1.2x the hand-written SQL (the same
figures, hidden-reporter counts included, one query each).
The chart is drawn and timed separately: it is matplotlib, not the database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import Core, build_core, seed_demo  # noqa: E402
from bot.config import Settings  # noqa: E402
from reports.digest import draw_chart, render  # noqa: E402
from storage.digests import collect  # noqa: E402

CATEGORIES = ["ideology", "workplace", "discipline", "policy", "enterprise", "security", "other"]


def seed(db: Path, rows: int, now: datetime, days: int = 365) -> None:
    """Synthetic reports over the `days` before `now`, written with plain sqlite3 for speed."""
    conn = sqlite3.connect(db)
    units = [r[0] for r in conn.execute("SELECT id FROM org_unit")]
    rng = random.Random(42)
    start = now - timedelta(days=days)
    span = (now - start).total_seconds()

    def batch(first: int, count: int):
        for i in range(first, first + count):
            created = start + timedelta(seconds=rng.random() * span)
            status = rng.choice(["new", "acknowledged", "assigned", "resolved", "closed", "closed"])
            ack = created + timedelta(hours=rng.random() * 48) if status != "new" else None
            res = (
                created + timedelta(hours=rng.random() * 240)
                if status in ("resolved", "closed")
                else None
            )
            due = created + timedelta(days=7) if status != "new" else None
            fmt = "%Y-%m-%d %H:%M:%S.%f"
            yield (
                i,
                f"PA-{i:07d}",
                rng.choice(units),
                rng.choice(CATEGORIES),
                "hot" if rng.random() < 0.05 else "normal",
                "…",
                "anonymous",
                status,
                "telegram",
                "vi",
                created.strftime(fmt),
                0,
                ack.strftime(fmt) if ack else None,
                res.strftime(fmt) if res else None,
                due.strftime(fmt) if due else None,
                "",
            )

    sql = (
        "INSERT INTO report (id, code, unit_id, category, urgency, description, anonymity, status,"
        " channel, locale, created_at, version, acknowledged_at, resolved_at, due_at, delivery_problem)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    step = 100_000
    for first in range(1, rows + 1, step):
        conn.executemany(sql, batch(first, min(step, rows + 1 - first)))
        conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def hand_written(db: Path, since: datetime, until: datetime) -> dict:
    """The same figures as the digest, as plain SQL: the baseline."""
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    a, b = since.strftime(fmt), until.strftime(fmt)
    conn = sqlite3.connect(db)
    out = {
        "category": conn.execute(
            "SELECT category, count(*), sum(CASE WHEN anonymity != 'named' THEN 1 ELSE 0 END) FROM report"
            " WHERE created_at >= ? AND created_at < ? GROUP BY category",
            (a, b),
        ).fetchall(),
        "urgency": conn.execute(
            "SELECT urgency, count(*) FROM report WHERE created_at >= ? AND created_at < ? GROUP BY urgency",
            (a, b),
        ).fetchall(),
        "host_kind": conn.execute(
            "SELECT u.host_kind, count(*), sum(CASE WHEN r.anonymity != 'named' THEN 1 ELSE 0 END)"
            " FROM report r JOIN org_unit u ON u.id = r.unit_id"
            " WHERE r.created_at >= ? AND r.created_at < ? GROUP BY u.host_kind",
            (a, b),
        ).fetchall(),
        "hot": conn.execute(
            "SELECT r.code, r.category, u.name, r.status FROM report r LEFT JOIN org_unit u ON u.id = r.unit_id"
            " WHERE r.created_at >= ? AND r.created_at < ? AND r.urgency = 'hot' ORDER BY r.id LIMIT 50",
            (a, b),
        ).fetchall(),
        "overdue": conn.execute(
            "SELECT code FROM report WHERE due_at >= ? AND due_at < ? AND status IN"
            " ('new','acknowledged','assigned','needs_info','reopened') ORDER BY due_at LIMIT 50",
            (a, b),
        ).fetchall(),
        "resolved": conn.execute(
            "SELECT count(*) FROM report WHERE resolved_at >= ? AND resolved_at < ?", (a, b)
        ).fetchone(),
        "open": conn.execute(
            "SELECT count(*) FROM report WHERE status IN ('new','acknowledged','assigned','needs_info','reopened')"
        ).fetchone(),
        "ack": conn.execute(
            "SELECT created_at, acknowledged_at FROM report WHERE acknowledged_at >= ? AND acknowledged_at < ?",
            (a, b),
        ).fetchall(),
        "res": conn.execute(
            "SELECT created_at, resolved_at FROM report WHERE resolved_at >= ? AND resolved_at < ?",
            (a, b),
        ).fetchall(),
        "daily": conn.execute(
            "SELECT date(created_at, '+7 hours') AS day, category, count(*), sum(CASE WHEN anonymity != 'named' THEN 1 ELSE 0 END) FROM report"
            " WHERE created_at >= ? AND created_at < ? GROUP BY day, category",
            ((until - timedelta(days=14)).strftime(fmt), b),
        ).fetchall(),
        "daily_resolved": conn.execute(
            "SELECT date(resolved_at, '+7 hours') AS day, count(*) FROM report"
            " WHERE resolved_at >= ? AND resolved_at < ? GROUP BY day",
            ((until - timedelta(days=14)).strftime(fmt), b),
        ).fetchall(),
    }
    conn.close()
    return out


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


async def seeded_core(
    tmp_path: Path, rows: int, now: datetime, days: int = 365
) -> tuple[Core, Path]:
    """The core on a fresh SQLite database with the demo organisation and `rows` reports."""
    db = tmp_path / "bench.db"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{db}",
        data_dir=tmp_path,
        attachments_dir=tmp_path / "att",
        telegram_bot_token="",
    )
    core = await build_core(settings)
    await seed_demo(core)
    t0 = time.perf_counter()
    await asyncio.to_thread(seed, db, rows, now, days)
    print(f"seeded {rows:,} reports in {time.perf_counter() - t0:.1f} s")
    return core, db


async def main(rows: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        now = datetime.now(UTC)
        core, db = await seeded_core(tmp_path, rows, now)
        settings = core.settings
        since, until = now - timedelta(days=1), now
        t = core.translations(None)

        async def digest_once() -> str:
            async with core.sessions() as session:
                data = await collect(session, since, until, settings.tz)
            return render(t, core.catalog, data, settings.tz)

        await digest_once()  # warm-up
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            text = await digest_once()
            runs.append(time.perf_counter() - t0)
        ours = min(runs)
        base = best_of(5, lambda: hand_written(db, since, until))
        async with core.sessions() as session:
            data = await collect(session, since, until, settings.tz)
        t0 = time.perf_counter()
        draw_chart(t, core.catalog, data, tmp_path / "chart.png")
        chart = time.perf_counter() - t0
        await core.close()
    ratio = ours / base if base else float("inf")
    ok = ours <= 1.0 and ratio <= 1.2
    print(
        f"digest: {ours * 1000:.0f} ms (median of runs {statistics.median(runs) * 1000:.0f} ms), "
        f"hand-written SQL {base * 1000:.0f} ms, ratio {ratio:.2f} "
        f"(targets <= 1000 ms and <= 1.20) {'PASS' if ok else 'FAIL'}"
    )
    print(
        f"chart (matplotlib, not part of the target): {chart * 1000:.0f} ms; digest is {len(text)} characters"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    sys.exit(asyncio.run(main(parser.parse_args().rows)))
