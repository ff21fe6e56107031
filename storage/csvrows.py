"""Reading operator CSV files: UTF-8 (with or without BOM), named columns, errors by line."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
MAX_ROWS = 10_000

# Checks one row (column -> value) and returns its problems, in the operator's words.
RowCheck = Callable[[dict[str, str]], list[str]]


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def code_problems(code: str) -> list[str]:
    if CODE_RE.match(code):
        return []
    return [f"code {code!r} must be 1-32 letters, digits, '.', '_' or '-'"]


def read_rows(
    data: bytes, columns: Sequence[str], check: RowCheck, example: str = ""
) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """Every row as (line, cells), or errors naming the line; duplicate codes are refused.
    A bad header is answered with how the file should begin: `example` is one valid row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [f"the file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"]
    if "\x00" in text:
        return [], ["the file contains NUL bytes: it is not a CSV text file"]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [f"line 1: {exc}"]
    if header is None:
        return [], ["the file is empty"]
    names = [h.strip().lower() for h in header]
    missing = [c for c in columns if c not in names]
    if missing:
        wanted = f"line 1: missing column(s) {', '.join(missing)}; expected {','.join(columns)}"
        if example:
            wanted += f". The file should begin like this:\n{','.join(columns)}\n{example}"
        return [], [wanted]
    index = {c: names.index(c) for c in columns}
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    try:
        for raw in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in raw):
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                errors.append(f"line {line}: more than {MAX_ROWS} rows")
                break
            if len(raw) < len(names):
                errors.append(f"line {line}: expected {len(names)} columns, found {len(raw)}")
                continue
            cells = {c: raw[i].strip() for c, i in index.items()}
            problems = code_problems(cells.get("code", "")) + check(cells)
            if cells.get("code") in seen:
                problems.append(f"code {cells['code']!r} already on line {seen[cells['code']]}")
            if problems:
                errors.append(f"line {line}: " + "; ".join(problems))
                continue
            seen[cells["code"]] = line
            rows.append((line, cells))
    except csv.Error as exc:
        errors.append(f"line {reader.line_num}: {exc}")
    return rows, errors
