"""Writing a table as CSV or XLSX, row by row, so a long export never sits in memory whole."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMATS = ("text", "csv", "xlsx")


def write_table(
    header: list[str], rows: Iterable[list[Any]], fmt: str, out: Path | None, sheet: str = "data"
) -> None:
    """CSV goes to `out` or stdout (UTF-8 with a BOM, so Excel shows Vietnamese correctly);
    XLSX needs a file."""
    if fmt == "xlsx":
        if out is None:
            raise ValueError("--out FILE.xlsx is needed for xlsx")
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        ws = book.create_sheet(sheet[:31])
        ws.append(header)
        for row in rows:
            ws.append(row)
        book.save(out)
        return
    if out is None:
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
        return
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
