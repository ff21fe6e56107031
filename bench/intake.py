"""Intake benchmark: how close the full report flow comes to a bare echo bot, and memory per draft.

Run from the project root::

    uv run python bench/intake.py            # full run, about 2-3 minutes on 2 cores
    uv run python bench/intake.py --quick    # smoke run, well under a minute

Three measurements, each after a warm-up, all in this run (so the figures are ratios against a
baseline measured on the same machine at the same moment, not absolute numbers):

1. echo: a bare python-telegram-bot 22 echo bot polls the in-process fake Bot API server
   (``tests/fake_telegram.py``); N text updates from M users are injected at once and we time
   first injection -> N-th reply recorded by the fake. Result: updates/s, measured before and
   after the flow (the machine is shared) and averaged. A third, "interactive" echo run where
   every user waits for each answer is printed for reference only.
2. report flow: the real product (core + Telegram adapter + delivery worker, SQLite, state
   committed at every step) against the same fake server. All members start at once; each one
   walks the whole report flow like a person would, waiting for the bot's answer before the next
   step. Result: flow steps/s. The run is verified afterwards (every member got a report code,
   the report table holds them all, each queued its staff card): failures never count as speed.
3. memory: a fresh child process builds the core, measures its RSS, opens N report drafts
   through ``core.dispatcher.handle`` and measures again.

The exit status is 0 when every target is met and the run verified, 1 otherwise.
See docs/performance.md for what the figures mean and the latest results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    make_settings,
    percentile,
    print_echo,
    register_members,
    run_echo,
    scratch_dir,
    setup_logging,
    verdict,
)

ECHO_MESSAGES_PER_USER = 10
ECHO_INTERACTIVE_PER_USER = 5  # reference figure only: users wait for each echo
FLOW_STEPS = 8  # /report, category, urgency, my unit, description, Done, anonymity, Send
RATIO_TARGET = 0.60
MEMORY_TARGET_MB = 200.0
FIRST_MEMBER_ID = 810_000_000
FIRST_DRAFT_USER_ID = 820_000_000
STAFF_CHAT = -100_999_000_111
DESCRIPTION = "Công nhân phân xưởng {n} bị nợ lương ba tháng, có nguy cơ ngừng việc tập thể."

log = logging.getLogger("bench.intake")


# ------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------
def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc, psutil elsewhere)."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import psutil

    return float(psutil.Process().memory_info().rss) / (1024 * 1024)


def peak_rss_mb() -> float | None:
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


# ------------------------------------------------------------------------------------------------
# 2. the real report flow through the Telegram adapter
# ------------------------------------------------------------------------------------------------
@dataclass
class FlowResult:
    members: int
    steps: int
    seconds: float
    loop_cpu: float
    latencies: list[float]
    reports_in_db: int
    expected_reports: int
    codes: int
    staff_queued: int  # outbox rows for the staff chat, any status (one card per report)
    staff_failed: int
    staff_delivered: int  # of which the fake server has received so far
    staff_expected: int
    errors: list[str] = field(default_factory=list)
    logged_errors: int = 0
    first_logged_error: str | None = None
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.steps / self.seconds

    @property
    def verified(self) -> bool:
        return (
            not self.errors
            and self.codes == self.members
            and self.reports_in_db == self.expected_reports
            and self.staff_queued >= self.staff_expected
            and self.staff_failed == 0
        )


def _button(message: dict[str, Any], index: int) -> str:
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or []
    if not rows:
        raise FlowError(f"expected buttons, got: {message.get('text')!r}")
    return str(rows[index % len(rows)][0]["callback_data"])


async def member_flow(fake: Any, uid: int, n: int, latencies: list[float]) -> str:
    """One member files a report, step by step, waiting for each answer. Returns the code."""

    async def step(action: Callable[[], object], expect: int) -> dict[str, Any]:
        before = fake.count(uid)
        started = time.perf_counter()
        action()
        try:
            await fake.wait_count(uid, before + expect, STEP_TIMEOUT)
        except TimeoutError as exc:
            last = fake.messages_to(uid)[-1:] or [{}]
            raise FlowError(
                f"member {uid}: no answer within {STEP_TIMEOUT}s; last: {last[0].get('text')!r}"
            ) from exc
        latencies.append(time.perf_counter() - started)
        return fake.last_message_to(uid)

    def say(text: str) -> Callable[[], object]:
        return lambda: fake.user_text(uid, text, first_name=f"Member {n}")

    def press(message: dict[str, Any], index: int) -> Callable[[], object]:
        data = _button(message, index)
        return lambda: fake.press_button(uid, message["message_id"], data, check=False)

    msg = await step(say("/report"), 2)  # "New report…" + the category question
    msg = await step(press(msg, n % 7), 1)  # category
    msg = await step(press(msg, n % 2), 1)  # urgency
    msg = await step(press(msg, 0), 1)  # "My unit"
    msg = await step(say(DESCRIPTION.format(n=n)), 1)  # description -> attachments question
    msg = await step(press(msg, 0), 1)  # Done, no attachments
    msg = await step(press(msg, n % 3), 1)  # anonymity -> review
    _button(msg, 0)  # the review must offer Send
    msg = await step(press(msg, 0), 1)  # Send
    text = str(msg.get("text") or "")
    code = next((w.strip(".,:;") for w in text.split() if w.startswith("PA-")), None)
    if code is None:
        raise FlowError(f"member {uid}: no report code in the confirmation: {text!r}")
    return code


async def run_flow(
    members: int, warmup: int, staff: bool, errors: ErrorCounter, profile: str | None = None
) -> FlowResult:
    from sqlalchemy import func
    from sqlmodel import select

    from bot.app import Runner, build_core, seed_demo
    from storage import admin
    from storage.models import OutboxMessage, Report

    fake = bench_fake()
    await fake.start()
    with scratch_dir("grassroots-bench-flow-") as workdir:
        settings = make_settings(
            workdir, telegram_bot_token=TOKEN, telegram_api_url=fake.url, telegram_concurrency=16
        )
        core = await build_core(settings)
        runner: Runner | None = None
        try:
            await seed_demo(core)
            warm_ids = [FIRST_MEMBER_ID + members + i for i in range(warmup)]
            ids = [FIRST_MEMBER_ID + i for i in range(members)]
            await register_members(core, ids + warm_ids)
            if staff:
                async with core.sessions() as session, session.begin():
                    await admin.bind_chat(session, "staff", "telegram", str(STAFF_CHAT))
            runner = Runner(core)
            await runner.start()

            # Warm-up: a few members file a report first (connections, statement caches).
            warm_latencies: list[float] = []
            await asyncio.gather(
                *(member_flow(fake, uid, i, warm_latencies) for i, uid in enumerate(warm_ids))
            )
            errors.count, errors.first = 0, None

            latencies: list[float] = []
            calls_before = dict(fake.calls)
            gc.collect()
            profiler = None
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            cpu = time.thread_time()
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(member_flow(fake, uid, i, latencies) for i, uid in enumerate(ids)),
                return_exceptions=True,
            )
            seconds = time.perf_counter() - started
            cpu = time.thread_time() - cpu
            if profiler is not None and profile:
                profiler.disable()
                profiler.dump_stats(profile)
            calls = {k: v - calls_before.get(k, 0) for k, v in fake.calls.items()}
            calls = {k: v for k, v in calls.items() if v}

            failures = [str(o) for o in outcomes if isinstance(o, BaseException)]
            codes = {o for o in outcomes if isinstance(o, str)}
            staff_expected = (members + warmup) if staff else 0
            async with core.sessions() as session:
                in_db = (
                    await session.execute(select(func.count()).select_from(Report))
                ).scalar_one()
                listed = await admin.list_reports(session, limit=members + warmup + 10)
                # Staff cards are written to the outbox in the report's own transaction; the
                # delivery worker then paces them (Telegram allows ~20 messages a minute to a
                # group), so count the queue rather than wait minutes for the deliveries.
                cards = dict(
                    (
                        await session.execute(
                            select(OutboxMessage.status, func.count())
                            .where(OutboxMessage.chat_id == str(STAFF_CHAT))
                            .group_by(OutboxMessage.status)
                        )
                    ).all()
                )
            db_codes = {r["code"] for r in listed}
            missing = codes - db_codes
            if missing:
                failures.append(f"{len(missing)} confirmed codes missing from the report table")
            return FlowResult(
                members=members,
                steps=len(latencies),
                seconds=seconds,
                loop_cpu=cpu,
                latencies=latencies,
                reports_in_db=int(in_db),
                expected_reports=members + warmup,
                codes=len(codes),
                staff_queued=sum(cards.values()),
                staff_failed=cards.get("failed", 0),
                staff_delivered=fake.count(STAFF_CHAT),
                staff_expected=staff_expected,
                errors=failures,
                logged_errors=errors.count,
                first_logged_error=errors.first,
                calls=calls,
            )
        finally:
            if runner is not None:
                await runner.stop()
            await core.close()
            await fake.stop()


# ------------------------------------------------------------------------------------------------
# 3. memory, in a child process
# ------------------------------------------------------------------------------------------------
async def memory_child(drafts: int, answers: int, workers: int) -> dict[str, Any]:
    """Runs in a fresh process: RSS after building the core, then with ``drafts`` open drafts."""
    from sqlmodel import col, select

    from bot.app import build_core, seed_demo
    from handlers.types import Inbound
    from storage.models import Conversation

    rss_imported = rss_mb()
    with scratch_dir("grassroots-bench-mem-") as workdir:
        core = await build_core(make_settings(workdir))
        try:
            await seed_demo(core)
            gc.collect()
            rss_core = rss_mb()

            ids = [FIRST_DRAFT_USER_ID + i for i in range(drafts)]
            started = time.perf_counter()
            await register_members(core, ids)
            gc.collect()
            series: list[tuple[int, float]] = [(0, rss_mb())]  # (drafts open, RSS MB)
            keys = itertools.count(1)
            dispatcher = core.dispatcher

            async def handle(uid: str, **kw: Any) -> Any:
                inbound = Inbound(
                    channel="telegram",
                    update_key=f"mem{next(keys)}",
                    user_id=uid,
                    chat_id=uid,
                    display_name="Thành viên",
                    **kw,
                )
                async with dispatcher.run("telegram", uid, inbound) as handled:
                    reply = handled.reply if handled is not None else None
                if reply is None or not reply.messages or not reply.messages[-1].choices:
                    raise FlowError(f"draft of {uid}: unexpected reply {reply!r}")
                return reply

            queue = list(reversed(ids))
            marks = {drafts * q // 4 for q in (1, 2, 3)}

            async def worker() -> None:
                while queue:
                    uid = str(queue.pop())
                    if len(queue) + 1 in marks:  # RSS at each quarter, to tell growth from noise
                        series.append((drafts - len(queue) - 1, rss_mb()))
                    reply = await handle(uid, text="/report")
                    for n in range(answers):
                        choices = reply.messages[-1].choices
                        data = choices[(int(uid) + n) % min(2, len(choices))].data
                        reply = await handle(uid, callback=data, callback_message_id="1")

            await asyncio.gather(*(worker() for _ in range(workers)))
            drive_seconds = time.perf_counter() - started
            pool = core.db.pool.status()
            gc.collect()
            rss_drafts = rss_mb()
            series.append((drafts, rss_drafts))
            peak = peak_rss_mb()

            # Verify only after measuring: loading 10,000 states would itself cost memory.
            open_drafts = 0
            async with core.sessions() as session:
                rows = await session.stream(
                    select(col(Conversation.state)).where(Conversation.channel == "telegram")
                )
                async for (state,) in rows:
                    form = (state.get("forms") or {}).get("report") or {}
                    if state.get("flow") == "report" and form.get("step"):
                        open_drafts += 1
        finally:
            await core.close()
    return {
        "drafts": drafts,
        "answers": answers,
        "open_drafts": open_drafts,
        "rss_imported_mb": rss_imported,
        "rss_core_mb": rss_core,
        "rss_drafts_mb": rss_drafts,
        "peak_rss_mb": peak,
        "seconds": drive_seconds,
        "pool": pool,
        "series": sorted(series),
    }


@dataclass
class MemoryResult:
    data: dict[str, Any]

    @property
    def baseline(self) -> float:
        return float(self.data["rss_core_mb"])

    @property
    def with_drafts(self) -> float:
        return float(self.data["rss_drafts_mb"])

    @property
    def verified(self) -> bool:
        return int(self.data["open_drafts"]) == int(self.data["drafts"])


def run_memory(drafts: int, answers: int, workers: int) -> MemoryResult:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--memory-child",
        "--drafts",
        str(drafts),
        "--draft-answers",
        str(answers),
        "--draft-workers",
        str(workers),
    ]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    last = done.stdout.strip().splitlines()[-1]
    return MemoryResult(json.loads(last))


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Intake benchmark: report flow vs a bare echo bot, and memory per draft."
    )
    parser.add_argument(
        "--members", type=int, default=None, help="members reporting at once (default 200)"
    )
    parser.add_argument(
        "--drafts", type=int, default=None, help="open drafts for the memory test (default 10000)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smaller smoke run (50 members, 1,000 drafts)"
    )
    parser.add_argument(
        "--no-staff",
        action="store_true",
        help="do not bind a staff chat (no staff cards through the outbox)",
    )
    parser.add_argument(
        "--draft-answers",
        type=int,
        default=1,
        choices=(1, 2, 3),
        help="answers given after /report for each memory-test draft (default 1)",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="write a cProfile of the timed report flow to FILE (slows the flow down)",
    )
    parser.add_argument("--draft-workers", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory test")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.members is None:
        args.members = 50 if args.quick else 200
    if args.drafts is None:
        args.drafts = 1000 if args.quick else 10_000
    if args.members < 1 or args.drafts < 1:
        parser.error("--members and --drafts must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    errors = setup_logging()
    if args.memory_child:
        result = asyncio.run(memory_child(args.drafts, args.draft_answers, args.draft_workers))
        print(json.dumps(result), flush=True)
        return 0

    began = time.perf_counter()
    print(
        f"intake benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{args.members} members, {args.drafts:,} drafts",
        flush=True,
    )
    try:
        ok = run_all(args, errors)
    except Exception as exc:  # a crashed phase is a failed run, said in one line
        log.debug("benchmark crashed", exc_info=True)
        print(f"intake: FAIL, the benchmark crashed: {exc!r}", flush=True)
        import traceback

        traceback.print_exc()
        ok = False
    print(f"total {time.perf_counter() - began:.0f} s", flush=True)
    return 0 if ok else 1


def run_all(args: argparse.Namespace, errors: ErrorCounter) -> bool:
    before, *reference = asyncio.run(
        run_echo(args.members, ECHO_MESSAGES_PER_USER, ECHO_INTERACTIVE_PER_USER)
    )
    print_echo("echo baseline, before the flow", before)
    for ref in reference:
        print_echo("(reference only) echo, each user waiting for every answer", ref)
    warmup = max(5, args.members // 20)
    flow = asyncio.run(run_flow(args.members, warmup, not args.no_staff, errors, args.profile))
    lat = [x * 1000 for x in flow.latencies]
    print(
        f"  report flow: {flow.members} members x {FLOW_STEPS} steps = {flow.steps} steps in "
        f"{flow.seconds:.2f} s -> {flow.rate:.1f} steps/s "
        f"({1000 * flow.loop_cpu / max(1, flow.steps):.2f} ms loop CPU/step, event loop busy "
        f"{100 * flow.loop_cpu / flow.seconds:.0f}%); step latency ms p50 "
        f"{percentile(lat, 0.5):.0f}, p95 {percentile(lat, 0.95):.0f}, "
        f"max {max(lat, default=float('nan')):.0f}",
        flush=True,
    )
    print(
        f"  verified: {flow.codes}/{flow.members} confirmations with a code, "
        f"{flow.reports_in_db}/{flow.expected_reports} reports in the database (incl. "
        f"{flow.expected_reports - flow.members} warm-up), staff cards queued "
        f"{flow.staff_queued}/{flow.staff_expected} ({flow.staff_delivered} delivered so far, "
        f"{flow.staff_failed} failed), {flow.logged_errors} errors logged",
        flush=True,
    )
    calls = flow.calls
    print(
        "  Bot API calls during the flow: "
        + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
        + f" ({sum(v for k, v in calls.items() if k != 'getUpdates') / max(1, flow.steps):.2f}"
        f" calls/step, {flow.steps / max(1, calls.get('getUpdates', 0)):.1f} updates per "
        "getUpdates)",
        flush=True,
    )
    for problem in flow.errors[:5]:
        print(f"  ! {problem}", flush=True)
    if flow.first_logged_error:
        print(f"  ! first logged error: {flow.first_logged_error}", flush=True)

    # The machine is shared: measure the baseline again after the flow and use the mean.
    (after,) = asyncio.run(run_echo(args.members, ECHO_MESSAGES_PER_USER, 0))
    print_echo("echo baseline, after the flow", after)
    echo_rate = (before.rate + after.rate) / 2
    ratio = flow.rate / echo_rate
    flow_ok = flow.verified and ratio >= RATIO_TARGET
    print(
        f"intake: echo {echo_rate:.1f} upd/s, report flow {flow.rate:.1f} steps/s, "
        f"ratio {ratio:.2f} (target >= {RATIO_TARGET:.2f}) "
        f"{verdict(flow_ok)}{'' if flow.verified else ' (run NOT verified)'}",
        flush=True,
    )
    if args.skip_memory:
        return flow_ok

    memory = run_memory(args.drafts, args.draft_answers, args.draft_workers)
    d = memory.data
    memory_ok = memory.verified and memory.with_drafts < MEMORY_TARGET_MB
    print(
        f"  memory child: RSS {d['rss_imported_mb']:.0f} MB after imports, "
        f"{d['rss_core_mb']:.0f} MB with the core built; {d['open_drafts']:,}/{d['drafts']:,} "
        f"drafts open (/report + {d['answers']} answer(s) each, {d['seconds']:.0f} s), "
        f"peak {d['peak_rss_mb'] or 0:.0f} MB",
        flush=True,
    )
    print(
        "  RSS by drafts open (after registering the users): "
        + ", ".join(f"{n:,}: {mb:.0f} MB" for n, mb in d["series"]),
        flush=True,
    )
    print(
        f"memory: baseline {memory.baseline:.0f} MB, with {d['drafts']:,} open drafts "
        f"{memory.with_drafts:.0f} MB (+{memory.with_drafts - memory.baseline:.0f} MB, "
        f"target < {MEMORY_TARGET_MB:.0f} MB) {verdict(memory_ok)}"
        f"{'' if memory.verified else ' (drafts NOT verified)'}",
        flush=True,
    )
    return flow_ok and memory_ok


if __name__ == "__main__":
    sys.exit(main())
