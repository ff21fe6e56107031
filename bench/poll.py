"""Poll benchmark (issue #5): a poll to 5,000 collaborators, 70% of whom answer four questions
through the real Telegram adapter against the fake Bot API server.

Run from the project root::

    uv run python bench/poll.py            # 5,000 collaborators, 3,500 answer: about 8-10 minutes
    uv run python bench/poll.py --quick    # 500 collaborators, 350 answer: about a minute
    uv run python bench/poll.py --collaborators 2000 --answer-share 0.5 --limit 300

Three parts, on one SQLite database in a scratch directory:

1. invitations: the collaborators are registered in bulk, a four-question poll (single choice,
   multiple choice, 1-5 scale, free text) is imported from YAML with its round opening now, and
   the polls job (``run_polls``) opens the round: the round, one invitation per collaborator and
   one outbox row each, in one transaction. The running product (``Runner``: delivery worker,
   Telegram adapter) then sends them to a fake Bot API server in its own process that answers
   429 beyond ``--limit`` sends a second; the delivery worker is configured with the same limit.
   Result: achieved rate / limit, target >= 95%, with no 429, nothing lost, nothing sent twice.
2. answers: the invitations the fake received are replayed into an in-process fake, and the
   answering share of the collaborators press "Answer now" and answer the four questions by
   button and by typing, each waiting for the bot's reply before the next step, ``--concurrency``
   at a time. Result: steps/s, as a ratio to a bare echo bot measured in the same run (before
   and after, averaged, as in bench/intake.py). The issue sets no number for it.
3. results: ``round_results`` and the leaders' results text for the round, timed (target under
   1 s), and checked against a hand count of the answers the collaborators gave; each stored
   response is compared with what its collaborator pressed and typed.

The exit status is 0 only when every target is met and every check passed.
See docs/performance.md ("Poll benchmark") for what the figures mean and the latest results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `bench` and `tests` are not installed packages

from bench.common import (  # noqa: E402
    STEP_TIMEOUT,
    TOKEN,
    ErrorCounter,
    FlowError,
    bench_fake,
    fetch,
    make_settings,
    percentile,
    print_echo,
    rate_limited_fake,
    register_members,
    run_echo,
    scratch_dir,
    setup_logging,
    verdict,
)

POLL_KEY = "bench-poll"
FIRST_COLLABORATOR_ID = 830_000_000
LEADERS_CHAT = -100_999_000_222
ECHO_MESSAGES_PER_USER = 10
ECHO_INTERACTIVE_PER_USER = 5  # reference only
SEND_RATE_TARGET = 0.95
RESULTS_TARGET_SECONDS = 1.0
RESULTS_REPEATS = 3
MAX_RETRIES = 3  # times a collaborator does a step again after an apology

MOODS = ("stable", "worried", "unsettled")
CONCERNS = ("jobs", "reform", "prices", "corruption")
COMMENT = "Ý kiến số {n}: anh chị em công nhân mong sớm có phương án tăng lương và nhà ở."


def poll_definition(opens_local: datetime) -> dict[str, Any]:
    """The benchmark's poll: the four question types the issue names, opening at
    ``opens_local`` (the organisation's local time, as staff write it)."""

    def text(vi: str, en: str) -> dict[str, str]:
        return {"vi": vi, "en": en}

    return {
        "id": POLL_KEY,
        "kind": "poll",
        "title": text("Khảo sát nhanh cộng tác viên", "Collaborators' quick poll"),
        "anonymous": False,
        "audience": {"roles": ["collaborator"]},
        "schedule": {"once": opens_local.strftime("%Y-%m-%dT%H:%M:%S"), "window_hours": 72},
        "reminders_hours": [48, 4],
        "questions": [
            {
                "id": "mood",
                "type": "single",
                "text": text("Tư tưởng chung nơi đồng chí công tác?", "The general mood?"),
                "options": [
                    {"value": "stable", "text": text("Ổn định", "Stable")},
                    {"value": "worried", "text": text("Có lo lắng", "Worried")},
                    {"value": "unsettled", "text": text("Dao động", "Unsettled")},
                ],
            },
            {
                "id": "concerns",
                "type": "multi",
                "text": text("Vấn đề được quan tâm nhiều nhất?", "The main concerns?"),
                "options": [
                    {"value": "jobs", "text": text("Việc làm, thu nhập", "Jobs and income")},
                    {"value": "reform", "text": text("Sắp xếp bộ máy", "Restructuring")},
                    {"value": "prices", "text": text("Giá cả", "Prices")},
                    {"value": "corruption", "text": text("Tham nhũng", "Corruption")},
                ],
            },
            {
                "id": "confidence",
                "type": "scale",
                "text": text("Mức độ tin tưởng (1-5)?", "Confidence (1-5)?"),
            },
            {
                "id": "comment",
                "type": "text",
                "text": text("Ý kiến, kiến nghị của đồng chí?", "Your comments?"),
            },
        ],
    }


@dataclass(frozen=True)
class Plan:
    """What one collaborator answers: varied, but the same in every run."""

    mood: str
    concerns: tuple[str, ...]  # in the options' order, as the bot stores them
    confidence: int
    comment: str

    @property
    def steps(self) -> int:
        # "Answer now", the mood, one tap per concern, Done, the scale, the typed comment
        return 5 + len(self.concerns)

    def answers(self) -> dict[str, Any]:
        return {
            "mood": self.mood,
            "concerns": list(self.concerns),
            "confidence": self.confidence,
            "comment": self.comment,
        }


def plan_for(n: int) -> Plan:
    rnd = random.Random(n)
    mood = rnd.choices(MOODS, weights=(6, 3, 1))[0]
    picked = set(rnd.sample(CONCERNS, rnd.choice((1, 1, 2))))
    confidence = rnd.choices((1, 2, 3, 4, 5), weights=(1, 2, 4, 6, 3))[0]
    return Plan(mood, tuple(c for c in CONCERNS if c in picked), confidence, COMMENT.format(n=n))


def answering(collaborators: int, share: float) -> list[int]:
    """Indexes of the collaborators who answer, spread evenly over the list (and so over
    the units, which are assigned in turn)."""
    return [i for i in range(collaborators) if int((i + 1) * share) > int(i * share)]


class Brief(logging.Formatter):
    """A failure as one line with its exception, not a traceback: under load the same database
    error can come by the dozen, and every one is counted anyway."""

    def formatException(self, ei: Any) -> str:
        return f"  ({type(ei[1]).__name__}: {str(ei[1]).splitlines()[0][:200]})"

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n  (", " (")


class FirstFew(logging.Filter):
    """Prints the first few errors; the rest are only counted."""

    def __init__(self, shown: int) -> None:
        super().__init__()
        self.left = shown

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        self.left -= 1
        return self.left >= 0


class ErrorKinds(logging.Handler):
    """Errors by logger and exception, so a run says what failed, not only how often."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.kinds: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        self.kinds[f"{record.name}{f' {type(exc).__name__}' if exc else ''}"] += 1

    def take(self) -> str:
        """The kinds seen since the last call, as one phrase."""
        text = ", ".join(f"{kind} x{n}" for kind, n in self.kinds.most_common())
        self.kinds.clear()
        return text


def brief_errors() -> ErrorKinds:
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            handler.setFormatter(Brief("%(levelname)s %(name)s: %(message)s"))
            handler.addFilter(FirstFew(3))
    kinds = ErrorKinds()
    logging.getLogger().addHandler(kinds)
    return kinds


def org_dir(workdir: Path) -> Path:
    """No scheduled jobs: the benchmark runs the polls job itself, at the moment it times."""
    path = workdir / "org"
    path.mkdir(exist_ok=True)
    (path / "schedules.yaml").write_text("jobs: {}\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------
# 1. invitations through the outbox, against a rate-limited fake in its own process
# ------------------------------------------------------------------------------------------------
async def outbox_counts(core: Any) -> dict[str, int]:
    """Outbox rows by status."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from storage.models import OutboxMessage

    async with core.sessions() as session:
        rows = await session.execute(
            select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
        )
        return {str(status): int(n) for status, n in rows.all()}


class CountingSender:
    """The Telegram adapter, counted: when each delivery was accepted, so the run knows the
    moment the last invitation went out without polling the database."""

    def __init__(self, inner: Any, expected: int) -> None:
        self.inner = inner
        self.expected = expected
        self.times: list[float] = []
        self.done = asyncio.Event()

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        result = await self.inner.deliver(chat_id, payload)
        self.times.append(time.perf_counter())
        if len(self.times) >= self.expected:
            self.done.set()
        return result  # type: ignore[no-any-return]


@dataclass
class InviteResult:
    collaborators: int
    limit: float
    open_seconds: float  # run_polls: round, invitations and outbox rows
    send_seconds: float  # from the round's commit to the last accepted send
    first_to_last: float
    delivered: int
    outbox: dict[str, int]
    throttled: int
    duplicated: int
    lost: int
    without_button: int
    round_id: int
    records: list[dict[str, Any]]
    units: list[str]
    people: dict[int, int]  # person id by Telegram user id
    logged_errors: int
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.delivered / self.send_seconds if self.send_seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.rate / self.limit

    @property
    def verified(self) -> bool:
        return (
            not self.problems
            and self.delivered == self.collaborators
            and self.outbox.get("sent", 0) == self.collaborators
            and len(self.outbox) == 1
            and self.throttled == 0
            and self.duplicated == 0
            and self.lost == 0
            and self.without_button == 0
            and self.logged_errors == 0
        )


async def send_invitations(
    workdir: Path, collaborators: int, limit: float, errors: ErrorCounter
) -> InviteResult:
    from sqlmodel import col, select

    from bot.app import Runner, build_core, seed_demo
    from handlers.polldefs import load_poll_file
    from scheduler.polls import run_polls
    from storage import admin
    from storage.models import OrgUnit, Poll, PollRound
    from storage.polls import import_poll

    async with rate_limited_fake(limit) as url:
        settings = make_settings(
            workdir,
            telegram_bot_token=TOKEN,
            telegram_api_url=url,
            telegram_rate_per_second=limit,
            org_dir=org_dir(workdir),
        )
        core = await build_core(settings)
        runner: Runner | None = None
        try:
            await seed_demo(core)
            async with core.sessions() as session:
                units = list(
                    (await session.execute(select(OrgUnit.code).order_by(col(OrgUnit.code))))
                    .scalars()
                    .all()
                )
            ids = [FIRST_COLLABORATOR_ID + i for i in range(collaborators)]
            people = await register_members(core, ids, units, role="collaborator")
            async with core.sessions() as session, session.begin():
                await admin.bind_chat(session, "leaders", "telegram", str(LEADERS_CHAT))

            # The definition goes through the same path as `grassroots poll import FILE.yaml`.
            import yaml

            opens = datetime.now(settings.tz).replace(tzinfo=None) - timedelta(minutes=1)
            path = workdir / "bench-poll.yaml"
            path.write_text(
                yaml.safe_dump(poll_definition(opens), allow_unicode=True), encoding="utf-8"
            )
            async with core.sessions() as session, session.begin():
                await import_poll(session, load_poll_file(path))

            runner = Runner(core)
            await runner.start()
            counter = CountingSender(core.senders["telegram"], collaborators)
            core.senders["telegram"] = counter  # the delivery worker reads this mapping
            errors.count, errors.first = 0, None
            gc.collect()

            started = time.perf_counter()
            await run_polls(core)  # commits, then wakes the delivery worker
            opened = time.perf_counter()
            with contextlib.suppress(TimeoutError):  # what did not arrive is counted as lost
                await asyncio.wait_for(counter.done.wait(), collaborators / limit * 4 + 60)
            finished = counter.times[-1] if counter.times else opened
            delivered = len(counter.times)
            # The worker marks a row sent just after the server accepted it: let it finish.
            for _ in range(100):
                if not (await outbox_counts(core)).get("pending", 0):
                    break
                await asyncio.sleep(0.05)
            logged = errors.count
            await runner.stop()
            runner = None

            async with core.sessions() as session:
                round_id = (
                    await session.execute(
                        select(PollRound.id)
                        .join(Poll, col(Poll.id) == col(PollRound.poll_id))
                        .where(Poll.key == POLL_KEY)
                    )
                ).scalar_one()
            statuses = await outbox_counts(core)
        finally:
            if runner is not None:
                await runner.stop()
            await core.close()
        calls = await asyncio.to_thread(fetch, f"{url}/_control/calls")
        records = await asyncio.to_thread(fetch, f"{url}/_control/sent")

    sent = [r for r in records if r.get("method") == "sendMessage"]
    chats = [str(r["chat_id"]) for r in sent]
    button = f"poll:{round_id}"
    without_button = sum(
        1
        for r in sent
        if button
        not in [
            b.get("callback_data")
            for row in (r.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row
        ]
    )
    expected_chats = {str(uid) for uid in ids}
    return InviteResult(
        collaborators=collaborators,
        limit=limit,
        open_seconds=opened - started,
        send_seconds=finished - opened,
        first_to_last=(counter.times[-1] - counter.times[0]) if counter.times else 0.0,
        delivered=delivered,
        outbox=statuses,
        throttled=int(calls.get("429", 0)),
        duplicated=len(chats) - len(set(chats)),
        lost=len(expected_chats - set(chats)),
        without_button=without_button,
        round_id=int(round_id),
        records=sent,
        units=units,
        people=people,
        logged_errors=logged,
        problems=[f"first logged error: {errors.first}"] if errors.first else [],
    )


# ------------------------------------------------------------------------------------------------
# 2. answers through the Telegram adapter, against the in-process fake
# ------------------------------------------------------------------------------------------------
@dataclass
class AnswerResult:
    answering: int
    concurrency: int
    steps: int
    seconds: float
    loop_cpu: float
    latencies: list[float]
    completed: int
    apologies: int  # steps the bot answered with its apology (and the person did again)
    logged_errors: int
    calls: dict[str, int]
    errors: list[str] = field(default_factory=list)
    first_logged_error: str | None = None

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    @property
    def verified(self) -> bool:
        # Every failed update is logged and apologised for; those are reported, and a person
        # who tried again must still end up with exactly the answers they gave.
        return not self.errors and self.completed == self.answering


def apology_text(core: Any) -> str:
    """What the dispatcher says when an update failed, in the collaborators' language."""
    from handlers.types import Inbound

    probe = Inbound(channel="telegram", update_key="-", user_id="0", chat_id="0")
    return str(core.dispatcher._apology(probe).messages[0].text)


def _press_target(message: dict[str, Any], suffix: str) -> str:
    """The callback data of the button whose payload ends with ``suffix``, as a person would
    pick the button by its label (the payload also carries the prompt's nonce)."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    for row in rows:
        for button in row:
            data = str(button.get("callback_data") or "")
            if data == suffix or data.endswith(":" + suffix):
                return data
    raise FlowError(f"no button {suffix!r} under {str(message.get('text'))[:80]!r}")


class Person:
    """One collaborator answering the poll, step by step, waiting for each answer as a person
    would. When the bot apologises ("something went wrong, please try again") they do the
    same thing again, once per apology, and the apology is counted."""

    def __init__(self, fake: Any, uid: int, apology: str, latencies: list[float]) -> None:
        self.fake = fake
        self.uid = uid
        self.apology = apology
        self.latencies = latencies
        self.apologies = 0

    async def step(self, action: Callable[[bool], object], expect: int) -> dict[str, Any]:
        fake, uid = self.fake, self.uid
        started = time.perf_counter()
        for attempt in range(MAX_RETRIES + 1):
            before = fake.count(uid)
            action(attempt == 0)
            try:
                await fake.wait_count(uid, before + 1, STEP_TIMEOUT)
                if fake.messages_to(uid)[before].get("text") == self.apology:
                    self.apologies += 1
                    continue
                await fake.wait_count(uid, before + expect, STEP_TIMEOUT)
            except TimeoutError as exc:
                last = fake.messages_to(uid)[-1:] or [{}]
                raise FlowError(
                    f"collaborator {uid}: no answer within {STEP_TIMEOUT}s; "
                    f"last: {str(last[0].get('text'))[:120]!r}"
                ) from exc
            self.latencies.append(time.perf_counter() - started)
            return fake.last_message_to(uid)  # type: ignore[no-any-return]
        raise FlowError(f"collaborator {uid}: {MAX_RETRIES + 1} apologies in a row")

    def press(self, message: dict[str, Any], suffix: str) -> Callable[[bool], object]:
        data = _press_target(message, suffix)
        # A retry presses the same button again: the failed update changed nothing, but the
        # adapter may already have taken the keyboard off the message.
        return lambda first: self.fake.press_button(
            self.uid, message["message_id"], data, check=first
        )

    def say(self, text: str) -> Callable[[bool], object]:
        return lambda _first: self.fake.user_text(self.uid, text, first_name=f"CTV {self.uid}")

    async def answer(self, round_id: int, plan: Plan) -> None:
        q = f"pq:{round_id}"
        invitation = self.fake.messages_to(self.uid)[0]
        msg = await self.step(self.press(invitation, f"poll:{round_id}"), 2)  # intro + Q1
        msg = await self.step(self.press(msg, f"{q}:mood:{plan.mood}"), 1)
        for concern in plan.concerns:  # each tap shows the question again, ticked
            msg = await self.step(self.press(msg, f"{q}:concerns:{concern}"), 1)
        msg = await self.step(self.press(msg, f"{q}:concerns:done"), 1)
        msg = await self.step(self.press(msg, f"{q}:confidence:{plan.confidence}"), 1)
        msg = await self.step(self.say(plan.comment), 1)  # the thanks
        if msg.get("reply_markup") or "/poll" not in str(msg.get("text")):
            raise FlowError(f"collaborator {self.uid}: unexpected last message {msg.get('text')!r}")


async def answer_poll(
    workdir: Path,
    invites: InviteResult,
    who: list[int],
    concurrency: int,
    errors: ErrorCounter,
) -> AnswerResult:
    from bot.app import Runner, build_core

    fake = bench_fake()
    await fake.start()
    await fake.replay(invites.records)
    settings = make_settings(
        workdir,
        telegram_bot_token=TOKEN,
        telegram_api_url=fake.url,
        telegram_concurrency=16,
        org_dir=org_dir(workdir),
    )
    core = await build_core(settings)
    runner: Runner | None = None
    try:
        runner = Runner(core)
        await runner.start()
        uids = [FIRST_COLLABORATOR_ID + i for i in who]
        warm = max(5, concurrency // 10)
        apology = apology_text(core)
        apologies = [0]

        async def pool(indexes: list[int], latencies: list[float]) -> list[str]:
            queue = list(reversed(indexes))
            failures: list[str] = []

            async def worker() -> None:
                while queue:
                    i = queue.pop()
                    person = Person(fake, FIRST_COLLABORATOR_ID + i, apology, latencies)
                    try:
                        await person.answer(invites.round_id, plan_for(i))
                    except FlowError as exc:
                        failures.append(str(exc))
                    apologies[0] += person.apologies

            await asyncio.gather(*(worker() for _ in range(min(concurrency, len(indexes)))))
            return failures

        # Warm-up: a few collaborators answer first (connections, statement caches). Their
        # answers count in the results like everyone's, not in the timing.
        warm_failures = await pool(who[:warm], [])
        errors.count, errors.first = 0, None
        apologies[0] = 0
        timed = who[warm:]
        latencies: list[float] = []
        calls_before = dict(fake.calls)
        gc.collect()
        cpu = time.thread_time()
        started = time.perf_counter()
        failures = await pool(timed, latencies)
        seconds = time.perf_counter() - started
        cpu = time.thread_time() - cpu
        calls = {k: v - calls_before.get(k, 0) for k, v in fake.calls.items()}
        failures = warm_failures + failures
        return AnswerResult(
            answering=len(uids),
            concurrency=concurrency,
            steps=len(latencies),
            seconds=seconds,
            loop_cpu=cpu,
            latencies=latencies,
            completed=len(uids) - len(failures),
            apologies=apologies[0],
            logged_errors=errors.count,
            calls={k: v for k, v in calls.items() if v},
            errors=failures,
            first_logged_error=errors.first,
        )
    finally:
        if runner is not None:
            await runner.stop()
        await core.close()
        await fake.stop()


# ------------------------------------------------------------------------------------------------
# 3. results: timed, and checked against a hand count
# ------------------------------------------------------------------------------------------------
@dataclass
class ResultsTiming:
    responses: int
    compute: list[float]  # round_results, each repeat
    render: list[float]  # the leaders' results text, each repeat
    chart: float  # the chart PNG (matplotlib), once; not part of the target
    close: float  # close_round end to end (results, text, chart, outbox rows), once
    leaders_queued: int
    mismatches: list[str]

    @property
    def worst(self) -> float:
        return max(c + r for c, r in zip(self.compute, self.render, strict=True))

    @property
    def verified(self) -> bool:
        return not self.mismatches and self.leaders_queued == 2


def hand_count(invites: InviteResult, who: list[int]) -> dict[str, Any]:
    """What the results must say, counted from the answers the simulated people gave."""
    plans = [plan_for(i) for i in who]
    per_unit: dict[str, list[int]] = {code: [0, 0] for code in invites.units}
    answered = set(who)
    for i in range(invites.collaborators):
        unit = per_unit[invites.units[i % len(invites.units)]]
        unit[0] += 1
        unit[1] += i in answered
    return {
        "invited": invites.collaborators,
        "responded": len(plans),
        "mood": Counter(p.mood for p in plans),
        "concerns": Counter(c for p in plans for c in p.concerns),
        "confidence": Counter(str(p.confidence) for p in plans),
        "confidence_mean": statistics.mean(p.confidence for p in plans) if plans else None,
        "comments": {p.comment for p in plans},
        "units": {code: tuple(v) for code, v in per_unit.items() if v[0]},
    }


def compare(results: Any, expected: dict[str, Any]) -> list[str]:
    """Every figure of the computed results against the hand count; an empty list is a match."""
    out: list[str] = []

    def check(what: str, got: Any, want: Any) -> None:
        if got != want:
            out.append(f"{what}: results say {got!r}, the hand count {want!r}")

    check("invited", results.invited, expected["invited"])
    check("responded", results.responded, expected["responded"])
    by_id = {q.id: q for q in results.questions}
    for qid in ("mood", "concerns", "confidence"):
        check(f"{qid} counts", Counter(by_id[qid].counts), expected[qid])
    for qid in ("mood", "concerns", "confidence", "comment"):
        check(f"{qid} answered", by_id[qid].answered, expected["responded"])
    mean = by_id["confidence"].mean
    want = expected["confidence_mean"]
    if (mean is None) != (want is None) or (mean is not None and abs(mean - want) > 1e-9):
        out.append(f"confidence mean: results say {mean!r}, the hand count {want!r}")
    texts = by_id["comment"].texts
    shown = results.definition.free_text_shown
    check("free-text answers shown", len(texts), min(shown, expected["responded"]))
    if not set(texts) <= expected["comments"]:
        out.append("a free-text answer shown was never given")
    units = {u.code: (u.invited, u.responded) for u in results.units}
    check("per-unit rates", units, expected["units"])
    return out


async def stored_answers(
    core: Any, round_id: int, invites: InviteResult, who: list[int]
) -> list[str]:
    """Each stored response against what its collaborator pressed and typed."""
    from sqlmodel import select

    from storage.models import PollResponse

    by_person = {pid: uid for uid, pid in invites.people.items()}
    async with core.sessions() as session:
        rows = (
            await session.execute(
                select(PollResponse.person_id, PollResponse.answers).where(
                    PollResponse.round_id == round_id
                )
            )
        ).all()
    stored = {by_person.get(pid): answers for pid, answers in rows}
    problems = []
    if len(rows) != len(who):
        problems.append(f"{len(rows)} responses stored for {len(who)} collaborators who answered")
    wrong = [i for i in who if stored.get(FIRST_COLLABORATOR_ID + i) != plan_for(i).answers()]
    if wrong:
        i = wrong[0]
        problems.append(
            f"{len(wrong)} stored responses differ from what was answered, e.g. collaborator "
            f"{i}: stored {stored.get(FIRST_COLLABORATOR_ID + i)!r}, given {plan_for(i).answers()!r}"
        )
    return problems


async def time_results(workdir: Path, invites: InviteResult, who: list[int]) -> ResultsTiming:
    from sqlmodel import select

    from bot.app import build_core
    from reports.polls import draw_results_chart, render_results
    from scheduler.polls import close_round
    from storage.models import OutboxMessage, PollRound
    from storage.pollresults import round_results

    core = await build_core(make_settings(workdir, org_dir=org_dir(workdir)))
    try:
        t = core.translations(None)
        tz = core.settings.tz
        compute: list[float] = []
        render: list[float] = []
        results: Any = None
        text = ""
        for _ in range(RESULTS_REPEATS):
            gc.collect()
            started = time.perf_counter()
            async with core.sessions() as session:
                results = await round_results(session, invites.round_id)
                rnd = await session.get(PollRound, invites.round_id)
                assert rnd is not None
                closes = (
                    rnd.closes_at if rnd.closes_at.tzinfo else rnd.closes_at.replace(tzinfo=UTC)
                )
            computed = time.perf_counter()
            text = render_results(t, results, tz, closes)
            rendered = time.perf_counter()
            compute.append(computed - started)
            render.append(rendered - computed)
        assert results is not None and text
        mismatches = compare(results, hand_count(invites, who))
        mismatches += await stored_answers(core, invites.round_id, invites, who)

        started = time.perf_counter()
        await asyncio.to_thread(draw_results_chart, t, results, workdir / "chart.png")
        chart = time.perf_counter() - started

        async with core.sessions() as session:
            rnd = await session.get(PollRound, invites.round_id)
        assert rnd is not None
        started = time.perf_counter()
        await close_round(core, rnd)
        close = time.perf_counter() - started
        async with core.sessions() as session:
            queued = len(
                (
                    await session.execute(
                        select(OutboxMessage.id).where(OutboxMessage.chat_id == str(LEADERS_CHAT))
                    )
                ).all()
            )
        return ResultsTiming(
            responses=results.responded,
            compute=compute,
            render=render,
            chart=chart,
            close=close,
            leaders_queued=queued,
            mismatches=mismatches,
        )
    finally:
        await core.close()


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Poll benchmark: invitations' send rate, answers vs an echo bot, results time."
    )
    parser.add_argument(
        "--collaborators", type=int, default=None, help="collaborators invited (default 5000)"
    )
    parser.add_argument(
        "--answer-share",
        type=float,
        default=0.7,
        help="share of the collaborators who answer, 0-1 (default 0.7)",
    )
    parser.add_argument(
        "--limit",
        type=float,
        default=200,
        help="sends per second the fake server allows and the delivery worker is set to "
        "(default 200; Telegram's own is about 30, scaled up to keep the run short)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="collaborators answering at the same moment, and echo users (default 200)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smaller smoke run (500 collaborators, 50 at once)"
    )
    args = parser.parse_args(argv)
    if args.collaborators is None:
        args.collaborators = 500 if args.quick else 5000
    if args.concurrency is None:
        args.concurrency = 50 if args.quick else 200
    if args.collaborators < 1 or args.concurrency < 1 or args.limit <= 0:
        parser.error("--collaborators, --concurrency and --limit must be positive")
    if not 0 < args.answer_share <= 1:
        parser.error("--answer-share must be above 0 and at most 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    errors = setup_logging()
    kinds = brief_errors()
    who = answering(args.collaborators, args.answer_share)
    began = time.perf_counter()
    print(
        f"poll benchmark: {sys.platform}, Python {sys.version.split()[0]}, "
        f"{args.collaborators:,} collaborators, {len(who):,} answer "
        f"({args.concurrency} at a time), send limit {args.limit:g}/s",
        flush=True,
    )
    try:
        ok = run_all(args, who, errors, kinds)
    except Exception as exc:  # a crashed phase is a failed run, said in one line
        print(f"poll: FAIL, the benchmark crashed: {exc!r}", flush=True)
        import traceback

        traceback.print_exc()
        ok = False
    print(f"total {time.perf_counter() - began:.0f} s", flush=True)
    return 0 if ok else 1


def run_all(
    args: argparse.Namespace, who: list[int], errors: ErrorCounter, kinds: ErrorKinds
) -> bool:
    with scratch_dir("grassroots-bench-poll-") as workdir:
        # 1. invitations
        invites = asyncio.run(send_invitations(workdir, args.collaborators, args.limit, errors))
        print(
            f"  opening the round (run_polls: the round, {invites.collaborators:,} invitations "
            f"and outbox rows in one transaction): {invites.open_seconds:.2f} s",
            flush=True,
        )
        print(
            f"  sent {invites.delivered:,}/{invites.collaborators:,} invitations; first to last "
            f"send {invites.first_to_last:.2f} s; outbox "
            + ", ".join(f"{k} {v}" for k, v in sorted(invites.outbox.items()))
            + f"; 429s {invites.throttled}, lost {invites.lost}, duplicated "
            f"{invites.duplicated}, without the answer button {invites.without_button}, "
            f"{invites.logged_errors} errors logged",
            flush=True,
        )
        for problem in invites.problems:
            print(f"  ! {problem}", flush=True)
        invites_ok = invites.verified and invites.ratio >= SEND_RATE_TARGET
        print(
            f"invitations: {invites.delivered:,} in {invites.send_seconds:.2f} s after the "
            f"round opened = {invites.rate:.1f}/s against a limit of {args.limit:g}/s, ratio "
            f"{invites.ratio:.3f} (target >= {SEND_RATE_TARGET:.2f}) {verdict(invites_ok)}"
            f"{'' if invites.verified else ' (run NOT verified)'}",
            flush=True,
        )

        # 2. answers, between two echo baselines
        before, *reference = asyncio.run(
            run_echo(args.concurrency, ECHO_MESSAGES_PER_USER, ECHO_INTERACTIVE_PER_USER)
        )
        print_echo("echo baseline, before the answers", before)
        for ref in reference:
            print_echo("(reference only) echo, each user waiting for every answer", ref)
        kinds.take()
        answers = asyncio.run(answer_poll(workdir, invites, who, args.concurrency, errors))
        answer_errors = kinds.take()
        lat = [x * 1000 for x in answers.latencies]
        timed = answers.answering - max(5, args.concurrency // 10)
        print(
            f"  answers: {timed:,} collaborators (after {answers.answering - timed} warm-up) x "
            f"4 questions = {answers.steps:,} steps in {answers.seconds:.2f} s -> "
            f"{answers.rate:.1f} steps/s ({1000 * answers.loop_cpu / max(1, answers.steps):.2f}"
            f" ms loop CPU/step, event loop busy "
            f"{100 * answers.loop_cpu / max(answers.seconds, 1e-9):.0f}%); step latency ms p50 "
            f"{percentile(lat, 0.5):.0f}, p95 {percentile(lat, 0.95):.0f}, "
            f"max {max(lat, default=float('nan')):.0f}",
            flush=True,
        )
        calls = answers.calls
        print(
            "  Bot API calls during the answers: "
            + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
            + f" ({sum(v for k, v in calls.items() if k != 'getUpdates') / max(1, answers.steps):.2f}"
            " calls/step)",
            flush=True,
        )
        print(
            f"  verified: {answers.completed:,}/{answers.answering:,} collaborators finished; "
            f"{answers.apologies} steps answered with an apology and done again, "
            f"{answers.logged_errors} errors logged"
            + (f" (by kind, warm-up included: {answer_errors})" if answer_errors else ""),
            flush=True,
        )
        for problem in answers.errors[:5]:
            print(f"  ! {problem}", flush=True)
        if answers.first_logged_error:
            print(f"  ! first logged error: {answers.first_logged_error}", flush=True)
        (after,) = asyncio.run(run_echo(args.concurrency, ECHO_MESSAGES_PER_USER, 0))
        print_echo("echo baseline, after the answers", after)
        echo_rate = (before.rate + after.rate) / 2
        print(
            f"answers: echo {echo_rate:.1f} upd/s, poll answers {answers.rate:.1f} steps/s, "
            f"ratio {answers.rate / echo_rate:.2f} (no target set; reported) "
            f"{'verified' if answers.verified else 'FAIL (run NOT verified)'}",
            flush=True,
        )

        # 3. results
        res = asyncio.run(time_results(workdir, invites, who))
        runs = ", ".join(
            f"{1000 * c:.0f}+{1000 * r:.0f}" for c, r in zip(res.compute, res.render, strict=True)
        )
        print(
            f"  round_results + results text, ms, {RESULTS_REPEATS} runs: {runs}; chart "
            f"{1000 * res.chart:.0f} ms; close_round end to end {1000 * res.close:.0f} ms "
            f"({res.leaders_queued} messages queued for the leaders' chat)",
            flush=True,
        )
        print(
            "  hand count: "
            + (
                "every figure matches"
                if not res.mismatches
                else f"{len(res.mismatches)} mismatches"
            ),
            flush=True,
        )
        for problem in res.mismatches[:10]:
            print(f"  ! {problem}", flush=True)
        results_ok = res.verified and res.worst < RESULTS_TARGET_SECONDS
        print(
            f"results: {res.responses:,} responses computed and rendered in at most "
            f"{1000 * res.worst:.0f} ms (target < {1000 * RESULTS_TARGET_SECONDS:.0f} ms) "
            f"{verdict(results_ok)}{'' if res.verified else ' (NOT verified)'}",
            flush=True,
        )
    return invites_ok and answers.verified and results_ok


if __name__ == "__main__":
    sys.exit(main())
