"""Intake benchmark: the report flow against two baselines doing the same Bot API work, step
latency when many members act at once, and memory per open draft.

Run from the project root::

    uv run python bench/intake.py            # full run, 10+ minutes on 2 cores
    uv run python bench/intake.py --quick    # smoke run, a few minutes

Three bots, each on its own in-process fake Bot API server (``tests/fake_telegram.py``), all
started in this process and measured interleaved (flow, A, B, then B, A, flow, … for several
rounds; the medians count), because the machine is shared and noisy:

- **flow**: the real product (core + Telegram adapter + delivery worker, SQLite by default, every
  step committed durably before its answer goes out).
- **A, the HTTP floor**: bare python-telegram-bot answering each update with exactly the calls a
  flow step makes (answerCallbackQuery + editMessageText + sendMessage for a tap, sendMessage for
  a typed answer, two sendMessage for /report) and keeping no state.
- **B, what a developer would write instead**: the same eight-step report form as an idiomatic
  ConversationHandler with python-telegram-bot's PicklePersistence, making the same calls.

Closed loop: every member walks the eight steps at once, waiting for each answer; steps/s and
CPU per step (process CPU time / steps: it counts the database threads too and is far less noisy
than the rates). Open loop: ``--open-members`` members whose steps arrive as a Poisson process at
``--open-rate`` steps/s for ``--open-seconds``; step latency from the planned arrival to the
answer (so a late start counts), p50/p95/p99 for the flow and for A. Memory: a fresh child process
opens N report drafts through ``core.dispatcher.handle``.

Every run is verified (each member got a report code; for the flow the report table holds them
all and each queued its staff card): failures never count as speed. The exit status is 0 when
every target is met and the run verified, 1 otherwise. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import itertools
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event

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
    register_members,
    scratch_dir,
    setup_logging,
    verdict,
)

FLOW_STEPS = 8  # /report, category, urgency, my unit, description, Done, anonymity, Send
FLOOR_TARGET = 0.85  # flow steps/s >= 0.85 x A
PTB_TARGET = 1.0  # flow steps/s >= 1.0 x B
P95_TARGET_MS = 250.0
P99_TARGET_MS = 500.0
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


def _button(message: dict[str, Any], index: int) -> str:
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard") or []
    if not rows:
        raise FlowError(f"expected buttons, got: {message.get('text')!r}")
    return str(rows[index % len(rows)][0]["callback_data"])


def report_code(message: dict[str, Any]) -> str | None:
    text = str(message.get("text") or "")
    return next((w.strip(".,:;") for w in text.split() if w.startswith("PA-")), None)


def report_plan(n: int) -> list[tuple[str, Any, int]]:
    """The eight steps of member ``n``'s report: (say text | press button index, answers)."""
    return [
        ("say", "/report", 2),  # "New report…" + the category question
        ("press", n % 7, 1),  # category
        ("press", n % 2, 1),  # urgency
        ("press", 0, 1),  # "My unit"
        ("say", DESCRIPTION.format(n=n), 1),  # description -> attachments question
        ("press", 0, 1),  # Done, no attachments
        ("press", n % 3, 1),  # anonymity -> review
        ("press", 0, 1),  # Send
    ]


async def take_step(
    fake: Any, uid: int, n: int, step: tuple[str, Any, int], last: dict[str, Any]
) -> dict[str, Any]:
    """One action of member ``uid``; returns the bot's last message to them once it answered."""
    kind, arg, expect = step
    before = fake.count(uid)
    if kind == "say":
        fake.user_text(uid, arg, first_name=f"Member {n}")
    else:
        data = _button(last, arg)
        fake.press_button(uid, last["message_id"], data, check=False)
    try:
        await fake.wait_count(uid, before + expect, STEP_TIMEOUT)
    except TimeoutError as exc:
        seen = fake.messages_to(uid)[-1:] or [{}]
        raise FlowError(
            f"member {uid}: no answer within {STEP_TIMEOUT}s; last: {seen[0].get('text')!r}"
        ) from exc
    return dict(fake.last_message_to(uid))


