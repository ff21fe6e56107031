"""The aiohttp server: web chat, Telegram webhook and a health check."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.channels.http import parse_json, read_capped
from bot.channels.inflight import Stopping

log = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 1024 * 1024
# Served inline only when the bytes really are this kind of image (our adapters re-encode them).
IMAGE_TYPES = {
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    ".webp": ("image/webp", (b"RIFF",)),
}
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Even if a browser did render something, it runs without our origin, scripts or forms.
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'",
    "Cache-Control": "private, max-age=3600",
}

WebhookSink = Callable[[dict[str, Any]], Awaitable[None]]


def secret_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison, so the secret cannot be guessed byte by byte from timings."""
    return bool(expected) and hmac.compare_digest(expected.encode(), (given or "").encode())


def telegram_webhook(secret: str, sink: WebhookSink) -> web.AbstractRouteDef:
    stopping_said: list[bool] = []  # a stop is said once in the log, not once per update

    async def handler(request: web.Request) -> web.Response:
        if not secret_matches(secret, request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
            log.warning("telegram webhook: wrong or missing secret token")
            return web.json_response({"ok": False, "error": "forbidden"}, status=403)
        try:
            body = parse_json(await read_capped(request, MAX_WEBHOOK_BYTES))
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"ok": False, "error": "too large"}, status=413)
        except ValueError:
            return web.json_response({"ok": False, "error": "bad json"}, status=400)
        if not isinstance(body, dict) or "update_id" not in body:
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        try:
            await sink(
                body
            )  # kept in the inbox; handled (or skipped, if unreadable) after we answer
        except Stopping:  # normal operation (a restart): Telegram sends it to another instance
            if not stopping_said:
                stopping_said.append(True)
                log.info("telegram webhook: stopping; answering 503, so updates go elsewhere")
            return web.json_response({"ok": False, "error": "stopping"}, status=503)
        except Exception as exc:  # not kept: Telegram must send it again, not consider it done
            log.error("telegram webhook: could not keep an update (%s)", type(exc).__name__)
            return web.json_response({"ok": False, "error": "try again"}, status=503)
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
        headers = dict(FILE_HEADERS)
        image = IMAGE_TYPES.get(path.suffix.lower())
        if image is not None and await asyncio.to_thread(_starts_with, path, image[1]):
            headers["Content-Type"] = image[0]
        else:  # anything else only as a download, never rendered on our origin
            headers["Content-Type"] = "application/octet-stream"
            headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
        return web.FileResponse(path, headers=headers)

    return web.get("/files/{name:.+}", handler)


def _starts_with(path: Path, magics: tuple[bytes, ...]) -> bool:
    with path.open("rb") as fh:
        head = fh.read(16)
    return head.startswith(magics) and (not head.startswith(b"RIFF") or head[8:12] == b"WEBP")


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
