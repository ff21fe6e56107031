"""Keeping bots and floods off the public form without JavaScript or third-party services.

A form token carries the time the form was drawn, signed together with a cookie the page set:
it cannot be forged, it cannot be used from another site (the cookie does not travel with a
cross-site post), and it tells how long the form was open, so a submission faster than a
person can type is refused. A honeypot field that people never see catches the simple bots.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from enum import StrEnum

from aiohttp import web

COOKIE = "gr_fb"
COOKIE_RE = re.compile(r"^[A-Za-z0-9_\-]{20,64}$")


class TokenProblem(StrEnum):
    INVALID = "invalid"  # forged, from another browser, or from before a restart
    EXPIRED = "expired"
    TOO_FAST = "too_fast"


class FormTokens:
    def __init__(
        self,
        key: bytes | None = None,
        min_fill_seconds: float = 3.0,
        max_age_seconds: float = 6 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # A key per process unless one is given: a restart only means "press Send again".
        self._key = key or secrets.token_bytes(32)
        self.min_fill = min_fill_seconds
        self.max_age = max_age_seconds
        self._clock = clock

    def _sign(self, issued_ms: int, binding: str) -> str:
        message = f"{issued_ms}:{binding}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def issue(self, binding: str) -> str:
        issued_ms = int(self._clock() * 1000)
        return f"{issued_ms}.{self._sign(issued_ms, binding)}"

    def check(self, token: str, binding: str) -> TokenProblem | None:
        """None when the token is good; otherwise what is wrong with it."""
        issued, _, signature = token.partition(".")
        if not issued.isdecimal() or not binding:
            return TokenProblem.INVALID
        if not hmac.compare_digest(self._sign(int(issued), binding), signature):
            return TokenProblem.INVALID
        age = self._clock() - int(issued) / 1000
        if age > self.max_age:
            return TokenProblem.EXPIRED
        if age < self.min_fill:
            return TokenProblem.TOO_FAST
        return None


def browser_cookie(request: web.Request) -> tuple[str, bool]:
    """The form cookie of this browser, and whether it is new (and must be set)."""
    value = request.cookies.get(COOKIE, "")
    if COOKIE_RE.match(value):
        return value, False
    return secrets.token_urlsafe(24), True
