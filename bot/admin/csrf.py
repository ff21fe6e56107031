"""CSRF protection: every state-changing request must carry the token of the visitor's session
(or, before sign-in, of a pre-session cookie). Anything else is refused with 403."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from bot.admin.cookies import PRE_COOKIE, set_cookie
from bot.admin.keys import CSRF, NEW_PRE_CSRF

FIELD = "csrf"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def attach_token(request: web.Request, session_token: str | None) -> None:
    """The token forms on this page must echo back: the session's, else the pre-session one."""
    if session_token:
        request[CSRF] = session_token
        return
    existing = request.cookies.get(PRE_COOKIE, "")
    if 20 <= len(existing) <= 64:
        request[CSRF] = existing
    else:
        request[CSRF] = secrets.token_urlsafe(32)
        request[NEW_PRE_CSRF] = True


def remember_pre_token(request: web.Request, response: web.StreamResponse) -> None:
    if request.get(NEW_PRE_CSRF) and not response.prepared:
        set_cookie(request, response, PRE_COOKIE, request[CSRF])


async def token_matches(request: web.Request) -> bool:
    given = request.headers.get(HEADER, "")
    if not given and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()  # cached: the view reads the same form again
        value = form.get(FIELD, "")
        given = value if isinstance(value, str) else ""
    expected = request.get(CSRF, "")
    # A token minted for this very request (no cookie yet) cannot have been sent back.
    if request.get(NEW_PRE_CSRF) or not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
