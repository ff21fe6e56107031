"""Login throttling: too many failures for one username or from one address lock it out for a
while, so passwords and sign-in links cannot be guessed online."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

USER_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_SECONDS = 15 * 60
MAX_KEYS = 10_000


class LoginThrottle:
    def __init__(
        self,
        user_limit: int = USER_LIMIT,
        address_limit: int = ADDRESS_LIMIT,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"user": user_limit, "ip": address_limit}
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], collections.deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> collections.deque[float]:
        seen = self._failures.get(key, collections.deque())
        while seen and now - seen[0] > self.window:
            seen.popleft()
        return seen

    def locked_for(self, username: str | None, address: str) -> float:
        """Seconds until these may try again; 0 when they may try now."""
        now = self.clock()
        wait = 0.0
        for key in self._keys(username, address):
            seen = self._recent(key, now)
            if len(seen) >= self.limits[key[0]]:
                wait = max(wait, self.window - (now - seen[-1]))
        return wait

    def failed(self, username: str | None, address: str) -> None:
        now = self.clock()
        if len(self._failures) > MAX_KEYS:  # forget quiet keys; memory stays bounded
            for key in [k for k in self._failures if not self._recent(k, now)]:
                del self._failures[key]
        for key in self._keys(username, address):
            seen = self._recent(key, now)
            seen.append(now)
            self._failures[key] = seen

    def succeeded(self, username: str | None) -> None:
        if username:
            self._failures.pop(("user", username.strip().lower()), None)

    @staticmethod
    def _keys(username: str | None, address: str) -> list[tuple[str, str]]:
        keys = [("ip", address)]
        if username:
            keys.append(("user", username.strip().lower()[:64]))
        return keys
