"""What a webhook adapter is handling right now: one copy for Telegram, Zalo and the OA.

A stop refuses new work, lets the work in hand finish for a while and then lets answers
already committed go out; the leader's pickup of orphaned inbox rows skips the keys in hand.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


class Stopping(ConnectionAbortedError):
    """This instance is stopping and takes in nothing new: answer the webhook 503, so the
    balancer (or the messenger's retry) takes the event to another instance."""


class InFlight:
    def __init__(self) -> None:
        # Strong references: the event loop keeps only weak ones to running tasks.
        self.tasks: set[asyncio.Task[None]] = set()
        self.keys: set[str] = set()  # inbox keys of the updates in those tasks
        self.replies: set[asyncio.Future[None]] = set()  # answers of committed updates
        # Webhook bodies being kept in the inbox now, not yet handed to a task.
        self.intakes: set[asyncio.Future[None]] = set()
        self.stopping = False

    @contextlib.asynccontextmanager
    async def intake(self) -> AsyncIterator[None]:
        """Around keeping a webhook body and spawning its task (before our 200). A stop that
        begins meanwhile waits for it too: an update we acknowledge is handled and answered
        here, never left to a shut-down messenger client (the CI flake of #13's rolling
        restart: a body kept as the stop began was handled after it, its answer lost)."""
        if self.stopping:
            raise Stopping
        marker = asyncio.get_running_loop().create_future()
        self.intakes.add(marker)
        try:
            yield
        finally:
            self.intakes.discard(marker)
            marker.set_result(None)

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
        """Let the work in hand, and the bodies being kept, finish for `grace` seconds (an
        update cut short stays in the inbox for the leader or the next start), then the
        answers already committed."""
        self.stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        # Again and again: a body kept meanwhile spawns a task after we looked.
        while (self.tasks or self.intakes) and (left := deadline - loop.time()) > 0:
            await asyncio.wait({*self.tasks, *self.intakes}, timeout=left)
        pending = set(self.tasks)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self.replies:
            await asyncio.wait(set(self.replies), timeout=grace)
