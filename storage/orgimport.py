"""Organisation units from CSV: every row validated, nothing imported if any row is bad."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from handlers.org import HOST_KINDS, UNIT_KINDS
from storage.models import OrgUnit

COLUMNS = ("code", "name", "kind", "host_kind", "parent_code")
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
MAX_ROWS = 10_000


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class UnitRow:
    line: int
    code: str
    name: str
    kind: str
    host_kind: str
    parent_code: str


def parse_units_csv(data: bytes) -> tuple[list[UnitRow], list[str]]:
    """Parse and check every row; errors name the line so an operator can fix the file."""
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
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        return [], [f"line 1: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}"]
    index = {c: names.index(c) for c in COLUMNS}
    rows: list[UnitRow] = []
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
            cell = {c: raw[i].strip() for c, i in index.items()}
            problems = []
            if not CODE_RE.match(cell["code"]):
                problems.append(
                    f"code {cell['code']!r} must be 1-32 letters, digits, '.', '_' or '-'"
                )
            if not cell["name"] or len(cell["name"]) > 300:
                problems.append("name must be 1-300 characters")
            if cell["kind"] not in UNIT_KINDS:
                problems.append(f"kind {cell['kind']!r} must be one of {', '.join(UNIT_KINDS)}")
            if cell["host_kind"] not in HOST_KINDS:
                problems.append(
                    f"host_kind {cell['host_kind']!r} must be one of {', '.join(HOST_KINDS)}"
                )
            if cell["code"] in seen:
                problems.append(f"code {cell['code']!r} already on line {seen[cell['code']]}")
            if cell["parent_code"] and cell["parent_code"] == cell["code"]:
                problems.append("a unit cannot be its own parent")
            if problems:
                errors.append(f"line {line}: " + "; ".join(problems))
                continue
            seen[cell["code"]] = line
            rows.append(
                UnitRow(
                    line,
                    cell["code"],
                    cell["name"],
                    cell["kind"],
                    cell["host_kind"],
                    cell["parent_code"],
                )
            )
    except csv.Error as exc:
        errors.append(f"line {reader.line_num}: {exc}")
    return rows, errors


async def import_units(session: AsyncSession, data: bytes, dry_run: bool = False) -> ImportResult:
    """Upsert by code; running the same file twice changes nothing the second time."""
    rows, errors = parse_units_csv(data)
    result = ImportResult(errors=errors)
    existing = {u.code: u for u in (await session.execute(select(OrgUnit))).scalars()}
    codes = set(existing) | {r.code for r in rows}
    for row in rows:
        if row.parent_code and row.parent_code not in codes:
            result.errors.append(
                f"line {row.line}: parent_code {row.parent_code!r} is not a known unit"
            )
    if result.errors or dry_run:
        return result
    by_code = dict(existing)
    for row in rows:  # first create the new units, so parents resolve in the second pass
        if row.code not in by_code:
            unit = OrgUnit(code=row.code, name=row.name, kind=row.kind, host_kind=row.host_kind)
            session.add(unit)
            by_code[row.code] = unit
            result.created += 1
    await session.flush()
    for row in rows:
        unit = by_code[row.code]
        parent_id = by_code[row.parent_code].id if row.parent_code else None
        wanted = (row.name, row.kind, row.host_kind, parent_id)
        if (
            row.code in existing
            and (unit.name, unit.kind, unit.host_kind, unit.parent_id) == wanted
        ):
            result.unchanged += 1
            continue
        unit.name, unit.kind, unit.host_kind, unit.parent_id = wanted
        if row.code in existing:
            result.updated += 1
    await session.flush()
    return result
