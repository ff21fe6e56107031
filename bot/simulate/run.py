"""The month itself: an event queue on the simulated clock. People's actions (planned in
plan.py) and the scheduled jobs (at their cron times from schedules.yaml) run in time order;
after each, the delivery worker sends what is due, paced by the platform limits in simulated
seconds."""

from __future__ import annotations

import functools
import heapq
import itertools
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from bot.simulate import actors
from bot.simulate.clock import SimClock
from bot.simulate.context import SimCore as Core
from bot.simulate.org import Organisation, Scale, poll_definitions
from bot.simulate.plan import (
    CasePlan,
    PollPlan,
    arrival_times,
    department_profiles,
    plan_case,
    poll_plans,
)
from bot.simulate.wire import SimulationError, Wire
from handlers.casework import Action
from handlers.polldefs import Schedule
from scheduler.jobs import JOBS
from scheduler.nudges import NudgeRules, load_rules
from scheduler.schedule import build_scheduler, catch_up, load_schedules
from storage import outbox

CHANNELS = ("telegram", "zalo", "web", "zalo-oa")
# Jobs that run every few minutes (schedules.yaml), stepped by the simulation itself: cron
# walks in local time, and in the hour a clock turns back APScheduler answers times that go back.
LAST_HOUR = timedelta(hours=1)  # the latest a planned poll answer comes before the round closes
FREQUENT = {"polls": timedelta(minutes=1), "nudges": timedelta(minutes=15)}
MAX_DRAIN_WAIT = 120.0  # seconds a drain waits in simulated time for rate-held chats
STUCK_AFTER = timedelta(hours=1)  # held that long with nothing sent: the drain gives up


@dataclass(frozen=True)
class Scenario:
    """Something that goes wrong in the month. `absent` is a department (by index) that does
    nothing from `start` for `length`; `down` is the server stopped from `start` for `length`
    (no jobs, no sends; people's messages wait for it), restarted with the usual catch-up."""

    name: str
    start: timedelta
    length: timedelta
    department: int = 0

    @classmethod
    def absent_department(cls, start: timedelta, length: timedelta, index: int = 0) -> Scenario:
        return cls("absent", start, length, index)

    @classmethod
    def server_down(cls, start: timedelta, length: timedelta) -> Scenario:
        return cls("down", start, length)


