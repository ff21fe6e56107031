"""Organisation units from CSV: every row validated, nothing imported if any row is bad."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from handlers.org import HOST_KINDS, UNIT_KINDS
from storage.csvrows import ImportResult, read_rows
from storage.models import OrgUnit

__all__ = ["ImportResult", "import_units", "parse_units_csv"]

# One valid row, shown under the header when a file lacks a column (as in the sample file
# handlers/data/demo/units.csv).
EXAMPLE = "U001,Chi bộ Văn phòng Tỉnh ủy,cell,agency,"
COLUMNS = ("code", "name", "kind", "host_kind", "parent_code")


@dataclass(frozen=True)
class UnitRow:
    line: int
    code: str
    name: str
    kind: str
    host_kind: str
    parent_code: str


def _unit_problems(cell: dict[str, str]) -> list[str]:
    problems = []
    if not cell["name"] or len(cell["name"]) > 300:
        problems.append("name must be 1-300 characters")
    if cell["kind"] not in UNIT_KINDS:
        problems.append(f"kind {cell['kind']!r} must be one of {', '.join(UNIT_KINDS)}")
    if cell["host_kind"] not in HOST_KINDS:
        problems.append(f"host_kind {cell['host_kind']!r} must be one of {', '.join(HOST_KINDS)}")
    if cell["parent_code"] and cell["parent_code"] == cell["code"]:
        problems.append("a unit cannot be its own parent")
    return problems


def parse_units_csv(data: bytes) -> tuple[list[UnitRow], list[str]]:
    """Parse and check every row; errors name the line so an operator can fix the file."""
    rows, errors = read_rows(data, COLUMNS, _unit_problems, EXAMPLE)
    return [UnitRow(line, *(c[k] for k in COLUMNS)) for line, c in rows], errors


async def import_units(session: AsyncSession, data: bytes) -> ImportResult:
    """Upsert by code; running the same file twice changes nothing the second time. A dry run
    is this, rolled back by the caller, so its counts are the real ones."""
    rows, errors = parse_units_csv(data)
    result = ImportResult(errors=errors)
    existing = {u.code: u for u in (await session.execute(select(OrgUnit))).scalars()}
    codes = set(existing) | {r.code for r in rows}
    for row in rows:
        if row.parent_code and row.parent_code not in codes:
            result.errors.append(
                f"line {row.line}: parent_code {row.parent_code!r} is not a known unit"
            )
    if result.errors:
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