async def member_flow(fake: Any, uid: int, n: int, latencies: list[float]) -> str:
    """One member files a report, step by step, waiting for each answer. Returns the code."""
    msg: dict[str, Any] = {}
    plan = report_plan(n)
    for i, step in enumerate(plan):
        if i == len(plan) - 1:
            _button(msg, 0)  # the review must offer Send
        started = time.perf_counter()
        msg = await take_step(fake, uid, n, step, msg)
        latencies.append(time.perf_counter() - started)
    code = report_code(msg)
    if code is None:
        raise FlowError(f"member {uid}: no report code in the confirmation: {msg.get('text')!r}")
    return code


@dataclass
class Run:
    """One measured run of one bot."""

    bot: str
    steps: int
    seconds: float
    loop_cpu: float  # CPU seconds of the event-loop thread
    cpu: float  # CPU seconds of the whole process (the database threads too)
    latencies: list[float]
    codes: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / max(1, self.steps)

    @property
    def loop_cpu_ms(self) -> float:
        return 1000 * self.loop_cpu / max(1, self.steps)

    def ms(self, q: float) -> float:
        return 1000 * percentile(self.latencies, q)


@contextlib.contextmanager
def measured(run: Run) -> Iterator[Run]:
    gc.collect()
    loop_cpu, cpu, started = time.thread_time(), time.process_time(), time.perf_counter()
    yield run
    run.seconds = time.perf_counter() - started
    run.loop_cpu = time.thread_time() - loop_cpu
    run.cpu = time.process_time() - cpu
    run.steps = len(run.latencies)


async def closed_loop(bot: Any, ids: list[int], first_n: int = 0) -> Run:
    """Every member files one report at once, each waiting for every answer."""
    run = Run(bot.name, 0, 0.0, 0.0, 0.0, [])
    with measured(run):
        outcomes = await asyncio.gather(
            *(member_flow(bot.fake, uid, first_n + i, run.latencies) for i, uid in enumerate(ids)),
            return_exceptions=True,
        )
    run.errors = [str(o) for o in outcomes if isinstance(o, BaseException)]
    run.codes = {o for o in outcomes if isinstance(o, str)}
    return run


async def open_loop(bot: Any, ids: list[int], rate: float, seconds: float, seed: int) -> Run:
    """Steps arrive as a Poisson process at ``rate``/s, each taken by a member who is not
    waiting for an answer (chosen at random); a member starts a new report after Send. The
    latency runs from the planned arrival, so a loop too busy to start a step on time pays."""
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    idle = list(range(len(ids)))
    position = [0] * len(ids)
    last: list[dict[str, Any]] = [{} for _ in ids]
    run = Run(bot.name, 0, 0.0, 0.0, 0.0, [])
    skipped = 0

    async def one(m: int, planned: float) -> None:
        plan = report_plan(m)
        try:
            last[m] = await take_step(bot.fake, ids[m], m, plan[position[m]], last[m])
            run.latencies.append(loop.time() - planned)
            position[m] = (position[m] + 1) % len(plan)
            if position[m] == 0 and report_code(last[m]) is None:
                run.errors.append(f"member {ids[m]}: no report code after Send")
            elif position[m] == 0:
                run.codes.add(str(report_code(last[m])))
        except FlowError as exc:
            run.errors.append(str(exc))
            return  # this member is stuck: it does not take steps any more
        idle.append(m)

    tasks = []
    with measured(run):
        planned = loop.time()
        end = planned + seconds
        while True:
            planned += rng.expovariate(rate)
            if planned >= end:
                break
            await asyncio.sleep(max(0.0, planned - loop.time()))
            if not idle:
                skipped += 1
                continue
            m = idle.pop(rng.randrange(len(idle)))
            tasks.append(asyncio.ensure_future(one(m, planned)))
        await asyncio.gather(*tasks)
    if skipped:
        run.errors.append(f"{skipped} arrivals found every member waiting")
    return run


