"""What the long-poll loops of Telegram and Zalo share."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

IDLE_FIRST = 0.05
IDLE_CAP = 2.0


class IdleBackoff:
    """A long poll that comes back empty at once (a server that ignores ``timeout``) must not
    make the loop spin: wait longer after each such poll, up to a cap, until an update comes."""

    def __init__(self, first: float = IDLE_FIRST, cap: float = IDLE_CAP) -> None:
        self.first = first
        self.cap = cap
        self.delay = 0.0

    async def after_empty(self, elapsed: float, poll_seconds: float) -> None:
        if elapsed >= poll_seconds / 2:  # a real long poll waited for us: nothing to make up
            self.delay = 0.0
            return
        self.delay = min(self.cap, max(self.first, self.delay * 2))
        await asyncio.sleep(self.delay)

    def reset(self) -> None:
        self.delay = 0.0


def digest(raw: Any) -> str:
    """A short hash to name an update in the logs without its content (names, text)."""
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
