"""Pieces the benchmarks share: settings on a scratch directory, logging that counts errors, bulk
registration, an in-process fake Bot API server with cheap per-chat waiting, a rate-limited fake
in its own process, and the echo-bot baseline every ratio is measured against.

Not a benchmark itself; the scripts next to it import it (they put the project root on
``sys.path`` first, since neither ``bench`` nor ``tests`` is an installed package).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import shutil
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "123456:BENCH-TOKEN"
STEP_TIMEOUT = 60.0  # seconds a person waits for one answer before the run is declared failed
ECHO_FIRST_USER_ID = 810_000_000

log = logging.getLogger("bench")


# ------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class ErrorCounter(logging.Handler):
    """Counts ERROR records (the dispatcher logs every failed update), so they are reported."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = f"{record.name}: {record.getMessage()}"


def setup_logging() -> ErrorCounter:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "telegram", "aiohttp.access", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    counter = ErrorCounter()
    logging.getLogger().addHandler(counter)
    return counter


def make_settings(workdir: Path, **overrides: Any) -> Any:
    from bot.config import Settings

    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{(workdir / 'bench.db').as_posix()}",
        "data_dir": workdir,
        "attachments_dir": workdir / "attachments",
        "telegram_bot_token": "",
        "zalo_bot_token": "",
        "web_port": 0,
        "web_chat": False,
        "default_locale": "vi",
        "timezone": "Asia/Ho_Chi_Minh",
        "public_url": "",
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def register_members(
    core: Any,
    user_ids: list[int],
    unit_code: str | Sequence[str] = "U007",
    role: str = "member",
) -> dict[int, int]:
    """Registered people with a Telegram identity, written straight into the database in one
    transaction; returns their person ids by Telegram user id.

    ``unit_code`` is one unit, or several that the people are spread over in turn. Goes through
    ``SqlStore.register`` (the same path the onboarding flow takes) for small numbers; for
    thousands it inserts the Person + Identity rows in bulk (20x faster).
    """
    from datetime import UTC, datetime

    from sqlalchemy import func, insert
    from sqlmodel import col, select

    from handlers.ports import Registration
    from storage.models import Identity, OrgUnit, Person
    from storage.store import SqlStore

    units = [unit_code] if isinstance(unit_code, str) else list(unit_code)
    async with core.sessions() as session, session.begin():
        if len(user_ids) <= 1000:
            store = SqlStore(session)
            people = {}
            for n, uid in enumerate(user_ids):
                person = await store.register(
                    Registration(
                        channel="telegram",
                        external_id=str(uid),
                        username=f"m{uid}",
                        display_name=f"Thành viên {uid}",
                        unit_code=units[n % len(units)],
                        role=role,
                        locale="vi",
                        invite_code=None,
                    )
                )
                people[uid] = person.id
            return people
        # Core executemany with explicit ids: no ORM objects, so the memory test's heap is not
        # inflated by 20,000 identity-mapped instances before it even starts.
        unit_ids = dict(
            (
                await session.execute(
                    select(OrgUnit.code, OrgUnit.id).where(col(OrgUnit.code).in_(units))
                )
            ).all()
        )
        first = (await session.execute(select(func.max(col(Person.id))))).scalar_one() or 0
        now = datetime.now(UTC)
        for start in range(0, len(user_ids), 2000):
            chunk = list(enumerate(user_ids[start : start + 2000], first + 1 + start))
            await session.execute(
                insert(Person),
                [
                    {
                        "id": pid,
                        "display_name": f"Thành viên {uid}",
                        "role": role,
                        "unit_id": unit_ids[units[(pid - first - 1) % len(units)]],
                        "locale": "vi",
                        "privacy_accepted_at": now,
                        "created_at": now,
                    }
                    for pid, uid in chunk
                ],
            )
            await session.execute(
                insert(Identity),
                [
                    {
                        "person_id": pid,
                        "channel": "telegram",
                        "external_id": str(uid),
                        "username": f"m{uid}",
                        "created_at": now,
                    }
                    for pid, uid in chunk
                ],
            )
    return {uid: pid for pid, uid in enumerate(user_ids, first + 1)}


class FlowError(Exception):
    """The bot did not answer as a person would expect: the run measured a failure."""


