"""The composition root: builds every part from the settings and runs them together."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.admin.app import build_admin_app
from bot.channels.context import ChannelContext
from bot.channels.webchat import WebChat
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo_client import ZaloBotClient
from bot.channels.zalo_groups import CHANNEL as OA_CHANNEL
from bot.channels.zalo_groups import StoredTokens, ZaloGroups
from bot.channels.zalo_oa import ZaloOAClient
from bot.channels.zalo_oa_events import OAGroupEvents
from bot.config import ChannelMode, Settings
from bot.dispatcher import Dispatcher
from bot.effects import CardDelivery, EffectApplier
from bot.feedback import FeedbackPage
from bot.keys import open_sealer
from bot.ops.health import Readiness, readiness_route
from bot.ops.metrics import Metrics, metrics_route
from bot.web import attachment_files, build_web_app, telegram_webhook
from handlers.engine import Engine
from handlers.forms import Catalog, load_catalog
from handlers.i18n import Translations
from handlers.ports import UnitView
from scheduler.delivery import DEFAULT_LIMITS, DeliveryWorker, Sender
from scheduler.fallback import FallbackHooks
from scheduler.leader import Election, Leadership
from scheduler.nudges import load_rules
from scheduler.ratelimit import Limits
from scheduler.schedule import Running, build_scheduler, catch_up, load_schedules
from storage import admin, demo, form_receipts, jobruns, webauth
from storage.bindings import OARoster
from storage.conversations import prune_updates
from storage.db import Database, Sessions, create_engine, is_sqlite, session_factory
from storage.leader import leader_lock
from storage.liveness import InstanceLock
from storage.migrate import upgrade
from storage.models import utcnow
from storage.oatokens import DbTokenStore
from storage.transcripts import SqlTranscripts

log = logging.getLogger(__name__)
DEMO_DIR = Path(__file__).resolve().parent.parent / "handlers" / "data" / "demo"
DEMO_UNITS = DEMO_DIR / "units.csv"
DEMO_DEPARTMENTS = DEMO_DIR / "departments.csv"
DEMO_ADMIN = "Demo admin"
UNIT_REFRESH_SECONDS = 30
HOUSEKEEPING_SECONDS = 3600
# On PostgreSQL the leader looks this often for updates an instance that died kept in the inbox
# and never handled: rows whose owner no longer holds its lock (storage/liveness.py), kept more
# than the grace ago (a row being written as its owner dies is not raced).
ORPHAN_CHECK_SECONDS = 15.0
ORPHAN_GRACE_SECONDS = 5.0
LIVENESS_CHECK_SECONDS = 5.0  # how soon a lost instance lock (a database restart) is taken again
DELIVERY_GRACE_SECONDS = 5.0  # a stop waits this long for the sends on the wire
DEDUP_DAYS = 14


@dataclass
class Core:
    """The composition root's bundle of everything channel-independent, shared by the server,
    the CLI and the tests. Jobs and pages never name it: they take their own Protocols
    (scheduler/context.py, bot/admin/context.py), which it satisfies.

    `senders` is the table of channels that are up, read by the delivery worker at each send:
    the runner adds a channel's sender when it starts it (until then its rows wait).
    `leadership` says whether this instance leads (runs the jobs and delivery), for readiness
    checks and metrics; the runner's election sets it."""

    settings: Settings
    db: Database
    sessions: Sessions
    catalog: Catalog
    translations: Translations
    engine: Engine
    dispatcher: Dispatcher
    effects: EffectApplier
    senders: dict[str, Sender]
    delivery: DeliveryWorker
    metrics: Metrics = field(default_factory=Metrics)
    leadership: Leadership = field(default_factory=Leadership)

    async def refresh_units(self) -> None:
        self.engine.units = await load_units(self.sessions)

    async def close(self) -> None:
        await self.db.dispose()


