"""The aiohttp server: web chat, Telegram webhook and a health check."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
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
        await sink(body)  # queued; processing happens after we answer
        return web.json_response({"ok": True})

    return web.post("/telegram/webhook", handler)


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_web_app(routes: list[web.AbstractRouteDef], max_upload_bytes: int) -> web.Application:
    app = web.Application(client_max_size=max_upload_bytes + 256 * 1024)
    app.add_routes([web.get("/healthz", health), *routes])
    return app
