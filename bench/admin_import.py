"""Unit CSV import in the web admin: the preview (the real import, rolled back, with the table
compared before and after) and the confirmed import, for the largest file accepted (10,000 rows)
on SQLite, half of them new and half renaming existing units.

    uv run python bench/admin_import.py
    uv run python bench/admin_import.py --rows 2000

Target: preview and import each under 10 s for 10,000 rows, so the page answers before a
browser or proxy gives up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.digest import seeded_core  # noqa: E402
from bot.admin.csvimport import preview  # noqa: E402
from bot.admin.org import UNITS  # noqa: E402

TARGET_S = 10.0


def units_csv(rows: int, tag: str = "") -> bytes:
    lines = ["code,name,kind,host_kind,parent_code"]
    for i in range(rows):
        parent = "U001" if i % 2 else ""
        lines.append(f"B{i:05d},Chi bộ số {i}{tag},cell,private_enterprise,{parent}")
    return ("\n".join(lines) + "\n").encode("utf-8")


async def main(rows: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        core, _db = await seeded_core(Path(tmp), 0, datetime.now(UTC))
        half = units_csv(rows // 2)
        async with core.sessions() as session, session.begin():
            await UNITS.importer(session, half)  # the first half exists already
        data = units_csv(rows, " (mới)")  # every existing unit renamed
        async with core.sessions() as session:
            t0 = time.perf_counter()
            shown = await preview(session, UNITS, data)
            preview_s = time.perf_counter() - t0
        async with core.sessions() as session, session.begin():
            t0 = time.perf_counter()
            result = await UNITS.importer(session, data)
            import_s = time.perf_counter() - t0
        await core.close()
    print(
        f"{rows:,} rows: preview {preview_s:.2f} s ({len(shown.new):,} new, "
        f"{len(shown.updated):,} updated, {shown.unchanged:,} unchanged); "
        f"import {import_s:.2f} s ({result.created:,} created)"
    )
    ok = preview_s < TARGET_S and import_s < TARGET_S and not shown.errors
    print("OK" if ok else f"SLOWER THAN {TARGET_S} s")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    sys.exit(asyncio.run(main(parser.parse_args().rows)))
