"""Login throttling: too many failures for one username from one address, or from one address
in all, pause signing in there for a while, so passwords cannot be guessed online.

A username alone is never locked: anyone can type a known username, and that must not lock its
owner out. Counts live in the database (storage/ratelimit), shared by every instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage import ratelimit
from storage.db import Session

USER_LIMIT = 5  # one username, from one address
ADDRESS_LIMIT = 20  # any usernames, from one address
WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class LoginThrottle:
    user_limit: int = USER_LIMIT
    address_limit: int = ADDRESS_LIMIT
    window: timedelta = WINDOW

    def _keys(self, username: str | None, address: str) -> list[tuple[str, int]]:
        keys = [(f"login:ip:{address}", self.address_limit)]
        if username:
            name = username.strip().lower()[:64]
            keys.append((f"login:user:{name}|{address}", self.user_limit))
        return keys

    async def locked_for(self, session: Session, username: str | None, address: str) -> float:
        """Seconds until these may try again; 0 when they may try now."""
        wait = 0.0
        now = datetime.now(UTC)
        for key, limit in self._keys(username, address):
            count, latest = await ratelimit.recent(session, key, self.window)
            if count >= limit and latest is not None:
                wait = max(wait, (self.window - (now - latest)).total_seconds())
        return wait

    async def attempt(self, session: Session, username: str, address: str) -> list[int]:
        """Count a try as failed before its password is checked, so parallel guesses cannot
        all slip in under the limit; `succeeded` takes it back."""
        return [
            await ratelimit.record(session, k, self.window)
            for k, _ in self._keys(username, address)
        ]

    async def succeeded(
        self, session: Session, username: str, address: str, attempt: list[int]
    ) -> None:
        await ratelimit.forget(session, attempt)
        await ratelimit.clear(session, self._keys(username, address)[-1][0])
