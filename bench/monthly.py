"""Monthly document benchmark (#16 §3): the DOCX of a month of 100,000 reports, on SQLite.

    uv run python bench/monthly.py                 # 100,000 reports in one month
    uv run python bench/monthly.py --rows 20000

The reports are spread over last calendar month (bench/digest.py's seed); the document is built
the way `grassroots report monthly` builds it, figures, charts and all. Target: at most 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.digest import seeded_core  # noqa: E402
from reports.monthly import build_monthly_report  # noqa: E402

TARGET_S = 10.0


async def main(rows: int) -> int:
    first = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).replace(day=1)
    end = (first + timedelta(days=32)).replace(day=1)
    # A day's margin each side: local month bounds are not UTC midnights.
    now = end - timedelta(days=1)
    with tempfile.TemporaryDirectory() as tmp:
        core, _db = await seeded_core(Path(tmp), rows, now, (now - first).days - 1)
        t0 = time.perf_counter()
        doc = await build_monthly_report(core, first.date())
        took = time.perf_counter() - t0
        await core.close()
    ok = took <= TARGET_S
    print(
        f"monthly DOCX for {first:%Y-%m} with {rows:,} reports: {took:.1f} s, {len(doc):,} bytes "
        f"(target <= {TARGET_S:.0f} s) {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    sys.exit(asyncio.run(main(parser.parse_args().rows)))
