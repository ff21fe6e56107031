"""What the long-poll loops of Telegram and Zalo share."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable, Coroutine
from typing import Any

IDLE_FIRST = 0.05
IDLE_CAP = 2.0


def start_poll(
    task: asyncio.Task[None] | None, poll: Callable[[], Coroutine[Any, Any, None]], name: str
) -> asyncio.Task[None]:
    """The channel's one long-poll task: the running one, or a new one (getUpdates allows one
    consumer, so only the leader calls this, and twice in a row starts one)."""
    if task is not None and not task.done():
        return task
    return asyncio.create_task(poll(), name=name)


async def stop_poll(task: asyncio.Task[None] | None) -> None:
    """Cancel the long poll and wait for it to end; updates already taken in are still handled."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