async def build_core(settings: Settings, migrate: bool = True) -> Core:
    """Load and validate data first, so a broken form file stops start-up before anything runs;
    then build each part after the parts it is given."""
    catalog = load_catalog(settings.org_dir)
    load_schedules(settings.data_file("schedules.yaml"), settings.tz)
    load_rules(settings.data_file("nudges.yaml"))
    translations = Translations(settings.default_locale)
    if migrate:  # under a lock: instances starting at once on one database are safe
        migrated = await upgrade(settings.database_url)
        if migrated.changed:
            after = ",".join(migrated.after)
            before = ",".join(migrated.before) or "empty"
            log.info("database migrated from %s to %s", before, after, extra={"revision": after})
    db = create_engine(settings.database_url, settings.database_pool_size)
    try:
        sealer = await open_sealer(settings, db)
    except BaseException:
        await db.dispose()
        raise
    sessions = session_factory(db, sealer)
    effects = EffectApplier(catalog, translations, settings.tz, settings.attachments_dir)
    senders: dict[str, Sender] = {}
    metrics = Metrics()  # this instance's own registry
    delivery = DeliveryWorker(
        sessions,
        senders,
        FallbackHooks(CardDelivery(sessions, effects), translations),
        delivery_limits(settings),
        metrics,
    )
    engine = Engine(
        catalog,
        translations,
        await load_units(sessions),
        settings.tz,
        settings.max_text_length,
        admin_url(settings),
    )
    dispatcher = Dispatcher(
        sessions, engine, translations, effects, on_commit=delivery.wake, telemetry=metrics
    )
    return Core(
        settings,
        db,
        sessions,
        catalog,
        translations,
        engine,
        dispatcher,
        effects,
        senders,
        delivery,
        metrics,
    )


async def load_units(sessions: Sessions) -> list[UnitView]:
    async with sessions() as session:
        return await admin.units(session)


def delivery_limits(settings: Settings) -> dict[str, Limits]:
    """Telegram's rates come from the settings; the other channels' are fixed."""
    return {
        **DEFAULT_LIMITS,
        "telegram": Limits(
            settings.telegram_rate_per_second,
            settings.telegram_rate_per_chat_per_second,
            settings.telegram_rate_per_group_per_minute,
        ),
    }


def admin_url(settings: Settings, port: int | None = None) -> str:
    """Where the web admin is reached: PUBLIC_URL when set, else this server's own address."""
    if settings.public_url:
        return f"{settings.public_url}/admin"
    return f"http://{settings.web_host}:{port if port is not None else settings.web_port}/admin"


async def demo_admin_link(core: Core) -> str:
    """A one-time sign-in link for the demo's administrator, created on first use."""
    async with core.sessions() as session, session.begin():
        token = await demo.demo_admin_token(session, DEMO_ADMIN, 10)
    return f"{core.engine.admin_url}/login/{token}"


async def seed_demo(core: Core) -> str | None:
    """Load the demo organisation into an empty database; returns a printable summary."""
    async with core.sessions() as session, session.begin():
        seeded = await demo.seed_demo(
            session, DEMO_UNITS.read_bytes(), DEMO_DEPARTMENTS.read_bytes()
        )
    if seeded is None:
        return None
    await core.refresh_units()
    return (
        f"Demo organisation loaded: {seeded.units} units. "
        f"Invite codes: member of U007 {seeded.member_invite}, staff {seeded.staff_invite}."
    )


# Plays the organisation's past up to a moment and says in a line what it did: the simulator
# at demo scale (bot/demo.py), handed in by the CLI, as it drives this very host.
MonthSimulator = Callable[[Core, datetime], Awaitable[str]]


HISTORY_JOB = "demo_history"  # in the job-run ledger: its "started" and "finished" rows


async def seed_demo_with_history(core: Core, simulate_month: MonthSimulator) -> str | None:
    """The demo organisation and a past month of its life, simulated up to now through the real
    engine, jobs and delivery: cases in every state, a closed poll, a situation report with late
    units, digests in the leaders' chat. None when the database has an organisation already, so
    a second start seeds nothing; a history left half-built (the start stopped while seeding) is
    refused with what to do, never served as if whole."""
    async with core.sessions() as session, session.begin():
        started = await jobruns.runs_in_period(session, HISTORY_JOB, "started")
        finished = await jobruns.runs_in_period(session, HISTORY_JOB, "finished")
        if await demo.has_units(session):
            if started and not finished:
                raise StartError(half_built_history(core.settings))
            return None
        if not started:  # in its own transaction, before the first unit is written
            await jobruns.record_run(session, HISTORY_JOB, "started", utcnow())
    summary = await seed_demo(core)
    t = core.translations(core.settings.default_locale)
    print(t("Building a sample month of activity (a few seconds)…"), flush=True)
    # On a core of its own: the simulator puts fake messengers and its clock into what it
    # drives, and none of that may stay in the one that serves.
    scratch = await build_core(core.settings, migrate=False)
    try:
        month = await simulate_month(scratch, utcnow())
    finally:
        await scratch.close()
    async with core.sessions() as session, session.begin():
        await demo.move_group_chats_to_web(session)
        await demo.drop_unsent(session)
        await jobruns.record_run(session, HISTORY_JOB, "finished", utcnow())
    await core.refresh_units()
    return f"{summary} {month}"


