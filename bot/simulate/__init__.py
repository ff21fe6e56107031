"""A simulated month of the whole organisation through the real engine (#14).

People file reports on their messengers (typed and tapped, all three anonymity levels, some
drafts abandoned), staff and departments act on the cases by their behaviour profiles, the
reporters answer questions and confirm (or never do), collaborators answer the monthly poll and
contact points file the situation report (on time, late or never); the scheduled jobs run at
their cron times (digests, the nudge ladder, poll rounds, automatic closing) and the delivery
worker sends everything through fake messengers that record each message with its simulated
time. Time is moved by time-machine (`tick=False`): the product reads `datetime.now`, asyncio's
loop clock is untouched, and the rate limiter paces sends in simulated seconds.

    core = await build_core(settings)   # bot.app; the caller closes it
    result = await simulate(core, seed=1, scale=Scale.small(),
                            start=datetime(2026, 11, 1, tzinfo=UTC), days=7,
                            scenarios=[Scenario.server_down(timedelta(days=2, hours=7), timedelta(hours=2))])
    result.ok          # every target met, every check of the database against the tally passed
    result.tally       # what the simulator did (Tally: reports, hot, by_anonymity, statuses, …)
    result.figures     # the month's measures by name (latencies, shares, rates, compliance)
    result.cases       # each report's plan and what happened to it (CasePlan)
    result.wire.sent   # every message the fake messengers received, with its simulated time

`Scale.province()` is the issue's organisation (113 units, 4,899 members, 13 departments),
`Scale.demo()` the demo organisation with fewer people (seconds), `Scale.small()` a few units
for tests. The simulation runs on the given core (its database may already hold the demo's
units: they are kept, and the people and chats are added). The organisation's
people, chats (staff and leaders on Telegram groups, departments on Telegram and Zalo OA
groups) and polls are added to the database; the core's senders and rate limiters are put back
as they were afterwards. The run ends at `start + days`, which may be the real "now".
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.simulate.clock import SimClock
from bot.simulate.context import SimCore
from bot.simulate.org import Scale, build_organisation
from bot.simulate.result import MonthResult, collect
from bot.simulate.run import CHANNELS, Month, Scenario
from bot.simulate.wire import FakeMessenger, SimulationError, Wire
from scheduler.ratelimit import RateLimiter

__all__ = ["MonthResult", "Scale", "Scenario", "SimCore", "SimulationError", "simulate"]


async def simulate(
    core: SimCore,
    *,
    seed: int,
    scale: Scale,
    start: datetime,
    days: int,
    scenarios: Sequence[Scenario] = (),
) -> MonthResult:
    """Run `days` of the organisation from `start` (aware datetime) and measure them."""
    senders, limiters = dict(core.senders), dict(core.delivery.limiters)
    try:
        with SimClock(start) as clock:
            wire = Wire()
            core.senders.update({name: FakeMessenger(wire, name) for name in CHANNELS})
            core.delivery.limiters = {
                name: RateLimiter(limiter.limits, clock) for name, limiter in limiters.items()
            }
            org = await build_organisation(core.sessions, scale, seed)
            await core.refresh_units()
            month = Month(
                core,
                clock,
                org,
                scale,
                start,
                start + timedelta(days=days),
                scenarios,
                random.Random(seed),
                wire,
            )
            month.plan()
            await month.run()
            clock.advance_to(month.end)
            await month.drain()
            return await collect(month)
    finally:
        core.senders.clear()
        core.senders.update(senders)
        core.delivery.limiters = limiters
