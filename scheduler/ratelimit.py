"""Token buckets for proactive messages, so we stay inside each messenger's flood limits
instead of provoking 429s (Telegram: ~30 msg/s in bulk, 1 msg/s per chat, 20 msg/min per group)."""

from __future__ import annotations

import asyncio
import collections
import math
import time
from dataclasses import dataclass, field
from typing import Protocol

# The messenger counts sends when they arrive, we when they leave: a send held up on its way
# (a busy event loop, a slow network, a busy server) lands in the next second together with
# ones sent on time. Pacing 2% under the limit absorbs a hold-up of 20 ms in every second.
HEADROOM = 0.98


class Clock(Protocol):
    """Where the limiter reads the time and waits: the monotonic clock in production; the
    simulated month (bot/simulate) paces sends in its simulated seconds instead."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


MONOTONIC = MonotonicClock()


@dataclass
class Bucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def wait_time(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


@dataclass(frozen=True)
class Limits:
    per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_group_per_minute: float = 20.0


class Pacer:
    """Hands out evenly spaced send slots at `rate` per second. Slots are absolute times, so
    sleeping late never adds up, and an idle spell builds no burst.

    A busy event loop can still wake several slots late at once and send them together; so
    sends are also counted as they leave, and none goes while the last second already holds
    `rate` of them: no one-second window, as we send, ever sees more than the rate."""

    def __init__(self, rate: float, clock: Clock = MONOTONIC) -> None:
        self.clock = clock
        self.interval = 1.0 / rate
        self.next_slot = 0.0
        self.per_window = max(1, math.floor(rate))
        self.recent: collections.deque[float] = collections.deque()

    async def wait(self) -> None:
        now = self.clock.now()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            await self.clock.sleep(slot - now)
        while True:
            now = self.clock.now()
            while self.recent and now - self.recent[0] >= 1.0:
                self.recent.popleft()
            if len(self.recent) < self.per_window:
                break
            await self.clock.sleep(self.recent[0] + 1.0 - now)
        self.recent.append(now)

    def pause(self, seconds: float) -> None:
        """Hand out no slot for `seconds` (the messenger asked us to back off)."""
        self.next_slot = max(self.next_slot, self.clock.now() + seconds)

    def booked(self) -> float:
        """Seconds until the next free slot: how long a send asked for now would wait."""
        return max(0.0, self.next_slot - self.clock.now())


class RateLimiter:
    """A global pace per channel plus one bucket per chat; group chats get the tighter limit."""

    def __init__(self, limits: Limits, clock: Clock = MONOTONIC) -> None:
        self.limits = limits
        self.clock = clock
        self.pacer = Pacer(limits.per_second * HEADROOM, clock)
        self.chats: dict[str, Bucket] = {}

    def _chat_bucket(self, chat_id: str) -> Bucket:
        bucket = self.chats.get(chat_id)
        if bucket is None:
            group = chat_id.startswith("-")
            rate = (
                self.limits.per_group_per_minute / 60 if group else self.limits.per_chat_per_second
            )
            bucket = Bucket(
                rate * HEADROOM, 1.0, stamp=self.clock.now()
            )  # a chat's sends can arrive bunched up too
            self.chats[chat_id] = bucket
            if len(self.chats) > 50_000:  # forget idle chats so memory stays bounded
                self.chats.pop(next(iter(self.chats)))
        return bucket

    def delay_for(self, chat_id: str) -> float:
        """Seconds until this chat may be sent to, without taking a token (0 = now)."""
        return self._chat_bucket(chat_id).wait_time(self.clock.now())

    def pause(self, seconds: float) -> None:
        self.pacer.pause(seconds)

    def booked(self) -> float:
        return self.pacer.booked()

    async def acquire(self, chat_id: str) -> None:
        """Wait for a send slot, then take the chat's token: the chat's spacing is counted
        from when its messages really leave, not from before a wait for the global pace."""
        await self.pacer.wait()
        chat = self._chat_bucket(chat_id)
        wait = chat.wait_time(self.clock.now())
        if wait > 0:  # callers check delay_for first (and a token only grows); a direct call
            await self.clock.sleep(wait)
            chat.wait_time(self.clock.now())
        chat.take()
