"""Token buckets for proactive messages, so we stay inside each messenger's flood limits
instead of provoking 429s (Telegram: ~30 msg/s in bulk, 1 msg/s per chat, 20 msg/min per group)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

# Slots are spaced 2% under the limit: sends that arrive a little unevenly still fit, and a
# window of sends on the wire or just answered (`Pacer`) catches the hold-ups that would not.
HEADROOM = 0.98
# Slots go out in small bursts, at the same average rate: the sends due in this long leave
# together. At 30/s an evenly spaced slot made every send its own event-loop wake-up, its own
# claim transaction and its own timer, which cost more CPU than the request; a burst shares
# them. The messenger counts a sliding second, not the spacing within it (python-telegram-bot's
# own AIORateLimiter is a bucket of 30 a second, which bursts too).
BURST_SECONDS = 0.35
# ...and never more than this many at once: the sends of a burst leave one after the other as
# each request is built, which the window's round-trip allowance (below) must cover.
MAX_BURST = 10
# A send counts until a second after its answer, less the fastest round trip seen, plus this:
# the trip subtracted stands for this send's way back and the next one's way out, and those
# legs of two different sends can add up to a little less than the fastest whole trip.
ARRIVAL_MARGIN = 0.01


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

    def grow_from(self, now: float) -> None:
        """Tokens grow again only from `now` (the time a send was on the wire earns none)."""
        self.stamp = max(self.stamp, now)


@dataclass(frozen=True)
class Limits:
    per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_group_per_minute: float = 20.0

    @property
    def per_window(self) -> int:
        """Sends counted at once at most (`Pacer`): a second's worth of the limit."""
        return max(1, math.floor(self.per_second))

    @property
    def burst(self) -> int:
        """Slots per burst: about BURST_SECONDS' worth of the pace, and a divisor of the
        window, so a second's worth is whole bursts and the burst after them comes only once
        the second is over (the 2% headroom: 20 ms later). A burst that straddled the second
        would be split by the window, in uneven pieces."""
        most = max(1, min(MAX_BURST, math.floor(self.per_second * HEADROOM * BURST_SECONDS)))
        return max(k for k in range(1, most + 1) if self.per_window % k == 0)


