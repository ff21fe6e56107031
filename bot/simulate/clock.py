"""The simulated clock: wall time (datetime.now, time.time) moved by time-machine, never ticking
by itself, and a rate-limiter clock that waits by moving it rather than by sleeping.

The product reads the time through `datetime.now` everywhere, so the whole process travels;
asyncio's loop clock (monotonic) is not patched, so the event loop and its timeouts still work.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from types import TracebackType

import time_machine


class SimClock:
    """Wall time frozen at `start` and moved only forward, by `advance_to` and by `sleep`."""

    def __init__(self, start: datetime) -> None:
        self._travel = time_machine.travel(start, tick=False)
        self._coordinates: time_machine.Traveller | None = None

    def __enter__(self) -> SimClock:
        self._coordinates = self._travel.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._travel.stop()
        self._coordinates = None

    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    def advance_to(self, moment: datetime) -> None:
        """Move to `moment`, or stay where we are if that is in the past: time never goes back
        (a burst of sends may have carried the clock past the next event)."""
        assert self._coordinates is not None, "the clock is not running"
        if moment > self.utcnow():
            self._coordinates.move_to(moment)

    def advance(self, seconds: float) -> None:
        """Move on by `seconds`, rounded UP to the clock's microsecond: a wait shorter than a
        microsecond (a rate bucket a hair short of a token, in float arithmetic) must still
        move time, or whoever waits on it asks again for ever."""
        if seconds <= 0:
            return
        step = max(1, math.ceil(seconds * 1_000_000))  # in whole microseconds: floats of
        self.advance_to(self.utcnow() + timedelta(microseconds=step))  # 1e9 s cannot hold them

    # The rate limiter's Clock (scheduler/ratelimit.py): seconds, and a wait that moves time.
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Several senders waiting at once each move the clock to their own wake-up time, so
        concurrent waits overlap as they would in real time instead of adding up."""
        target = self.now() + seconds
        await asyncio.sleep(0)
        if self.now() < target:
            self.advance(target - self.now())
