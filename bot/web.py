"""The aiohttp server: web chat, Telegram webhook and a health check."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 1024 * 1024

WebhookSink = Callable[[dict[str, Any]], Awaitable[None]]


def secret_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison, so the secret cannot be guessed byte by byte from timings."""
    return bool(expected) and hmac.compare_digest(expected.encode(), (given or "").encode())


def telegram_webhook(secret: str, sink: WebhookSink) -> web.AbstractRouteDef:
    async def handler(request: web.Request) -> web.Response:
        if not secret_matches(secret, request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
            log.warning("telegram webhook: wrong or missing secret token")
            return web.json_response({"ok": False, "error": "forbidden"}, status=403)
        if request.content_length and request.content_length > MAX_WEBHOOK_BYTES:
            return web.json_response({"ok": False, "error": "too large"}, status=413)
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"ok": False, "error": "bad json"}, status=400)
        if not isinstance(body, dict) or "update_id" not in body:
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        try:
            await sink(body)  # queued; processing happens after we answer
        except Exception:  # a malformed update must not make Telegram retry it forever
            log.warning("telegram webhook: could not read update %s", body.get("update_id"))
        return web.json_response({"ok": True})

    return web.post("/telegram/webhook", handler)


# Only names our adapters create: YYYY/MM/<32 hex>.<ext>, or charts/<name>.png.
FILE_RE = re.compile(
    r"^(?:\d{4}/\d{2}/[0-9a-f]{32}\.[a-z0-9]{1,10}|charts/[0-9]{8}-[0-9a-f]{12}\.png)$"
)


def attachment_files(root: Path) -> web.AbstractRouteDef:
    """Serve stored attachments and charts by their unguessable names, for channels (Zalo)
    that can only send photos by URL. Nothing can be listed and no other path is reachable."""
    base = root.resolve()

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not FILE_RE.match(name):
            raise web.HTTPNotFound()
        path = (base / name).resolve()
        if base not in path.parents or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})

    return web.get("/files/{name:.+}", handler)


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_web_app(
    routes: list[web.AbstractRouteDef],
    max_upload_bytes: int,
    subapps: dict[str, web.Application] | None = None,
) -> web.Application:
    app = web.Application(client_max_size=max_upload_bytes + 256 * 1024)
    app.add_routes([web.get("/healthz", health), *routes])
    for prefix, subapp in (subapps or {}).items():
        app.add_subapp(prefix, subapp)
    return app