# ------------------------------------------------------------------------------------------------
# the fake server, with cheap per-chat waiting
# ------------------------------------------------------------------------------------------------
def bench_fake() -> Any:
    """A FakeTelegram that wakes exactly the waiter of the chat a message went to.

    ``FakeTelegram.wait_for_messages`` wakes *every* waiter on *every* API call; with 200
    members waiting that is O(members x calls) wake-ups in the bot's own event loop, which would
    tax the product and not the baseline. Counting here keeps the client side O(1) per message.
    """
    from tests.fake_telegram import FakeTelegram, chat_key

    class BenchFake(FakeTelegram):
        def __init__(self) -> None:
            super().__init__()
            self.sent_count = 0
            self.per_chat: defaultdict[str, int] = defaultdict(int)
            self._chat_waiters: dict[str, tuple[int, asyncio.Future[None]]] = {}
            self._total_waiter: tuple[int, asyncio.Future[None]] | None = None

        def _store_bot_message(self, method: str, params: Any, body: Any) -> Any:
            result = super()._store_bot_message(method, params, body)
            self.sent_count += 1
            key = chat_key(params["chat_id"])
            self.per_chat[key] += 1
            waiter = self._chat_waiters.get(key)
            if waiter and self.per_chat[key] >= waiter[0] and not waiter[1].done():
                waiter[1].set_result(None)
            total = self._total_waiter
            if total and self.sent_count >= total[0] and not total[1].done():
                total[1].set_result(None)
            return result

        def count(self, chat_id: int | str) -> int:
            return self.per_chat[chat_key(chat_id)]

        async def wait_count(self, chat_id: int | str, count: int, timeout: float) -> None:  # noqa: ASYNC109
            key = chat_key(chat_id)
            if self.per_chat[key] >= count:
                return
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._chat_waiters[key] = (count, future)
            try:
                await asyncio.wait_for(future, timeout)
            finally:
                self._chat_waiters.pop(key, None)

        async def wait_total(self, count: int, timeout: float) -> None:  # noqa: ASYNC109
            if self.sent_count >= count:
                return
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._total_waiter = (count, future)
            try:
                await asyncio.wait_for(future, timeout)
            finally:
                self._total_waiter = None

        async def replay(self, records: list[dict[str, Any]]) -> None:
            """Messages another fake recorded (``/_control/sent``) as if this server had sent
            them, so people here can press the buttons of what they really received."""
            for record in records:
                await self._api_sendMessage(
                    {k: record[k] for k in ("chat_id", "text", "reply_markup") if record.get(k)}
                )

    return BenchFake()


# ------------------------------------------------------------------------------------------------
# a rate-limited fake Bot API server in its own process
# ------------------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def rate_limited_fake(limit: float) -> AsyncIterator[str]:
    """``python -m tests.fake_telegram --rate-limit N`` in a child process, so its own CPU does
    not slow the bot's event loop down; yields its URL and stops it afterwards."""
    fake = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fake_telegram",
        "--port",
        "0",
        "--rate-limit",
        str(limit),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert fake.stdout is not None
        yield (await fake.stdout.readline()).decode().strip()
    finally:
        fake.terminate()
        await fake.wait()


def fetch(url: str) -> Any:
    """A control endpoint of a fake server (a benchmark's own local server), parsed."""
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())["result"]


# ------------------------------------------------------------------------------------------------
# 1. baseline: a bare echo bot
# ------------------------------------------------------------------------------------------------
@dataclass
class EchoResult:
    updates: int
    users: int
    seconds: float
    loop_cpu: float  # CPU seconds of the event-loop thread during the timed part
    get_updates: int  # getUpdates calls during the timed part

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


async def run_echo(
    users: int, per_user: int, interactive_per_user: int, first_user_id: int = ECHO_FIRST_USER_ID
) -> tuple[EchoResult, ...]:
    """The baseline (a burst of ``users x per_user`` updates), then, for reference only, the same
    bot with each user waiting for the echo before sending the next message."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    fake = bench_fake()
    await fake.start()
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{fake.url}/bot")
        .base_file_url(f"{fake.url}/file/bot")
        .concurrent_updates(16)
        .build()
    )

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    # The same polling parameters as the product's adapter (bot/channels/telegram.py).
    await app.updater.start_polling(
        poll_interval=0.0, timeout=25, allowed_updates=["message", "callback_query"]
    )
    ids = [first_user_id + i for i in range(users)]

    async def timed(send: Callable[[], Any], updates: int) -> EchoResult:
        target = fake.sent_count + updates
        polls = fake.calls["getUpdates"]
        gc.collect()
        cpu = time.thread_time()
        started = time.perf_counter()
        await send()
        try:
            await fake.wait_total(target, timeout=STEP_TIMEOUT * 5)
        except TimeoutError as exc:
            raise FlowError(
                f"echo: only {updates - (target - fake.sent_count)} of {updates} replies arrived"
            ) from exc
        return EchoResult(
            updates,
            users,
            time.perf_counter() - started,
            time.thread_time() - cpu,
            fake.calls["getUpdates"] - polls,
        )

    def burst(rounds: int) -> Callable[[], Any]:
        async def send() -> None:
            for r in range(rounds):
                for uid in ids:
                    fake.user_text(uid, f"tin nhắn {r} của {uid}")

        return send

    def conversation(rounds: int) -> Callable[[], Any]:
        async def one(uid: int) -> None:
            for r in range(rounds):
                before = fake.count(uid)
                fake.user_text(uid, f"câu {r} của {uid}")
                await fake.wait_count(uid, before + 1, STEP_TIMEOUT)

        async def send() -> None:
            await asyncio.gather(*(one(uid) for uid in ids))

        return send

    try:
        await timed(burst(1), users)  # warm-up: connections, PTB and aiohttp code paths
        results = [await timed(burst(per_user), users * per_user)]
        if interactive_per_user:
            results.append(
                await timed(conversation(interactive_per_user), users * interactive_per_user)
            )
        return tuple(results)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await fake.stop()


def print_echo(label: str, echo: EchoResult) -> None:
    print(
        f"  {label}: {echo.updates} updates from {echo.users} users in {echo.seconds:.2f} s "
        f"-> {echo.rate:.1f} upd/s ({1000 * echo.loop_cpu / echo.updates:.2f} ms loop "
        f"CPU/update, {echo.updates / max(1, echo.get_updates):.1f} updates per getUpdates)",
        flush=True,
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