# ------------------------------------------------------------------------------------------------
# the three bots
# ------------------------------------------------------------------------------------------------
class FlowBot:
    """The real product: build_core + seed_demo + Runner (Telegram adapter, dispatcher, delivery
    worker) on a scratch database, with a staff chat bound so every report queues its card."""

    name = "flow"

    def __init__(self, database_url: str | None, staff: bool) -> None:
        self.database_url = database_url
        self.staff = staff
        self.fake = bench_fake()
        self.stack = contextlib.AsyncExitStack()
        self.core: Any = None
        self.reports_expected = 0

    async def __aenter__(self) -> FlowBot:
        from bot.app import Runner, build_core, seed_demo
        from storage import admin

        await self.fake.start()
        self.stack.push_async_callback(self.fake.stop)
        workdir = self.stack.enter_context(scratch_dir("grassroots-bench-flow-"))
        overrides: dict[str, Any] = {"telegram_concurrency": 16}
        if self.database_url:
            overrides["database_url"] = self.database_url
        settings = make_settings(
            workdir, telegram_bot_token=TOKEN, telegram_api_url=self.fake.url, **overrides
        )
        self.core = await build_core(settings)
        self.stack.push_async_callback(self.core.close)
        await seed_demo(self.core)
        if self.staff:
            async with self.core.sessions() as session, session.begin():
                await admin.bind_chat(session, "staff", "telegram", str(STAFF_CHAT))
        runner = Runner(self.core)
        await runner.start()
        self.stack.push_async_callback(runner.stop)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()

    async def prepare(self, ids: list[int]) -> None:
        await register_members(self.core, ids)

    async def verify(self, run: Run) -> None:
        """Every confirmed code is in the report table, every report queued its staff card."""
        from sqlalchemy import func
        from sqlmodel import select

        from storage import admin
        from storage.models import OutboxMessage, Report

        self.reports_expected += len(run.codes)
        async with self.core.sessions() as session:
            in_db = (await session.execute(select(func.count()).select_from(Report))).scalar_one()
            listed = await admin.list_reports(session, limit=in_db + 10)
            # Staff cards are written to the outbox in the report's own transaction; the worker
            # paces them at ~20 a minute per group, so count the queue instead of waiting.
            cards = dict(
                (
                    await session.execute(
                        select(OutboxMessage.status, func.count())
                        .where(OutboxMessage.chat_id == str(STAFF_CHAT))
                        .group_by(OutboxMessage.status)
                    )
                ).all()
            )
        missing = run.codes - {r["code"] for r in listed}
        if missing:
            run.errors.append(f"{len(missing)} confirmed codes missing from the report table")
        if in_db != self.reports_expected:
            run.errors.append(f"{in_db} reports in the database, {self.reports_expected} expected")
        if self.staff and (sum(cards.values()) < in_db or cards.get("failed", 0)):
            run.errors.append(f"staff cards {cards} for {in_db} reports")


def ptb_application(fake: Any, persistence: Any = None) -> Any:
    """A python-telegram-bot application as its documentation builds one (default transport)."""
    from telegram.ext import ApplicationBuilder

    builder = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{fake.url}/bot")
        .base_file_url(f"{fake.url}/file/bot")
        .concurrent_updates(16)
    )
    if persistence is not None:
        builder = builder.persistence(persistence)
    return builder.build()


class PtbBot:
    """A baseline bot on python-telegram-bot's own Updater, with the product's polling
    parameters; subclasses add the handlers."""

    name = "?"

    def __init__(self) -> None:
        self.fake = bench_fake()
        self.stack = contextlib.AsyncExitStack()
        self.app: Any = None

    def build(self, workdir: Path) -> Any:
        raise NotImplementedError

    async def __aenter__(self) -> PtbBot:
        await self.fake.start()
        self.stack.push_async_callback(self.fake.stop)
        self.app = self.build(self.stack.enter_context(scratch_dir("grassroots-bench-ptb-")))
        await self.app.initialize()
        self.stack.push_async_callback(self.app.shutdown)
        await self.app.start()
        self.stack.push_async_callback(self.app.stop)
        await self.app.updater.start_polling(
            poll_interval=0.0, timeout=25, allowed_updates=["message", "callback_query"]
        )
        self.stack.push_async_callback(self.app.updater.stop)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()

    async def prepare(self, ids: list[int]) -> None:
        pass

    async def verify(self, run: Run) -> None:
        pass


def buttons(labels: list[str], prefix: str) -> Any:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=f"{prefix}:{i}")]
            for i, label in enumerate(labels)
        ]
    )


CATEGORIES = ["Lương", "Giờ làm", "An toàn", "Bảo hiểm", "Hợp đồng", "Kỷ luật", "Khác"]