def half_built_history(settings: Settings) -> str:
    """What to do with a database whose demo history was interrupted while being built."""
    where = (
        f"delete {settings.database_url.split(':///', 1)[-1]} (its -wal and -shm files too)"
        if is_sqlite(settings.database_url)
        else "drop and recreate the database in DATABASE_URL"
    )
    return (
        "this database holds a demo history left half-built (an earlier `run --demo` stopped "
        f"while seeding it): {where}, then run `grassroots run --demo` again; or start without "
        "--demo to look at it as it is"
    )


class StartError(Exception):
    """A channel or the web server could not start; the message is one line for the operator."""


async def require_current_schema(settings: Settings) -> None:
    """With AUTO_MIGRATE=false an operator migrates (`grassroots db upgrade`): refuse to start
    on a database that is behind, rather than fail later on a missing column."""
    db = create_engine(settings.database_url)
    try:
        problem = await Readiness(db).schema_problem()
    except Exception as exc:
        raise StartError(f"cannot read the database's schema ({type(exc).__name__})") from None
    finally:
        await db.dispose()
    if problem:
        raise StartError(problem)


def start_failure(exc: Exception, settings: Settings) -> str:
    """One line saying what failed, without the token (PTB puts it in some messages)."""
    from telegram.error import InvalidToken, NetworkError, TelegramError

    if isinstance(exc, InvalidToken):
        return "Telegram refused the bot token: check TELEGRAM_BOT_TOKEN"
    if isinstance(exc, NetworkError):
        what = f"cannot reach the Telegram Bot API at {settings.telegram_api_url}"
    elif isinstance(exc, TelegramError):
        what = "Telegram refused to start the bot"
    else:
        what = "start-up failed"
    detail = f"{type(exc).__name__}: {exc}"
    for token in (settings.telegram_bot_token, settings.zalo_bot_token):
        if token:
            detail = detail.replace(token, "<token>")
    return f"{what} ({detail[:300]})"


@dataclass
class RunningChannel:
    """One channel as the runner holds it: its adapter (also its `Sender`), the web routes it
    serves, how it starts once the web server is up, and how it stops. A channel that fetches
    its updates (a long poll allows one consumer) fetches them only while this instance leads:
    `receive` starts that, `stop_receiving` stops it."""

    adapter: Any
    routes: list[web.AbstractRouteDef] = field(default_factory=list)
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    receive: Callable[[], Awaitable[None]] | None = None
    stop_receiving: Callable[[], Awaitable[None]] | None = None


def polling(channel: Any) -> RunningChannel:
    """A channel that long-polls its updates (Telegram's, Zalo's): no routes; it prepares once
    the web server is up and fetches only while this instance leads."""
    return RunningChannel(
        channel, [], channel.prepare_polling, channel.stop, channel.receive, channel.stop_receiving
    )


def web_chat(core: Core, context: ChannelContext) -> RunningChannel:
    settings = core.settings
    chat = WebChat(
        context,
        SqlTranscripts(core.sessions),
        secure_cookies=settings.public_url.startswith("https://"),
        trust_proxy=settings.web_trust_proxy,
    )
    # Its sender is always there (it files messages in the visitor's transcript); its pages
    # are served only when it is on.
    return RunningChannel(chat, chat.routes() if settings.web_chat_enabled else [], stop=chat.stop)


def telegram(core: Core, context: ChannelContext) -> RunningChannel:
    # Imported only when Telegram is on: python-telegram-bot is our largest import.
    from bot.channels.telegram import TelegramChannel, build_application

    settings = core.settings
    app = build_application(
        settings.telegram_bot_token, settings.telegram_api_url, settings.telegram_concurrency
    )
    channel = TelegramChannel(app, context, core.engine.command_menu())
    if settings.telegram_mode != ChannelMode.WEBHOOK:
        return polling(channel)
    secret = settings.telegram_webhook_secret
    start = functools.partial(
        channel.start_webhook, f"{settings.public_url}/telegram/webhook", secret
    )
    return RunningChannel(
        channel, [telegram_webhook(secret, channel.feed_webhook)], start, channel.stop
    )


