"""CSV and XLSX exports of the filtered case list, streamed.

Rows come from the database in batches (keyset pages in short sessions). CSV goes out batch by
batch as it is produced. XLSX is built with openpyxl's write-only mode, which spools rows to a
temporary file instead of keeping them, in a worker thread; the finished file is then streamed.
Either way memory holds one batch, whatever the number of rows.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.admin.context import admin_of
from bot.admin.filters import ANONYMITY, URGENCIES, parse_filter
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from handlers.i18n import Translator
from handlers.org import HOST_KINDS
from handlers.status import status_label
from storage.casequery import CaseRow, iter_cases

CHUNK = 64 * 1024
# A spreadsheet reads a cell starting with these as a formula: report text must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def columns(t: Translator) -> list[str]:
    return [
        t("Code"),
        t("Received"),
        t("Category"),
        t("Urgency"),
        t("Status"),
        t("Unit code"),
        t("Unit"),
        t("Kind of unit"),
        t("Handled by"),
        t("Due"),
        t("Acknowledged"),
        t("Resolved"),
        t("Overdue"),
        t("Reporter"),
        t("Description"),
    ]


@dataclass(frozen=True)
class SmallGroups:
    """Units and kinds of unit with fewer than k hidden reports in one export: a hidden row
    there does not name them, since "the only anonymous report from unit X" points at a
    handful of people once the file leaves the admin (docs/privacy.md)."""

    units: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    @classmethod
    def of(cls, units: Counter[str], kinds: Counter[str], k: int) -> SmallGroups:
        """From the hidden reports exported, counted per unit code and per kind of unit."""
        return cls(
            frozenset(u for u, n in units.items() if n < k),
            frozenset(c for c, n in kinds.items() if n < k),
        )


def row_values(
    t: Translator,
    category: Callable[[str], str],
    row: CaseRow,
    now: datetime,
    tz: Any,
    small: SmallGroups = SmallGroups(),
) -> list[str]:
    """One case as text cells; the reporter only when they chose to be named, and a hidden
    report's unit only when it is not a small group of hidden reports in this export."""

    def when(at: datetime | None) -> str:
        return at.astimezone(tz).strftime("%d/%m/%Y %H:%M") if at else ""

    hidden = row.anonymity != "named"
    withheld = t("Hidden (small group)")
    unit_hidden = hidden and row.unit_code in small.units
    kind_hidden = hidden and row.unit_kind in small.kinds
    reporter = row.named_reporter if row.anonymity == "named" else t(ANONYMITY[row.anonymity])
    kind = t(HOST_KINDS[row.unit_kind]) if row.unit_kind in HOST_KINDS else row.unit_kind
    values = [
        row.code,
        when(row.created_at),
        category(row.category),
        t(URGENCIES.get(row.urgency, row.urgency)),
        status_label(t, row.status),
        withheld if unit_hidden else row.unit_code,
        withheld if unit_hidden else row.unit_name,
        withheld if kind_hidden else kind,
        row.department_name,
        when(row.due_at),
        when(row.acknowledged_at),
        when(row.resolved_at),
        t("yes") if row.overdue(now) else "",
        reporter,
        row.description,
    ]
    return [_cell(v) for v in values]


@dataclass
class Export:
    """One export's filter, language and clock; rows come out as text cells, batch by batch."""

    request: web.Request
    viewer: Viewer

    def __post_init__(self) -> None:
        admin = admin_of(self.request)
        self.sessions = admin.context.sessions
        self.t = self.request[TRANSLATOR]
        self.tz = admin.context.settings.tz
        self.min_group_size = admin.context.settings.min_group_size
        self.catalog = admin.context.catalog
        self.now = datetime.now(UTC)
        self.flt, _values, _errors = parse_filter(
            self.request.query, self.t, self.catalog, self.tz, self.viewer
        )

    def category(self, code: str) -> str:
        cat = self.catalog.category(code)
        return cat.label(self.t.locale) if cat else code

    async def batches(self) -> AsyncIterator[list[list[str]]]:
        # A first pass counts hidden reports per unit and kind (batch by batch, so memory still
        # holds one batch), for the small groups a hidden row must not name.
        units: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        async for batch in iter_cases(self.sessions, self.flt, self.now):
            hidden = [r for r in batch if r.anonymity != "named"]
            units.update(r.unit_code for r in hidden)
            kinds.update(r.unit_kind for r in hidden)
        small = SmallGroups.of(units, kinds, self.min_group_size)
        async for batch in iter_cases(self.sessions, self.flt, self.now):
            yield [
                row_values(self.t, self.category, row, self.now, self.tz, small) for row in batch
            ]

    def filename(self, kind: str) -> str:
        return f"cases-{self.now.strftime('%Y%m%d-%H%M')}.{kind}"


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Batches = AsyncIterator[list[list[Any]]]


def download_headers(filename: str, content_type: str) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }


def safe_cells(row: list[Any]) -> list[Any]:
    """Text stays text in a spreadsheet; numbers stay numbers."""
    return [_cell(v) if isinstance(v, str) else v for v in row]


async def stream_csv(
    request: web.Request, filename: str, header: list[str], batches: Batches
) -> web.StreamResponse:
    """CSV written batch by batch as the rows come, with a BOM so Excel reads UTF-8."""
    response = web.StreamResponse(headers=download_headers(filename, "text/csv; charset=utf-8"))
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # so Excel opens Vietnamese text as UTF-8
    writer.writerow(header)
    async for rows in batches:
        writer.writerows(rows)
        await response.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
    await response.write(buffer.getvalue().encode("utf-8"))
    await response.write_eof()
    return response


async def stream_xlsx(
    request: web.Request, filename: str, sheet_title: str, header: list[str], batches: Batches
) -> web.StreamResponse:
    """XLSX spooled to a temporary file by openpyxl's write-only mode in a worker thread,
    then streamed: memory holds one batch at a time."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title[:31])
    sheet.append(header)

    def append(rows: list[list[Any]]) -> None:
        for values in rows:
            sheet.append(values)

    fd, name = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        async for rows in batches:
            await asyncio.to_thread(append, rows)
        await asyncio.to_thread(workbook.save, name)
        response = web.StreamResponse(headers=download_headers(filename, XLSX_TYPE))
        response.content_length = await asyncio.to_thread(os.path.getsize, name)
        await response.prepare(request)
        fh = await asyncio.to_thread(open, name, "rb")
        try:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                await response.write(chunk)
        finally:
            fh.close()
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(os.unlink, name)


@requires(Permission.EXPORT)
async def export_csv(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    export = Export(request, viewer)
    return await stream_csv(request, export.filename("csv"), columns(export.t), export.batches())


@requires(Permission.EXPORT)
async def export_xlsx(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    export = Export(request, viewer)
    return await stream_xlsx(
        request, export.filename("xlsx"), export.t("Cases"), columns(export.t), export.batches()
    )


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/cases/export.csv", export_csv),
        web.get("/cases/export.xlsx", export_xlsx),
    ]