class FloorBot(PtbBot):
    """A: the HTTP floor. No state, no storage: each update gets exactly the Bot API calls a flow
    step makes, and every answer carries a code and a keyboard so the driver can go on."""

    name = "A"

    def build(self, workdir: Path) -> Any:
        from telegram import Update
        from telegram.ext import CallbackQueryHandler, ContextTypes, MessageHandler, filters

        app = ptb_application(self.fake)

        async def text(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.message is not None and update.effective_user is not None
            if update.message.text == "/report":
                await update.message.reply_text("Báo cáo mới. Trả lời từng câu hỏi.")
            code = f"PA-A{update.effective_user.id}"
            await update.message.reply_text(
                f"Câu hỏi tiếp. Mã {code}", reply_markup=buttons(CATEGORIES, "a")
            )

        async def tap(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
            query = update.callback_query
            assert query is not None and query.message is not None and update.effective_user
            code = f"PA-A{update.effective_user.id}"
            await asyncio.gather(
                query.answer(),
                query.edit_message_text(f"{getattr(query.message, 'text', '')}\n\n✓ {query.data}"),
            )
            await query.message.chat.send_message(
                f"Câu hỏi tiếp. Mã {code}", reply_markup=buttons(CATEGORIES, "a")
            )

        app.add_handler(MessageHandler(filters.TEXT, text))
        app.add_handler(CallbackQueryHandler(tap))
        return app


# The questions of the eight-step form, in order, for baseline B: (text, button labels).
FORM = [
    ("Loại vấn đề?", CATEGORIES),
    ("Mức độ khẩn cấp?", ["Bình thường", "Khẩn cấp"]),
    ("Đơn vị nào?", ["Đơn vị của tôi", "Đơn vị khác"]),
    ("Mô tả sự việc.", []),
    ("Gửi ảnh hoặc tệp, hoặc bấm Xong.", ["Xong"]),
    ("Ai được biết tên bạn?", ["Công khai", "Bảo mật", "Ẩn danh"]),
    ("Xem lại và gửi.", ["Gửi", "Huỷ"]),
]


class ConversationBot(PtbBot):
    """B: what a developer would write instead, the same form as an idiomatic ConversationHandler
    with PicklePersistence, making the same Bot API calls as the flow. Pickle is what we compare
    against here, in this bench-only baseline; the product uses none (its state is JSON rows in
    the database, committed at every step)."""

    name = "B"

    def build(self, workdir: Path) -> Any:
        from telegram import Update
        from telegram.ext import (
            CallbackQueryHandler,
            CommandHandler,
            ContextTypes,
            ConversationHandler,
            MessageHandler,
            PicklePersistence,
            filters,
        )

        app = ptb_application(self.fake, PicklePersistence(workdir / "conversations.pickle"))
        codes = itertools.count(1)

        async def ask(update: Update, state: int) -> int:
            question, labels = FORM[state]
            chat = update.effective_chat
            assert chat is not None
            await chat.send_message(
                question, reply_markup=buttons(labels, str(state)) if labels else None
            )
            return state

        async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
            assert update.message is not None and context.user_data is not None
            context.user_data["report"] = {}
            await update.message.reply_text("Báo cáo mới. Trả lời từng câu hỏi.")
            return await ask(update, 0)

        def answered(state: int) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[int]]:
            async def on_tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
                query = update.callback_query
                assert query is not None and context.user_data is not None
                context.user_data["report"][state] = query.data
                await asyncio.gather(
                    query.answer(),
                    query.edit_message_text(f"{FORM[state][0]}\n\n✓ {query.data}"),
                )
                if state + 1 < len(FORM):
                    return await ask(update, state + 1)
                chat = update.effective_chat
                assert chat is not None
                await chat.send_message(f"Đã gửi. Mã báo cáo PA-B{next(codes):05d}.")
                return ConversationHandler.END

            return on_tap

        async def described(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
            assert update.message is not None and context.user_data is not None
            context.user_data["report"][3] = update.message.text
            return await ask(update, 4)

        states: dict[object, list[Any]] = {
            s: [CallbackQueryHandler(answered(s))] for s, (_q, labels) in enumerate(FORM) if labels
        }
        states[3] = [MessageHandler(filters.TEXT & ~filters.COMMAND, described)]
        with warnings.catch_warnings():  # per_message=False with callback handlers: intended
            warnings.simplefilter("ignore")
            app.add_handler(
                ConversationHandler(
                    entry_points=[CommandHandler("report", start)],
                    states=states,
                    fallbacks=[CommandHandler("report", start)],
                    name="report",
                    persistent=True,
                )
            )
        return app


class DurableConversationBot(ConversationBot):
    """B with the flow's durability, for information (--durable-b): PicklePersistence written
    after every update instead of once a minute. PTB's `Application.update_persistence()` is
    the documented way to write it now; run in a handler group after the conversation's, so the
    state the step moved to is what gets written (the answer went out just before it)."""

    name = "B-durable"

    def build(self, workdir: Path) -> Any:
        from telegram import Update
        from telegram.ext import ContextTypes, TypeHandler

        app = super().build(workdir)

        async def flush(_update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await context.application.update_persistence()

        app.add_handler(TypeHandler(Update, flush), group=1)
        return app


# ------------------------------------------------------------------------------------------------
# the comparison: closed-loop rounds interleaved, then the open loop
# ------------------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def fresh_postgres(admin_url: str) -> Any:
    """A new, empty PostgreSQL database for the run, dropped afterwards; yields its URL."""
    import uuid

    import asyncpg

    name = f"gr_bench_intake_{uuid.uuid4().hex[:10]}"
    plain = admin_url.replace("+asyncpg", "")
    conn = await asyncpg.connect(plain)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        conn = await asyncpg.connect(plain)
        with contextlib.suppress(Exception):
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def run_line(run: Run) -> str:
    bad = f", {len(run.errors)} FAILED: {run.errors[0][:120]}" if run.errors else ""
    return (
        f"{run.bot} {run.rate:.1f} steps/s, {run.cpu_ms:.2f} ms CPU/step "
        f"({run.loop_cpu_ms:.2f} loop), p50 {run.ms(0.5):.0f} ms{bad}"
    )


class Ids:
    """Fresh Telegram user ids: every run has members who have not reported yet."""

    def __init__(self) -> None:
        self.next = FIRST_MEMBER_ID

    def take(self, n: int) -> list[int]:
        self.next += n
        return list(range(self.next - n, self.next))


async def closed_rounds(
    args: argparse.Namespace, bots: list[Any], ids: Ids
) -> dict[str, list[Run]]:
    """Warm-up, then ``args.rounds`` rounds of every bot in turn, the order reversed each round."""
    runs: dict[str, list[Run]] = {bot.name: [] for bot in bots}
    tally = StatementTally(None)  # with --statements, the flow's first timed round
    for bot in bots:
        warm = ids.take(max(5, args.members // 20))
        await bot.prepare(warm)
        run = await closed_loop(bot, warm)
        await bot.verify(run)
        if run.errors:
            raise FlowError(f"warm-up of {bot.name} failed: {run.errors[0]}")
    for r in range(args.rounds):
        line = []
        for bot in bots if r % 2 == 0 else bots[::-1]:
            members = ids.take(args.members)
            await bot.prepare(members)
            first_flow = bot.name == "flow" and r == 0
            profile = args.profile if first_flow else None
            if first_flow and args.statements:
                tally = StatementTally(bot)
            with tally if first_flow else contextlib.nullcontext():
                run = await profiled(closed_loop(bot, members), profile)
            await bot.verify(run)
            runs[bot.name].append(run)
            line.append(run_line(run))
        print(f"  round {r + 1}: " + " | ".join(line), flush=True)
        if r == 0 and args.statements:
            print(tally.summary(len(runs["flow"][0].latencies)), flush=True)
    return runs


class StatementTally:
    """With --statements: the SQL statements and commits of the flow's first timed round, per
    step, counted by SQLAlchemy's event hooks on the flow's engine (the delivery worker's too)."""

    def __init__(self, bot: Any) -> None:
        self.engine = bot.core.db.sync_engine if bot is not None else None
        self.statements: collections.Counter[str] = collections.Counter()
        self.commits = 0

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.statements[" ".join(statement.split())[:70]] += 1

    def _commit(self, _conn: Any) -> None:
        self.commits += 1

    def __enter__(self) -> StatementTally:
        if self.engine is not None:
            event.listen(self.engine, "before_cursor_execute", self._statement)
            event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.engine is not None:
            event.remove(self.engine, "before_cursor_execute", self._statement)
            event.remove(self.engine, "commit", self._commit)

    def summary(self, steps: int) -> str:
        total = sum(self.statements.values())
        top = "\n".join(f"    {n / steps:5.2f}  {sql}" for sql, n in self.statements.most_common(8))
        return (
            f"  flow SQL, round 1: {total / max(1, steps):.2f} statements and "
            f"{self.commits / max(1, steps):.2f} commits per step; the most frequent:\n{top}"
        )


async def profiled(work: Awaitable[Run], profile: str | None) -> Run:
    if not profile:
        return await work
    import cProfile  # only with --profile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return await work
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


def median(runs: list[Run], value: Callable[[Run], float]) -> float:
    return statistics.median(value(r) for r in runs) if runs else float("nan")


def report_closed(runs: dict[str, list[Run]], args: argparse.Namespace) -> bool:
    """Medians over the rounds, the ratios and their targets."""
    rate = {name: median(rs, lambda r: r.rate) for name, rs in runs.items()}
    cpu = {name: median(rs, lambda r: r.cpu_ms) for name, rs in runs.items()}
    verified = all(not r.errors for rs in runs.values() for r in rs)
    for name, rs in runs.items():
        print(
            f"  median of {len(rs)} ({args.members} members x {FLOW_STEPS} steps each): {name} "
            f"{rate[name]:.1f} steps/s, {cpu[name]:.2f} ms CPU/step",
            flush=True,
        )
    vs_a, vs_b = rate["flow"] / rate["A"], rate["flow"] / rate["B"]
    ok_a, ok_b = vs_a >= FLOOR_TARGET, vs_b >= PTB_TARGET
    print(
        f"intake: flow/A {vs_a:.2f} (target >= {FLOOR_TARGET:.2f}) {verdict(ok_a)}; "
        f"flow/B {vs_b:.2f} (target >= {PTB_TARGET:.2f}) {verdict(ok_b)}; by CPU/step "
        f"A/flow {cpu['A'] / cpu['flow']:.2f}, B/flow {cpu['B'] / cpu['flow']:.2f}"
        f"{'' if verified else '  (run NOT verified)'}",
        flush=True,
    )
    if "flow-pg" in runs:
        print(
            f"  PostgreSQL: flow {rate['flow-pg']:.1f} steps/s, {cpu['flow-pg']:.2f} ms CPU/step, "
            f"flow/A {rate['flow-pg'] / rate['A']:.2f}, flow/B {rate['flow-pg'] / rate['B']:.2f}",
            flush=True,
        )
    return ok_a and ok_b and verified


def report_open(runs: list[Run], args: argparse.Namespace) -> bool:
    flow = runs[0]
    print(
        f"  open loop: {args.open_members} members, Poisson arrivals at {args.open_rate:g} "
        f"steps/s for {args.open_seconds:g} s; step latency p50/p95/p99/max ms:",
        flush=True,
    )
    for run in runs:
        bad = f", {len(run.errors)} FAILED: {run.errors[0][:120]}" if run.errors else ""
        print(
            f"    {run.bot}: {run.ms(0.5):.0f} / {run.ms(0.95):.0f} / {run.ms(0.99):.0f} / "
            f"{1000 * max(run.latencies, default=0):.0f} ({run.steps} steps, {len(run.codes)} "
            f"reports, {run.cpu_ms:.2f} ms CPU/step){bad}",
            flush=True,
        )
    ok = (
        flow.ms(0.95) <= P95_TARGET_MS
        and flow.ms(0.99) <= P99_TARGET_MS
        and all(not r.errors for r in runs)
    )
    print(
        f"latency: flow p95 {flow.ms(0.95):.0f} ms (target <= {P95_TARGET_MS:.0f}), p99 "
        f"{flow.ms(0.99):.0f} ms (target <= {P99_TARGET_MS:.0f}) {verdict(ok)}",
        flush=True,
    )
    return ok


async def durable_b_line(runs: dict[str, list[Run]], ids: Ids, members: int) -> None:
    """One closed-loop run of B-durable, for information: what the flow's durability costs B."""
    async with DurableConversationBot() as durable:
        warm = ids.take(max(5, members // 20))
        await closed_loop(durable, warm)
        run = await closed_loop(durable, ids.take(members))
    b_rate = median(runs["B"], lambda r: r.rate)
    b_cpu = median(runs["B"], lambda r: r.cpu_ms)
    print(
        f"  for information, B-durable (pickle written after every step): {run_line(run)}; "
        f"against B's median {run.rate / b_rate:.2f}x the steps/s, "
        f"{run.cpu_ms / b_cpu:.2f}x the CPU/step; flow/B-durable "
        f"{median(runs['flow'], lambda r: r.rate) / run.rate:.2f}",
        flush=True,
    )


async def compare(args: argparse.Namespace, errors: ErrorCounter) -> bool:
    async with contextlib.AsyncExitStack() as stack:
        flow = await stack.enter_async_context(FlowBot(args.database_url, not args.no_staff))
        bots: list[Any] = [flow]
        if args.postgres:
            url = await stack.enter_async_context(fresh_postgres(args.postgres))
            pg = await stack.enter_async_context(FlowBot(url, not args.no_staff))
            pg.name = "flow-pg"
            bots.append(pg)
        bots += [
            await stack.enter_async_context(FloorBot()),
            await stack.enter_async_context(ConversationBot()),
        ]
        ids = Ids()
        runs = await closed_rounds(args, bots, ids)
        ok = report_closed(runs, args)
        if args.durable_b:
            await durable_b_line(runs, ids, args.members)
        if errors.count:
            print(f"  ! {errors.count} errors logged, first: {errors.first}", flush=True)
            ok = False
        if args.open_seconds <= 0:
            return ok
        open_runs = []
        for bot in (flow, bots[-2]):
            members = ids.take(args.open_members)
            await bot.prepare(members)
            run = await open_loop(bot, members, args.open_rate, args.open_seconds, seed=16)
            await bot.verify(run)
            open_runs.append(run)
        return report_open(open_runs, args) and ok


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
        description="Intake benchmark: the report flow against two baselines, latency, memory."
    )
    parser.add_argument("--members", type=int, default=None, help="closed loop (default 200)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    parser.add_argument("--open-members", type=int, default=500, help="open loop (default 500)")
    parser.add_argument("--open-rate", type=float, default=50.0, help="steps/s (default 50)")
    parser.add_argument(
        "--open-seconds", type=float, default=None, help="open loop length (default 60, 0: skip)"
    )
    parser.add_argument(
        "--drafts", type=int, default=None, help="open drafts for the memory test (default 10000)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 50 members, 2 rounds, 15 s open loop, 1,000 drafts",
    )
    parser.add_argument(
        "--no-staff",
        action="store_true",
        help="do not bind a staff chat (no staff cards through the outbox)",
    )
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="also measure the flow on a fresh PostgreSQL database (an URL allowed to CREATE it)",
    )
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
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
        help="write a cProfile of the flow's first timed round to FILE (slows it down)",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="count the flow's SQL statements and commits per step in its first timed round",
    )
    parser.add_argument(
        "--durable-b",
        action="store_true",
        help="one extra closed-loop run of B writing its pickle after every step (information)",
    )
    parser.add_argument("--draft-workers", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory test")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    if args.members is None:
        args.members = 50 if quick else 200
    if args.rounds is None:
        args.rounds = 2 if quick else 3
    if args.open_seconds is None:
        args.open_seconds = 15.0 if quick else 60.0
    if args.drafts is None:
        args.drafts = 1000 if quick else 10_000
    if args.members < 1 or args.drafts < 1 or args.rounds < 1 or args.open_members < 1:
        parser.error("--members, --rounds, --open-members and --drafts must be positive")
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
        f"{args.members} members x {args.rounds} rounds, open loop {args.open_members} members, "
        f"{args.drafts:,} drafts",
        flush=True,
    )
    try:
        ok = asyncio.run(compare(args, errors))
        if not args.skip_memory:
            ok = (
                report_memory(run_memory(args.drafts, args.draft_answers, args.draft_workers))
                and ok
            )
    except Exception as exc:  # a crashed phase is a failed run, said in one line
        log.debug("benchmark crashed", exc_info=True)
        print(f"intake: FAIL, the benchmark crashed: {exc!r}", flush=True)
        import traceback  # only on a crash

        traceback.print_exc()
        ok = False
    print(f"total {time.perf_counter() - began:.0f} s", flush=True)
    return 0 if ok else 1


def report_memory(memory: MemoryResult) -> bool:
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
    return memory_ok


if __name__ == "__main__":
    sys.exit(main())