def zalo(core: Core, context: ChannelContext) -> RunningChannel:
    settings = core.settings
    client = ZaloBotClient(settings.zalo_bot_token, api_url=settings.zalo_api_url)
    channel = ZaloChannel(client, context)
    if settings.zalo_mode != ChannelMode.WEBHOOK:
        return polling(channel)
    secret = settings.zalo_webhook_secret
    start = functools.partial(channel.start_webhook, f"{settings.public_url}/zalo/webhook", secret)
    return RunningChannel(channel, [channel.webhook_route(secret)], start, channel.stop)


def zalo_groups(core: Core, context: ChannelContext) -> RunningChannel:
    """Zalo group chats, through an Official Account: sending, and with the OA secret key set,
    what staff type in those groups (`/zalo/oa/webhook`)."""
    settings = core.settings
    tokens = DbTokenStore(
        core.sessions, settings.zalo_oa_access_token, settings.zalo_oa_refresh_token
    )
    client = ZaloOAClient(
        settings.zalo_oa_app_id,
        settings.zalo_oa_app_secret,
        StoredTokens(tokens),
        api_url=settings.zalo_oa_api_url,
        oauth_url=settings.zalo_oa_oauth_url,
    )
    groups = ZaloGroups(client, settings.attachments_dir)
    if not settings.zalo_oa_secret_key:
        return RunningChannel(groups, stop=groups.close)
    events = OAGroupEvents(
        context,
        groups,
        OARoster(core.sessions),
        settings.zalo_oa_app_id,
        settings.zalo_oa_secret_key,
    )
    return RunningChannel(events, [events.route()], events.resume, events.stop)


# Every channel the server can run: its name (the outbox's channel), whether the settings turn
# it on, and how it is built. Started in this order, stopped in this order.
ChannelFactory = Callable[[Core, ChannelContext], RunningChannel]
CHANNELS: list[tuple[str, Callable[[Settings], bool], ChannelFactory]] = [
    ("web", lambda settings: True, web_chat),
    ("telegram", lambda settings: settings.telegram_enabled, telegram),
    ("zalo", lambda settings: settings.zalo_enabled, zalo),
    (OA_CHANNEL, lambda settings: settings.zalo_oa_enabled, zalo_groups),
]


