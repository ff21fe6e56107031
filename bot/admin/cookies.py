"""The admin's cookies: HttpOnly, SameSite=Lax, limited to /admin, Secure behind https."""

from __future__ import annotations

from aiohttp import web

SESSION_COOKIE = "gr_admin"
PRE_COOKIE = "gr_admin_pre"  # CSRF token for the forms shown before sign-in
LANG_COOKIE = "gr_admin_lang"
PATH = "/admin"
SECURE_KEY = web.AppKey("secure_cookies", bool)


def set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int = 0
) -> None:
    response.set_cookie(
        name,
        value,
        path=PATH,
        httponly=True,
        samesite="Lax",
        secure=request.app[SECURE_KEY],
        max_age=max_age or None,
    )


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path=PATH)
