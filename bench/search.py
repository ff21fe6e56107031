"""Case search benchmark: the admin's text search over 1,000,000 synthetic reports, on SQLite and
on PostgreSQL, before the search index (a LIKE over every description, what the case list did)
and after (storage/search.py, through `case_page`).

    uv run python bench/search.py                      # both databases, 1,000,000 reports
    uv run python bench/search.py --rows 200000 --only sqlite

PostgreSQL: TEST_POSTGRES_URL names a server where the role may create databases (a scratch
database is made and dropped). The reports are loaded before the search migration, so its
backfill is timed too. Target: every indexed search's first page in at most 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic.script import ScriptDirectory  # noqa: E402

from storage.casequery import CaseFilter, case_page  # noqa: E402
from storage.db import create_engine, session_factory  # noqa: E402
from storage.migrate import alembic_config, upgrade  # noqa: E402

TARGET_MS = 100
PG_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://grassroots:grassroots@127.0.0.1:5432/postgres"
)
VOCABULARY = (
    "công nhân lương thưởng tháng năm chậm trả nợ bảo hiểm xã hội y tế tai nạn lao động máy "
    "hỏng xưởng ca đêm tăng giờ nghỉ phép hợp đồng thử việc sa thải đình công tổ trưởng quản "
    "đốc nước uống nhà ăn cơm bữa trưa ký túc xá phòng ở điện tắt đường vào ngập bụi ồn hóa "
    "chất khẩu trang găng tay kỷ luật phạt trừ tiền đi muộn về sớm đoàn viên chi bộ đảng họp"
)
SYLLABLES = VOCABULARY.split()
RARE = "thạchsùng"  # in one report of 10,000: a search that finds a few
SEARCHES = {
    "no match (zzzz)": ("zzzz", "%zzzz%"),
    "a rare word, no accents (thachsung)": ("thachsung", "%thạchsùng%"),
    "a common word (luong)": ("luong", "%lương%"),
    "two words (duong ngap)": ("duong ngap", "%đường%ngập%"),
}


def rows(count: int, now: datetime) -> list[tuple]:
    rng = random.Random(7)
    out = []
    for i in range(1, count + 1):
        words = rng.choices(SYLLABLES, k=rng.randint(8, 30))
        if i % 10_000 == 0:
            words.append(RARE)
        created = now - timedelta(seconds=count - i)
        out.append((i, f"PA-{i:07d}", " ".join(words).capitalize() + ".", created))
    return out


def revision_before_search() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return str(script.get_revision("report_search").down_revision)


INSERT = (
    "INSERT INTO report (id, code, category, urgency, description, anonymity, status, channel,"
    " locale, created_at, version, delivery_problem)"
    " VALUES ({}, 'workplace', 'normal', {}, 'anonymous', 'new', 'web', 'vi', {}, 0, '')"
)


async def load_sqlite(url: str, data: list[tuple]) -> None:
    path = url.split("///", 1)[1]
    conn = sqlite3.connect(path)
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    conn.executemany(
        INSERT.format("?, ?", "?", "?"), [(i, c, d, t.strftime(fmt)) for i, c, d, t in data]
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def load_postgres(url: str, data: list[tuple]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.copy_records_to_table(
            "report",
            records=[
                (i, c, "workplace", "normal", d, "anonymous", "new", "web", "vi", t, 0, "")
                for i, c, d, t in data
            ],
            columns=[
                "id",
                "code",
                "category",
                "urgency",
                "description",
                "anonymity",
                "status",
                "channel",
                "locale",
                "created_at",
                "version",
                "delivery_problem",
            ],
        )
        await conn.execute("ANALYZE report")
    finally:
        await conn.close()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def timed(fn, repeats: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = await fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


async def measure(kind: str, url: str, data: list[tuple], now: datetime) -> bool:
    from sqlalchemy import text

    await upgrade(url, revision_before_search())
    t0 = time.perf_counter()
    await (load_sqlite if kind == "sqlite" else load_postgres)(url, data)
    print(f"[{kind}] loaded {len(data):,} reports in {time.perf_counter() - t0:.1f} s")
    engine = create_engine(url)
    sessions = session_factory(engine)
    like = text(
        "SELECT id, code FROM report WHERE lower(description) LIKE :p ORDER BY id DESC LIMIT 51"
    )
    before = {}
    for name, (_words, pattern) in SEARCHES.items():

        async def scan(pattern: str = pattern) -> list:
            async with sessions() as s:
                return list((await s.execute(like, {"p": pattern})).all())

        before[name] = await timed(scan, repeats=2)
    t0 = time.perf_counter()
    await upgrade(url)
    print(f"[{kind}] search migration (index build and backfill): {time.perf_counter() - t0:.1f} s")
    if kind == "postgresql":
        async with sessions() as s, s.begin():
            await s.execute(text("ANALYZE report"))
    ok = True
    for name, (words, _pattern) in SEARCHES.items():

        async def search(words: str = words) -> list:
            async with sessions() as s:
                page, _ = await case_page(s, CaseFilter(text=words), now, None, 50)
            return page

        after, page = await timed(search)
        was, old = before[name]
        passed = after * 1000 <= TARGET_MS
        ok = ok and passed
        print(
            f"[{kind}] {name}: before {ms(was)} ({len(old)} rows, LIKE scan), "  # type: ignore[arg-type]
            f"after {ms(after)} ({len(page)} rows, index) {'PASS' if passed else 'FAIL'}"  # type: ignore[arg-type]
        )
    await engine.dispose()
    return ok


async def run_postgres(data: list[tuple], now: datetime) -> bool:
    import asyncpg

    admin = PG_URL.replace("+asyncpg", "")
    name = f"gr_bench_search_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        return await measure("postgresql", PG_URL.rsplit("/", 1)[0] + f"/{name}", data, now)
    finally:
        for attempt in range(20):  # an autovacuum worker (not ours to end) may still be in it
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except asyncpg.InsufficientPrivilegeError:
                await asyncio.sleep(0.5 * (attempt + 1))
        await conn.close()


async def main(count: int, only: str) -> int:
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    data = rows(count, now)
    print(f"generated {count:,} descriptions in {time.perf_counter() - t0:.1f} s")
    ok = True
    if only in ("", "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            ok &= await measure("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", data, now)
    if only in ("", "postgresql"):
        ok &= await run_postgres(data, now)
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default="")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.rows, args.only)))
