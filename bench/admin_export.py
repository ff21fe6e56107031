"""Export benchmark: the web admin's CSV and XLSX exports of 100,000 cases, through the real
aiohttp app, while the process's memory is sampled.

    uv run python bench/admin_export.py               # 100,000 reports
    uv run python bench/admin_export.py --rows 20000

The baseline, in the same run: the naive export, every matching row loaded into one list
(what an export without batches would hold). Target: each streamed export's peak memory growth
stays under 60 MB whatever the number of rows (the naive one grows with them: about 250 MB at
100,000 rows).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bench.digest import seeded_core  # noqa: E402
from bot.admin.app import build_admin_app  # noqa: E402
from bot.web import build_web_app  # noqa: E402
from storage import webauth  # noqa: E402
from storage.casequery import CaseFilter, case_page  # noqa: E402
from storage.models import Person  # noqa: E402

DESCRIPTION = (
    "Người lao động phản ánh việc chậm trả lương ba tháng liền tại phân xưởng, "
    "đề nghị cấp ủy nắm tình hình và có ý kiến với ban giám đốc. "
) * 3
LIMIT_MB = 60


class Peak:
    """Samples this process's RSS every 20 ms while running."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self.process.memory_info().rss
        self.peak = self.start
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            await asyncio.sleep(0.02)

    def __enter__(self) -> Peak:
        self.start = self.process.memory_info().rss
        self.peak = self.start
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1e6


async def main(rows: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        now = datetime.now(UTC)
        core, db = await seeded_core(Path(tmp), rows, now)
        conn = sqlite3.connect(db)
        conn.execute("UPDATE report SET description = ?", (DESCRIPTION,))
        conn.commit()
        conn.close()
        async with core.sessions() as session, session.begin():
            staff = Person(display_name="Bench staff", role="staff")
            session.add(staff)
            await session.flush()
            assert staff.id is not None
            sid, _csrf = await webauth.open_session(session, staff.id)
        app = build_web_app([], 1 << 20, {"/admin": build_admin_app(core)})
        client = TestClient(TestServer(app))
        await client.start_server()
        client.session.cookie_jar.update_cookies({"gr_admin": sid})
        results = {}
        ok = True
        try:
            for kind in ("csv", "xlsx"):
                t0 = time.perf_counter()
                with Peak() as peak:
                    size = 0
                    async with client.get(f"/admin/cases/export.{kind}") as resp:
                        assert resp.status == 200, resp.status
                        async for chunk in resp.content.iter_chunked(64 * 1024):
                            size += len(chunk)
                results[kind] = (time.perf_counter() - t0, peak.growth_mb, size)
            with Peak() as naive:
                async with core.sessions() as session:
                    everything, _ = await case_page(session, CaseFilter(), now, None, rows + 1)
                assert len(everything) == rows
            del everything
        finally:
            await client.close()
            await core.close()
    for kind, (seconds, growth, size) in results.items():
        ratio = growth / naive.growth_mb if naive.growth_mb > 0 else 0.0
        passed = growth <= LIMIT_MB
        ok = ok and passed
        print(
            f"{kind}: {rows:,} rows, {size / 1e6:.1f} MB in {seconds:.1f} s; peak memory growth "
            f"{growth:.1f} MB, {ratio:.2f} x naive (target <= {LIMIT_MB} MB) "
            f"{'PASS' if passed else 'FAIL'}"
        )
    print(f"naive (all rows in one list): peak memory growth {naive.growth_mb:.1f} MB")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.rows)))
