"""CSV imports in two steps: a preview of what would change, then the import on confirmation.

The preview runs the real importer (storage/orgimport.py, storage/deptimport.py) inside a
transaction that is always rolled back, and compares the table before and after: the operator
sees exactly what the import will do, from the same code that will do it. The confirmed import
runs the importer again from scratch in one transaction with its audit entry, so a file that
went bad in between (another admin changed a unit) still imports nothing.

The file travels from the preview to the confirmation in a hidden field (base64), so the server
keeps nothing between the two requests.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from bot.admin.audited import change
from bot.admin.auth import redirect
from bot.admin.context import admin_of
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Viewer
from storage.csvrows import ImportResult
from storage.db import Session

Importer = Callable[[Session, bytes], Awaitable[ImportResult]]
# code -> the values the import may change, to tell new, updated and unchanged rows apart.
Snapshot = Callable[[Session], Awaitable[dict[str, tuple[object, ...]]]]


@dataclass(frozen=True)
class ImportKind:
    name: str  # "units" | "departments": the path under /admin and the audit action
    title: str  # N_() text
    importer: Importer
    snapshot: Snapshot


class _Refused(Exception):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors


@dataclass
class Preview:
    errors: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0


async def preview(session: Session, kind: ImportKind, data: bytes) -> Preview:
    try:
        before = await kind.snapshot(session)
        result = await kind.importer(session, data)
        if not result.ok:
            return Preview(errors=result.errors)
        after = await kind.snapshot(session)
    finally:
        await session.rollback()  # a preview never changes anything
    new = sorted(c for c in after if c not in before)
    updated = sorted(c for c in after if c in before and after[c] != before[c])
    return Preview(new=new, updated=updated, unchanged=result.unchanged)


async def _uploaded(request: web.Request) -> bytes | None:
    form = await request.post()
    upload = form.get("file")
    if isinstance(upload, web.FileField):
        return upload.file.read()
    encoded = form.get("data")
    if isinstance(encoded, str) and encoded:
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def _preview_page(
    request: web.Request, kind: ImportKind, data: bytes, result: Preview, status: int = 200
) -> web.Response:
    return admin_of(request).pages.page(
        request,
        "import_preview.html",
        status,
        kind=kind,
        preview=result,
        data=base64.b64encode(data).decode("ascii"),
    )


def _no_file(request: web.Request, kind: ImportKind) -> web.Response:
    t = request[TRANSLATOR]
    return _preview_page(
        request, kind, b"", Preview(errors=[t("Choose a CSV file to upload.")]), 400
    )


async def show_preview(request: web.Request, viewer: Viewer, kind: ImportKind) -> web.Response:
    data = await _uploaded(request)
    if not data:
        return _no_file(request, kind)
    async with admin_of(request).context.sessions() as session:
        result = await preview(session, kind, data)
    return _preview_page(request, kind, data, result, 200 if not result.errors else 400)


async def confirm(request: web.Request, viewer: Viewer, kind: ImportKind) -> web.Response:
    data = await _uploaded(request)
    if not data:
        return _no_file(request, kind)
    try:
        async with change(request, viewer) as done:
            imported = await kind.importer(done.session, data)
            if not imported.ok:
                raise _Refused(imported.errors)
            await done.log(
                f"{kind.name}.import",
                created=imported.created,
                updated=imported.updated,
                unchanged=imported.unchanged,
            )
    except _Refused as refused:  # the transaction rolled back: nothing was imported
        return _preview_page(request, kind, data, Preview(errors=refused.errors), 400)
    await admin_of(request).context.refresh_units()  # the chat's unit picker sees them at once
    return redirect(
        f"/admin/{kind.name}?created={imported.created}&updated={imported.updated}"
        f"&unchanged={imported.unchanged}"
    )
