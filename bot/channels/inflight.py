"""What a webhook adapter is handling right now: one copy for Telegram, Zalo and the OA.

A stop refuses new work, lets the work in hand finish for a while and then lets answers
already committed go out; the leader's pickup of orphaned inbox rows skips the keys in hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class InFlight:
    def __init__(self) -> None:
        # Strong references: the event loop keeps only weak ones to running tasks.
        self.tasks: set[asyncio.Task[None]] = set()
        self.keys: set[str] = set()  # inbox keys of the updates in those tasks
        self.replies: set[asyncio.Future[None]] = set()  # answers of committed updates
        self.stopping = False

    def spawn(self, key: str, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self.tasks.add(task)
        self.keys.add(key)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(lambda _t: self.keys.discard(key))

    async def answer(self, reply: Coroutine[Any, Any, None]) -> None:
        """Send a committed update's answer even if a stop cancels the caller now (the
        update's replay after a restart is a no-op and answers nothing)."""
        future = asyncio.ensure_future(reply)
        self.replies.add(future)
        future.add_done_callback(self.replies.discard)
        await asyncio.shield(future)

    async def settle(self) -> None:
        """Wait until every update taken in so far has been handled (tests, graceful stop)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def drain(self, grace: float) -> None:
        """Let the work in hand finish for `grace` seconds (an update cut short stays in the
        inbox for the next start), then the answers already committed."""
        self.stopping = True
        if self.tasks:
            _done, pending = await asyncio.wait(set(self.tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.replies:
            await asyncio.wait(set(self.replies), timeout=grace)