class Pacer:
    """Hands out send slots at `rate` per second, `burst` at a time: a burst every
    `burst / rate` seconds, its slots all at its start. Slots are absolute times, so sleeping
    late never adds up, and an idle spell builds no bigger burst (the slots of a burst not used
    within its period are dropped).

    The messenger counts sends as they *arrive*, in a sliding second, and we cannot see when
    that is: only that it lies between the send leaving and its answer coming back. A send held
    up on its way (a pause of our event loop after its slot, of the kernel, of the server) lands
    together with the sends after it, and a second later the window over that bunch holds more
    than the rate: a 429, which pauses every send for a whole second. So a send counts against
    `per_window` from when it leaves until a second after its answer, less the fastest round
    trip seen (what every send spends on the way anyway: counted in full, a real network's
    0.2 s round trip would cut 30/s to 24/s), and none goes while that many are counted:
    whatever the hold-ups, no arrival window ever holds more than `per_window`. In steady
    sending that never bites (the slots are 2% under the limit); after a hold-up it delays the
    next sends by about as long as the hold-up, instead of a 429's second."""

    def __init__(
        self, rate: float, clock: Clock = MONOTONIC, per_window: int = 0, burst: int = 1
    ) -> None:
        self.clock = clock
        self.interval = 1.0 / rate
        self.burst = max(1, burst)
        self.period = self.burst * self.interval
        self.slot = -math.inf  # the current burst's time
        self.left = 0  # slots left in it
        self.next_slot = 0.0  # the next burst's time
        self.paused_until = 0.0
        self.per_window = per_window or max(1, math.floor(rate))
        self.on_the_wire = 0
        self.answered: collections.deque[float] = collections.deque()  # in the last second
        self.fastest = math.inf  # the shortest round trip seen, a lower bound of every one

    def reserve(self) -> float:
        """Book the next send slot; returns its time, for `wait`."""
        now = self.clock.now()
        if self.left <= 0 or self.slot + self.period <= now:  # used up, or its time is over
            self.slot = max(now, self.next_slot)
            self.next_slot = self.slot + self.period
            self.left = self.burst
        self.left -= 1
        return self.slot

    async def wait(self, slot: float | None = None) -> None:
        """Wait for a send slot (one booked with `reserve`, else the next); the caller must
        call `done` with the time the send left once it is answered (or failed)."""
        slot = self.reserve() if slot is None else slot
        now = self.clock.now()
        if slot > now:
            await self.clock.sleep(slot - now)
        while self.paused_until > (now := self.clock.now()):  # a 429 came after the booking
            await self.clock.sleep(self.paused_until - now)
        while True:
            now = self.clock.now()
            counted = self.counted_for()
            while self.answered and now - self.answered[0] >= counted:
                self.answered.popleft()
            if self.on_the_wire + len(self.answered) < self.per_window:
                break
            # the oldest answer leaves the window, or (all still on the wire) poll at the pace
            await self.clock.sleep(
                self.answered[0] + counted - now if self.answered else self.interval
            )
        self.on_the_wire += 1

    def counted_for(self) -> float:
        """How long an answered send still counts: a second less the fastest round trip seen
        so far, plus the margin. Worked out afresh each time, so that when a faster trip comes
        (the first sends open their connections) every answer counts longer, never shorter."""
        return max(0.0, 1.0 - self.fastest + ARRIVAL_MARGIN)

    def done(self, left: float) -> None:
        """The send that left at `left` was answered (or failed): it counts for a while yet
        (`counted_for`). Every answer gets the same allowance, so the oldest expires first."""
        now = self.clock.now()
        self.on_the_wire -= 1
        self.fastest = min(self.fastest, now - left)
        self.answered.append(now)

    def pause(self, seconds: float) -> None:
        """Hand out no slot for `seconds` (the messenger asked us to back off)."""
        self.paused_until = max(self.paused_until, self.clock.now() + seconds)
        self.next_slot = max(self.next_slot, self.paused_until)
        self.left = 0

    def booked(self) -> float:
        """Seconds until the next free slot: how long a send asked for now would wait."""
        now = self.clock.now()
        if self.left > 0 and self.slot + self.period > now:
            return max(0.0, self.slot - now)
        return max(0.0, self.next_slot - now)


class RateLimiter:
    """A global pace per channel plus one bucket per chat; group chats get the tighter limit."""

    def __init__(self, limits: Limits, clock: Clock = MONOTONIC) -> None:
        self.limits = limits
        self.clock = clock
        # slots 2% under the limit; the window of sends in flight or just answered at it
        self.pacer = Pacer(limits.per_second * HEADROOM, clock, limits.per_window, limits.burst)
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

    def reserve(self) -> float:
        """Book a send slot now (its time), to wait for it later with `sending`: a claim can
        then wait for others to share its transaction until just before it."""
        return self.pacer.reserve()

    async def acquire(self, chat_id: str) -> None:
        """`sending` for a send answered at once."""
        async with self.sending(chat_id):
            pass

    @contextlib.asynccontextmanager
    async def sending(self, chat_id: str, slot: float | None = None) -> AsyncIterator[None]:
        """Wait for a send slot, then take the chat's token; send inside the block. The chat's
        spacing counts from when its messages really leave, not from before a wait for the
        global pace, and its next token grows only once the send is answered: the messenger
        counts a send when it arrives, which is between the two. The send counts against the
        global pace until a second after its answer (`Pacer`)."""
        await self.pacer.wait(slot)
        chat: Bucket | None = None
        left = self.clock.now()
        try:
            chat = self._chat_bucket(chat_id)
            wait = chat.wait_time(self.clock.now())
            if wait > 0:  # callers check delay_for first (and a token only grows); a direct call
                await self.clock.sleep(wait)
                chat.wait_time(self.clock.now())
            chat.take()
            left = self.clock.now()
            yield
        finally:
            if chat is not None:
                chat.grow_from(self.clock.now())
            self.pacer.done(left)
