"""Small HTTP helpers that channel routes (web chat, webhooks) and the web pages share. They
live with the channels because channels may not import the web layer; the web imports them."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The body, refused past `limit` bytes whether or not it declared its length (a chunked
    body has none, and the app-wide cap is sized for uploads, not for JSON)."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    body = bytearray()
    while chunk := await request.content.read(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return bytes(body)


def parse_json(raw: bytes | str) -> Any:
    """json.loads, with hostile nesting (a RecursionError) reported as the ValueError it is."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError("not JSON") from exc


def client_address(request: web.Request, trust_proxy: bool) -> str:
    """The sender's address. Behind our own proxy, the last X-Forwarded-For entry is the one
    the proxy added; the entries before it are whatever the client claimed."""
    if trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return request.remote or "unknown"