@dataclass
class Month:
    core: Core
    clock: SimClock
    org: Organisation
    scale: Scale
    start: datetime
    end: datetime
    scenarios: Sequence[Scenario]
    rng: random.Random
    wire: Wire = field(default_factory=Wire)
    cases: list[CasePlan] = field(default_factory=list)
    polls: dict[tuple[str, str], PollPlan] = field(default_factory=dict)
    poll_rounds: set[tuple[str, str]] = field(default_factory=set)  # (chat, round) answered
    poll_done: list[tuple[PollPlan, str, datetime]] = field(default_factory=list)  # round id
    jobs_run: list[tuple[str, datetime]] = field(default_factory=list)
    restarts: list[datetime] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    drafts: dict[tuple[str, str], datetime] = field(default_factory=dict)  # left, by person
    _queue: list[tuple[datetime, int, bool, Callable[[], Awaitable[object]]]] = field(
        default_factory=list
    )
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _seen: int = 0  # messages of the wire already looked at for invitations

    @functools.cached_property
    def rules(self) -> NudgeRules:
        """The ladder's rules, read once (the file does not change during a run)."""
        return load_rules(self.core.settings.data_file("nudges.yaml"))

    def at(
        self, when: datetime, action: Callable[[], Awaitable[object]], job: bool = False
    ) -> None:
        """Do `action` at `when`; a job is skipped while the server is down, a person's action
        waits for it to come back."""
        heapq.heappush(self._queue, (when, next(self._seq), job, action))

    def now(self) -> datetime:
        return self.clock.utcnow()

    def later(self, hours: float) -> datetime:
        return self.now() + timedelta(hours=hours)

    # -- the scenarios ---------------------------------------------------------------------------
    def _window(self, name: str, when: datetime, department: int | None = None) -> datetime | None:
        """The end of the scenario window `when` falls in, if any."""
        for s in self.scenarios:
            if s.name != name or (department is not None and s.department != department):
                continue
            if self.start + s.start <= when < self.start + s.start + s.length:
                return self.start + s.start + s.length
        return None

    def down_until(self, when: datetime) -> datetime | None:
        return self._window("down", when)

    def absent_until(self, case: CasePlan, when: datetime) -> datetime | None:
        return self._window("absent", when, self.org.departments.index(case.department))

    @property
    def digests_from(self) -> datetime:
        """Digests run from here on (a small scale runs only the last days' to stay fast)."""
        if self.scale.digest_days is None:
            return self.start
        return max(self.start, self.end - timedelta(days=self.scale.digest_days))

    # -- planning --------------------------------------------------------------------------------
    def plan(self) -> None:
        settings = self.core.settings
        days = (self.end - self.start) / timedelta(days=1)
        count = round(self.scale.reports_per_month * days / 30 * (1 + self.scale.abandoned_share))
        profiles = department_profiles(self.org, self.rng)
        categories = len(self.core.catalog.categories)
        moments = arrival_times(self.rng, self.start, max(1, round(days)), count, settings.tz)
        for n, moment in enumerate(m for m in moments if m < self.end):
            case = plan_case(n, moment, self.org, self.scale, profiles, categories, self.rng)
            self.cases.append(case)
            self.at(moment, functools.partial(self._file, case))
        for poll in poll_plans(self.org, self.rng):
            self.polls[poll.person.channel, poll.person.user_id] = poll
        self._plan_jobs()
        for s in self.scenarios:
            if s.name == "down":
                self.at(self.start + s.start + s.length, self._restart)

    def _plan_jobs(self) -> None:
        settings = self.core.settings
        triggers = load_schedules(settings.data_file("schedules.yaml"), settings.tz)
        digests_from = self.digests_from
        for name, trigger in triggers.items():
            if name in self.scale.skip_jobs:
                continue
            if name in FREQUENT:  # every few minutes: the step, counted in UTC
                step = max(FREQUENT[name], timedelta(minutes=self.scale.job_minutes))
                fire: datetime | None = (
                    self.start + (datetime.min.replace(tzinfo=UTC) - self.start) % step
                )
            else:
                first = digests_from if name.endswith("_digest") else self.start
                fire = trigger.get_next_fire_time(None, first)
            while fire is not None and fire < self.end:
                self.at(fire, functools.partial(self._job, name), job=True)
                fire = fire + step if name in FREQUENT else self._next_fire(trigger, fire)

    @staticmethod
    def _next_fire(trigger: CronTrigger, fire: datetime) -> datetime | None:
        """The trigger's next time after `fire`. In the hour a clock turns back, APScheduler's
        cron can answer a time not after `fire` (the same wall-clock time again): look on from
        an hour later then, so the walk always moves forward."""
        after = trigger.get_next_fire_time(None, fire + timedelta(seconds=1))
        if after is not None and after <= fire:
            after = trigger.get_next_fire_time(None, fire + timedelta(hours=1))
        return after

    # -- running ---------------------------------------------------------------------------------
    async def run(self) -> None:
        while self._queue:
            when, _, job, action = heapq.heappop(self._queue)
            if when >= self.end:
                break
            back = self.down_until(when)
            if back is not None:
                if not job:  # the person's message waits for the server
                    self.at(back + timedelta(seconds=1), action)
                continue
            self.clock.advance_to(when)
            try:
                done = await action()
            except SimulationError as exc:
                self.errors.append(f"{self.now():%Y-%m-%d %H:%M}: {exc}")
                done = 1
            if done or not job:  # a job that did nothing queued nothing to send
                await self.drain()

    async def drain(self) -> None:
        """Send everything due, as the delivery worker would: a chat held by its rate limit is
        served again once its slot comes (the clock moves to it)."""
        delivery = self.core.delivery
        idle_since = None  # when the passes stopped sending while a chat was held
        while True:
            sent = await delivery.run_once()
            if delivery.soonest > 0:
                before = self.now()
                idle_since = None if sent else idle_since or before
                self.clock.advance(min(delivery.soonest, MAX_DRAIN_WAIT))
                if self.now() <= before or self.now() - (idle_since or before) > STUCK_AFTER:
                    raise SimulationError(await self._stuck(delivery.soonest))
                continue
            if sent == 0:
                break
        self._invitations()

    async def _stuck(self, soonest: float) -> str:
        """What a drain that can no longer move is waiting for: fail loudly, never spin."""
        async with self.core.sessions() as session:
            rows = await outbox.due(session, self.now(), 5)
        held = ", ".join(f"#{r.id} {r.channel} {r.chat_id} attempts {r.attempts}" for r in rows)
        return f"delivery stuck (a chat held for {soonest:.6f} s, nothing sent): {held}"

    @functools.cached_property
    def _poll_schedule(self) -> Schedule:
        """The opinion poll's schedule, read once a run (not per invitation)."""
        return next(d for d in poll_definitions(self.scale) if d.kind == "poll").schedule

    def _poll_closes(self, invited: datetime) -> datetime:
        """When the opinion poll's round an invitation belongs to closes, from the poll's own
        definition (its cron and window), as the invitation's deadline tells the collaborator."""
        schedule = self._poll_schedule
        window = timedelta(hours=schedule.window_hours)
        if schedule.cron is None:
            return invited + window
        trigger = CronTrigger.from_crontab(schedule.cron, timezone=self.core.settings.tz)
        opened = trigger.get_next_fire_time(None, invited - window) or invited
        return opened + window

    def _invitations(self) -> None:
        """People with a poll to answer answer it some time after its invitation reaches them."""
        for sent in self.wire.sent[self._seen :]:
            poll = self.polls.get((sent.channel, sent.chat_id))
            rounds = [d for d, _ in sent.choices if d.startswith("poll:")]
            if poll is None or not rounds or (sent.chat_id, rounds[0]) in self.poll_rounds:
                continue
            self.poll_rounds.add((sent.chat_id, rounds[0]))
            if poll.delay is not None:
                round_id = rounds[0].removeprefix("poll:")
                at = sent.at + poll.delay
                if poll.kind == "poll":  # a late collaborator still answers by the deadline
                    at = max(sent.at, min(at, self._poll_closes(sent.at) - LAST_HOUR))
                self.at(at, functools.partial(self._answer, poll, round_id))
        self._seen = len(self.wire.sent)

    async def _job(self, name: str) -> int:
        self.jobs_run.append((name, self.now()))
        return await JOBS[name](self.core)

    async def _restart(self) -> None:
        """The server starts again: the runner's catch-up (polls at once, a missed digest)."""
        self.restarts.append(self.now())
        scheduler = build_scheduler(self.core)
        await catch_up(self.core, scheduler)

    # -- the people's actions --------------------------------------------------------------------
    async def _file(self, case: CasePlan) -> None:
        who = (case.reporter.channel, case.reporter.user_id)
        left = self.drafts.pop(who, None)
        expiry = timedelta(days=self.rules.draft_expiry_days)
        await actors.file_report(
            self.core, self.wire, case, left is not None and self.now() - left < expiry
        )
        if case.abandon_at_step is not None:
            self.drafts[who] = self.now()
        if case.code is not None:
            self.at(self.now() + case.ack_after, lambda: self._triage(case))

    async def _triage(self, case: CasePlan) -> None:
        """Staff acknowledge the case, then reject it or pass it to its department."""
        staff = self.org.staff[case.n % len(self.org.staff)]
        await actors.staff_act(self.core, self.wire, staff, case, Action.ACKNOWLEDGE)
        case.acked_at = self.now()
        case.history.append((self.now(), "acked"))
        await self.drain()  # the card's new buttons
        if case.outcome == "reject":
            await actors.staff_act(self.core, self.wire, staff, case, Action.REJECT, actors.NOTE)
            case.rejected_at = self.now()
            return
        await actors.staff_act(
            self.core, self.wire, staff, case, Action.ASSIGN, case.department.name
        )
        case.events.append("assigned")
        first = case.handle_after / 3 if case.ask else case.handle_after
        self.at(self.now() + first, lambda: self._department(case))

    async def _department(self, case: CasePlan) -> None:
        back = self.absent_until(case, self.now())
        if back is not None:  # nobody there: the case waits, the ladder runs
            self.at(back + timedelta(hours=self.rng.uniform(1, 8)), lambda: self._department(case))
            return
        dept = case.department
        if case.ask and case.asked_at is None:
            await actors.department_act(
                self.core, self.wire, dept, case, Action.ASK, actors.QUESTION
            )
            case.asked_at = self.now()
            case.history.append((self.now(), "asked"))
            if case.answers:
                self.at(self.later(self.rng.uniform(1, 30)), lambda: self._answer_question(case))
            self.at(self.now() + case.handle_after * 2 / 3, lambda: self._department(case))
            return
        if case.outcome == "open":
            return  # never handled: overdue, nudged, escalated
        await actors.department_act(self.core, self.wire, dept, case, Action.RESOLVE, actors.NOTE)
        case.resolved_at = self.now()
        case.history.append((self.now(), "resolved"))
        case.events.append("resolved")
        says = "never" if case.disputed_at else case.reporter_says
        if says != "never":
            self.at(self.later(self.rng.uniform(2, 48)), lambda: self._reporter_says(case, says))

    async def _answer_question(self, case: CasePlan) -> None:
        waiting = case.resolved_at is None  # the department has not moved on without it
        await actors.reporter_answer(self.core, self.wire, case, waiting)
        case.events.append("answered")
        case.history.append((self.now(), "answered"))

    async def _reporter_says(self, case: CasePlan, says: str) -> None:
        action = Action.CONFIRM if says == "confirm" else Action.DISPUTE
        await actors.reporter_reply(self.core, self.wire, case, action)
        if action == Action.CONFIRM:
            case.confirmed_at = self.now()
            return
        case.disputed_at = self.now()  # reopened: the department tries again
        case.history.append((self.now(), "disputed"))
        self.at(self.later(self.rng.uniform(12, 72)), lambda: self._department(case))

    async def _answer(self, poll: PollPlan, round_id: str) -> None:
        typed = poll.person.typed or poll.person.person_id % 4 == 0
        await actors.answer_poll(self.core, self.wire, poll.person, poll.kind, typed)
        self.poll_done.append((poll, round_id, self.now()))
