"""Departments from CSV (code,name,kind): all rows checked, nothing imported if any is bad."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.csvrows import ImportResult, read_rows
from storage.models import Department

# One valid row, shown under the header when a file lacks a column (as in the sample file
# handlers/data/demo/departments.csv).
EXAMPLE = "BTC,Ban Tổ chức Đảng ủy Khối,internal"
COLUMNS = ("code", "name", "kind")
KINDS = ("internal", "external")


def _problems(cell: dict[str, str]) -> list[str]:
    problems = []
    if not cell["name"] or len(cell["name"]) > 300:
        problems.append("name must be 1-300 characters")
    if cell["kind"] not in KINDS:
        problems.append(f"kind {cell['kind']!r} must be internal or external")
    return problems


async def import_departments(session: AsyncSession, data: bytes) -> ImportResult:
    """Upsert by code. A dry run is this, rolled back by the caller."""
    rows, errors = read_rows(data, COLUMNS, _problems, EXAMPLE)
    result = ImportResult(errors=errors)
    if errors:
        return result
    existing = {d.code: d for d in (await session.execute(select(Department))).scalars()}
    for _line, cell in rows:
        dept = existing.get(cell["code"])
        if dept is None:
            session.add(Department(code=cell["code"], name=cell["name"], kind=cell["kind"]))
            result.created += 1
        elif (dept.name, dept.kind) != (cell["name"], cell["kind"]):
            dept.name, dept.kind = cell["name"], cell["kind"]
            result.updated += 1
        else:
            result.unchanged += 1
    await session.flush()
    return result
