"""What the simulated organisation does in the month, drawn from a seeded random generator
before anything runs: when reports come and how each one is handled, who answers the poll and
when units file their situation report."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.simulate.org import Department, Organisation, Person, Scale

ANONYMITY = ("named", "confidential", "anonymous")  # the form's order
# Relative weight of each local hour for a report: office hours, and the evening on the phone.
HOUR_WEIGHTS = [0, 0, 0, 0, 0, 1, 2, 4, 8, 9, 8, 6, 4, 5, 7, 7, 6, 5, 5, 7, 7, 5, 2, 1]
WEEKDAY_WEIGHTS = [10, 10, 9, 9, 8, 4, 3]  # Monday first
PROFILES = ("prompt", "prompt", "slow")  # departments' behaviour; one may be absent a week


@dataclass
class CasePlan:
    """One report the simulator will file and how it will be handled; `filed_at` and later
    moments are filled in as they happen (the simulator's own tally)."""

    n: int
    at: datetime
    reporter: Person
    category: int
    hot: bool
    anonymity: str
    typed: bool
    abandon_at_step: int | None  # a draft left at this step, never sent
    department: Department
    ack_after: timedelta
    handle_after: timedelta  # from assignment to the department's action
    ask: bool
    answers: bool
    outcome: str  # resolve | reject | open
    reporter_says: str  # confirm | dispute | never
    # What happened, as the simulator saw it.
    code: str | None = None
    filed_at: datetime | None = None
    acked_at: datetime | None = None
    asked_at: datetime | None = None
    resolved_at: datetime | None = None
    rejected_at: datetime | None = None
    confirmed_at: datetime | None = None
    disputed_at: datetime | None = None
    events: list[str] = field(default_factory=list)
    # When each step that starts or stops the case's clock happened: acked, asked, answered,
    # resolved, disputed (a case may be resolved twice), oldest first.
    history: list[tuple[datetime, str]] = field(default_factory=list)


@dataclass
class PollPlan:
    """A poll answer or a unit's situation report, filed `delay` after the round opens (None:
    never)."""

    person: Person
    kind: str  # poll | sitrep
    delay: timedelta | None
    unit: str | None = None


def arrival_times(
    rng: random.Random, start: datetime, days: int, count: int, tz: ZoneInfo
) -> list[datetime]:
    """`count` moments in the days after `start`, on a weekly and daily rhythm (local time)."""
    local = start.astimezone(tz)
    day_weights = [WEEKDAY_WEIGHTS[(local + timedelta(days=d)).weekday()] for d in range(days)]
    times = []
    for _ in range(count):
        day = rng.choices(range(days), day_weights)[0]
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        midnight = (local + timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        moment = midnight + timedelta(hours=hour, minutes=rng.uniform(0, 59.9))
        times.append(moment.astimezone(start.tzinfo))
    return sorted(t for t in times if t >= start)


def department_profiles(org: Organisation, rng: random.Random) -> dict[str, str]:
    return {d.code: rng.choice(PROFILES) for d in org.departments}


def _handle_after(rng: random.Random, profile: str, hot: bool) -> timedelta:
    if profile == "slow":
        hours = rng.uniform(6, 30) if hot else rng.uniform(48, 200)
    else:
        hours = rng.uniform(0.5, 6) if hot else rng.uniform(4, 72)
    return timedelta(hours=hours)


def plan_case(
    n: int,
    at: datetime,
    org: Organisation,
    scale: Scale,
    profiles: dict[str, str],
    categories: int,
    rng: random.Random,
) -> CasePlan:  # long argument list: the plan's inputs, each named
    reporter = rng.choice(org.members)
    hot = rng.random() < scale.hot_share
    department = rng.choice(org.departments)
    ask = rng.random() < 0.25
    staff_slow = rng.random() < 0.2
    ack_minutes = (
        rng.uniform(2, 40) if hot else rng.uniform(60, 600) if staff_slow else rng.uniform(5, 90)
    )
    return CasePlan(
        n=n,
        at=at,
        reporter=reporter,
        category=rng.randrange(categories),
        hot=hot,
        anonymity=rng.choices(ANONYMITY, (5, 3, 2))[0],
        typed=reporter.typed or rng.random() < 0.3,
        abandon_at_step=rng.randrange(1, 7) if rng.random() < scale.abandoned_share else None,
        department=department,
        ack_after=timedelta(minutes=ack_minutes),
        handle_after=_handle_after(rng, profiles[department.code], hot),
        ask=ask,
        answers=ask and rng.random() < 0.7,
        outcome=rng.choices(("resolve", "reject", "open"), (80, 8, 12))[0],
        reporter_says=rng.choices(("confirm", "dispute", "never"), (55, 10, 35))[0],
    )


def poll_plans(org: Organisation, rng: random.Random) -> list[PollPlan]:
    """Collaborators answer the opinion poll (most, some late in the window, some never); one
    contact point per unit files its situation report on time, late, or never."""
    plans = []
    for person in org.collaborators:
        delay = rng.choices(
            (timedelta(hours=rng.uniform(0.1, 24)), timedelta(hours=rng.uniform(24, 70)), None),
            (60, 20, 20),
        )[0]
        plans.append(PollPlan(person, "poll", delay))
    for unit, contacts in org.contacts.items():
        delay = rng.choices(
            (
                timedelta(days=rng.uniform(0.1, 8)),  # open on the 20th, due on the 28th
                timedelta(days=rng.uniform(8.5, 11)),
                None,
            ),
            (70, 18, 12),
        )[0]
        plans.append(PollPlan(rng.choice(contacts), "sitrep", delay, unit))
    return plans
