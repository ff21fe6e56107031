"""Case list benchmark: pages of the web admin's case list over 1,000,000 synthetic reports on
SQLite, with and without filters, deep in the list as well as at its head.

    uv run python bench/admin_cases.py              # 1,000,000 reports (about a minute to seed)
    uv run python bench/admin_cases.py --rows 200000

The baseline, in the same run: the same page fetched the naive way, with OFFSET, at the same
depth. Target: every keyset page takes at most 100 ms, except a text search for a word no report
contains, which scans the descriptions (reported, no target).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.digest import seeded_core  # noqa: E402
from storage.casequery import CaseFilter, case_page  # noqa: E402

TARGET_MS = 100


async def main(rows: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        now = datetime.now(UTC)
        core, db = await seeded_core(Path(tmp), rows, now)
        deep = rows // 2
        cases = {
            "first page": (CaseFilter(), None),
            f"page below id {deep:,}": (CaseFilter(), deep),
            "category": (CaseFilter(category="security"), None),
            "category, deep": (CaseFilter(category="security"), deep),
            "hot and open": (CaseFilter(urgency="hot", status="new"), None),
            "overdue": (CaseFilter(overdue=True), None),
            "one unit": (CaseFilter(unit="U007"), None),
            "last 7 days": (CaseFilter(since=now - timedelta(days=7)), None),
            "code search": (CaseFilter(text="PA-0123456"), None),
        }
        ok = True
        for name, (flt, before) in cases.items():
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                async with core.sessions() as session:
                    page, _next = await case_page(session, flt, now, before, 50)
                times.append(time.perf_counter() - t0)
            ms = min(times) * 1000
            passed = ms <= TARGET_MS
            ok = ok and passed
            print(f"{name}: {len(page)} rows in {ms:.1f} ms {'PASS' if passed else 'FAIL'}")
        t0 = time.perf_counter()
        async with core.sessions() as session:
            page, _next = await case_page(session, CaseFilter(text="zzzz"), now, None, 50)
        print(
            f"text search with no match (full scan, no target): {(time.perf_counter() - t0) * 1000:.0f} ms"
        )
        conn = sqlite3.connect(db)
        t0 = time.perf_counter()
        conn.execute(
            "SELECT id, code FROM report ORDER BY id DESC LIMIT 50 OFFSET ?", (rows - deep,)
        ).fetchall()
        print(
            f"baseline, OFFSET page at the same depth: {(time.perf_counter() - t0) * 1000:.1f} ms"
        )
        conn.close()
        await core.close()
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.rows)))
