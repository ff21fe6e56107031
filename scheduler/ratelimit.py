"""Token buckets for proactive messages, so we stay inside each messenger's flood limits
instead of provoking 429s (Telegram: ~30 msg/s in bulk, 1 msg/s per chat, 20 msg/min per group)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


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


class RateLimiter:
    """One global bucket per channel plus one per chat; group chats get the tighter limit."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.global_bucket = Bucket(limits.per_second, max(1.0, limits.per_second))
        self.chats: dict[str, Bucket] = {}

    def _chat_bucket(self, chat_id: str) -> Bucket:
        bucket = self.chats.get(chat_id)
        if bucket is None:
            group = chat_id.startswith("-")
            rate = (
                self.limits.per_group_per_minute / 60 if group else self.limits.per_chat_per_second
            )
            bucket = Bucket(rate, 1.0)
            self.chats[chat_id] = bucket
            if len(self.chats) > 50_000:  # forget idle chats so memory stays bounded
                self.chats.pop(next(iter(self.chats)))
        return bucket

    def delay_for(self, chat_id: str) -> float:
        """Seconds until this chat may be sent to, without taking a token (0 = now)."""
        return self._chat_bucket(chat_id).wait_time(time.monotonic())

    async def acquire(self, chat_id: str) -> None:
        chat = self._chat_bucket(chat_id)
        while True:
            now = time.monotonic()
            wait = max(self.global_bucket.wait_time(now), chat.wait_time(now))
            if wait <= 0:
                self.global_bucket.take()
                chat.take()
                return
            await asyncio.sleep(wait)