class Runner:
    """Starts the channels, the web server, the delivery worker and the jobs; stops them.

    Every instance serves the web and the webhooks. Only the leader (scheduler/leader.py) runs
    the timed jobs, the delivery worker, housekeeping and the long polls."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.settings = core.settings
        self.channels: dict[str, RunningChannel] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._site_runner: web.AppRunner | None = None
        self.scheduler: Any = None
        self.catch_up: asyncio.Task[None] | None = None
        self.web_port: int | None = None
        # Whether this instance leads (runs the timed jobs and delivery), for /readyz and /metrics.
        self.is_leader: Callable[[], bool] = lambda: core.leadership.is_leader
        self.election: Election | None = None
        self._leader_tasks: list[asyncio.Task[Any]] = []
        self._delivery: asyncio.Task[None] | None = None
        self._jobs: Running = set()  # the timed jobs running now, cancelled on stepping down
        # PostgreSQL: the lock that says this instance is alive, so its inbox rows are its own.
        self.liveness: InstanceLock | None = None

    # The adapters by name, for tests that drive one directly.
    @property
    def telegram(self) -> Any:
        return self._adapter("telegram")

    @property
    def zalo(self) -> Any:
        return self._adapter("zalo")

    @property
    def zalo_groups(self) -> Any:
        return self._adapter(OA_CHANNEL)

    def _adapter(self, name: str) -> Any:
        channel = self.channels.get(name)
        return channel.adapter if channel is not None else None

    async def start(self) -> None:
        core, settings = self.core, self.settings
        settings.attachments_dir.mkdir(parents=True, exist_ok=True)
        context = ChannelContext(
            core.dispatcher,
            core.translations,
            settings.attachments_dir,
            settings.max_attachment_bytes,
            settings.public_url,
        )
        routes: list[web.AbstractRouteDef] = []
        for name, wanted, build in CHANNELS:
            if wanted(settings):
                channel = self.channels[name] = build(core, context)
                core.senders[name] = channel.adapter
                routes += channel.routes
        if not is_sqlite(settings.database_url):  # before any update is kept
            self.liveness = InstanceLock(settings.database_url)
            core.dispatcher.instance = await self.liveness.acquire()
            self._tasks.append(
                asyncio.create_task(self._stay_alive(self.liveness), name="liveness")
            )
        await self._serve_web(routes + self._page_routes() + self._ops_routes())
        for channel in self.channels.values():
            if channel.start is not None:
                await channel.start()
        self._tasks.append(asyncio.create_task(self._refresh_units(), name="units"))
        self.election = Election(
            leader_lock(settings.database_url, on_outbox=core.delivery.wake),
            core.leadership,
            self._lead,
            self._follow,
        )
        await self.election.start()

    def _page_routes(self) -> list[web.AbstractRouteDef]:
        settings = self.settings
        routes: list[web.AbstractRouteDef] = []
        if settings.feedback_page:
            routes += FeedbackPage.from_core(self.core).routes()
        if settings.zalo_enabled or settings.public_url:
            routes.append(attachment_files(settings.attachments_dir))
        return routes

    def _ops_routes(self) -> list[web.AbstractRouteDef]:
        """/readyz and /metrics (bot/ops); /healthz is the web server's own."""
        core = self.core
        readiness = Readiness(
            core.db,
            lambda: self.is_leader(),
            lambda: self.scheduler is not None and self.scheduler.running,
        )
        routes = [readiness_route(readiness)]
        if self.settings.metrics_enabled:
            token = self.settings.metrics_token
            routes.append(metrics_route(core.metrics, core.sessions, token, self.is_leader))
        return routes

    async def _serve_web(self, routes: list[web.AbstractRouteDef]) -> None:
        settings = self.settings
        web_app = build_web_app(
            routes, settings.max_attachment_bytes, {"/admin": build_admin_app(self.core)}
        )
        self._site_runner = web.AppRunner(web_app, access_log=None)
        await self._site_runner.setup()
        site = web.TCPSite(self._site_runner, settings.web_host, settings.web_port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.web_port = sockets[0].getsockname()[1] if sockets else settings.web_port
        # With WEB_PORT=0 the port is chosen only now, and /weblogin links must name it.
        self.core.engine.admin_url = admin_url(settings, self.web_port)

    async def _lead(self) -> None:
        """This instance was elected: start the delivery worker, the timed jobs, housekeeping
        and the long polls."""
        core = self.core
        self._delivery = asyncio.create_task(core.delivery.run(), name="delivery")
        self._leader_tasks.append(self._delivery)
        self.scheduler = build_scheduler(core, telemetry=core.metrics, running=self._jobs)
        self.scheduler.start()
        # In the background, so a day's late digest never delays serving; tests await it.
        self.catch_up = asyncio.create_task(
            catch_up(core, self.scheduler, self._jobs), name="catch-up"
        )
        self._leader_tasks.append(self.catch_up)
        self._leader_tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        if self.liveness is not None:  # SQLite runs one instance: the start-up resume suffices
            self._leader_tasks.append(asyncio.create_task(self._adopt_orphans(), name="orphans"))
        for channel in self.channels.values():
            if channel.receive is not None:
                await channel.receive()

    async def _follow(self) -> None:
        """No longer the leader (the lock is lost, or we stop): stop at once everything only the
        leader may run, so two instances never run jobs or deliver side by side for long. A job
        cut short rolls back; rows on the wire are left "sending", for the next leader to send
        again, in doubt."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        tasks = self._leader_tasks + list(self._jobs)
        self._leader_tasks = []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in self.channels.values():
            if channel.stop_receiving is not None:
                await channel.stop_receiving()

    async def _refresh_units(self) -> None:
        """Units imported from the CLI while we run show up within half a minute (on every
        instance: each keeps the list in memory)."""
        while True:
            await asyncio.sleep(UNIT_REFRESH_SECONDS)
            try:
                await self.core.refresh_units()
            except Exception:
                log.exception("refreshing the units failed; will try again")

    async def _housekeeping(self) -> None:
        """The leader drops old deduplication keys, expired sign-ins and web form receipts
        (an hour is ample for a second tap on Send) once an hour."""
        await asyncio.sleep(UNIT_REFRESH_SECONDS)
        while True:
            try:
                async with self.core.sessions() as session, session.begin():
                    await prune_updates(session, utcnow() - timedelta(days=DEDUP_DAYS))
                    await webauth.prune(session)
                    await form_receipts.prune(session, utcnow() - timedelta(hours=1))
            except Exception:
                log.exception("periodic housekeeping failed; will try again")
            await asyncio.sleep(HOUSEKEEPING_SECONDS)

    async def _stay_alive(self, lock: InstanceLock) -> None:
        while True:
            await asyncio.sleep(LIVENESS_CHECK_SECONDS)
            await lock.keep()

    async def _adopt_orphans(self) -> None:
        """The leader handles what an instance that died had kept in the inbox and not handled,
        so nothing waits for that instance to come back. A live instance's rows, however old,
        are its own (were one picked up twice, the person's lock and the update's
        deduplication record would make the second a no-op)."""
        while True:
            await asyncio.sleep(ORPHAN_CHECK_SECONDS)
            cutoff = utcnow() - timedelta(seconds=ORPHAN_GRACE_SECONDS)
            for name, channel in self.channels.items():
                adopt = getattr(channel.adapter, "adopt_orphans", None)
                if adopt is None:
                    continue
                try:
                    if count := await adopt(cutoff):
                        log.warning("%s: handling %d update(s) a dead instance left", name, count)
                except Exception:
                    log.exception("%s: could not look for orphaned updates; will try again", name)

    async def stop(self) -> None:
        self.core.delivery.stop()
        if self._delivery is not None:  # the sends on the wire finish and are recorded
            await asyncio.wait({self._delivery}, timeout=DELIVERY_GRACE_SECONDS)
        if self.election is not None:
            await self.election.stop()
        for channel in self.channels.values():
            if channel.stop is not None:
                await channel.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._site_runner is not None:
            await self._site_runner.cleanup()
        if self.liveness is not None:  # last: what is still in the inbox is now another's to take
            await self.liveness.close()


async def serve(settings: Settings, demo: bool, history: MonthSimulator | None = None) -> None:
    """Run until Ctrl+C. With `demo`, an empty database first gets the demo organisation, and
    with `history` a past month of its activity too."""
    if not settings.auto_migrate:
        await require_current_schema(settings)
    core = await build_core(settings, migrate=settings.auto_migrate)
    try:
        if demo:
            if history is not None:
                summary = await seed_demo_with_history(core, history)
            else:
                summary = await seed_demo(core)
            if summary:
                print(summary, flush=True)
        if not core.engine.units:
            print(
                "No organisation units yet: members cannot register until you run "
                "`grassroots org import units.csv` (or start with --demo).",
                flush=True,
            )
        runner = Runner(core)
        try:
            await runner.start()
        except Exception as exc:
            # Close what did start (web server, sessions), then say in one line what failed.
            with contextlib.suppress(Exception):
                await runner.stop()
            raise StartError(start_failure(exc, settings)) from None
        # What is built by now (modules, the app) lives as long as the process: kept out of
        # the collector's full passes, which otherwise stall the event loop for 100 ms or more
        # (a send held up that long bunches at the messenger; docs/performance.md, Broadcast).
        gc.freeze()
        channels = ["web chat"] if settings.web_chat_enabled else []
        if settings.telegram_enabled:
            channels.append(f"telegram ({settings.telegram_mode.value})")
        if settings.zalo_enabled:
            channels.append(f"zalo ({settings.zalo_mode.value})")
        print(
            f"Grassroots is running: {', '.join(channels) or 'no channel'}; "
            f"open http://{settings.web_host}:{runner.web_port}/ — press Ctrl+C to stop.",
            flush=True,
        )
        print(f"Web admin: {core.engine.admin_url}/ (staff sign in with /weblogin)", flush=True)
        if demo:
            print(f"Leaders' chat: {core.engine.admin_url}/chats/leaders", flush=True)
            print(f"Demo admin sign-in link: {await demo_admin_link(core)}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("Stopping…", flush=True)
        await runner.stop()
    finally:
        await core.close()
