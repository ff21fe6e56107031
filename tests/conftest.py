"""Shared fixtures: databases (SQLite and PostgreSQL), the core, and a frozen clock."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gettext
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest
import time_machine
import yaml
from argon2 import PasswordHasher
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings

from bot import app
from bot.admin import passwords
from bot.app import Core, build_core
from bot.config import Settings
from bot.feedback import pages as feedback_pages
from handlers import i18n
from storage.migrate import Migrated, upgrade_sync
from tests.slowest import known_seconds, spread

# Every test starts at a fixed local moment, so none depends on the hour or the date it runs
# at. The clock ticks from there (servers, timeouts and the scheduler still move); tests that
# need a still clock travel again inside. GRASSROOTS_TEST_CLOCK moves the whole suite, e.g.
# `GRASSROOTS_TEST_CLOCK=2026-12-31T23:59 uv run pytest`.
TEST_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DEFAULT_CLOCK = "2026-06-15T10:00:00"
# Tests marked `any_hour` run once at each of these local moments: either side of the daily
# digest (07:30), around midnight, at month-end and at year-end.
ANY_HOUR_CLOCKS = {
    "0005-month-end": "2026-01-31T00:05:00",
    "0729": "2026-06-15T07:29:00",
    "0731": "2026-06-15T07:31:00",
    "1200-february-end": "2026-02-28T12:00:00",
    "2359-year-end": "2026-12-31T23:59:00",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "any_hour: run the test at several local times of day (ANY_HOUR_CLOCKS)"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`uv run pytest` spreads the tests over one xdist worker per core plus one, each test
    going to whichever worker is free (worksteal: a few tests take minutes, most under a
    second). The extra worker keeps the cores busy while a test waits on its subprocesses,
    browser, database or timeouts, as many here do (on 2 cores, 2 workers left a fifth of the
    CPU idle in CI). An explicit -n or --dist wins; `-p no:xdist` or `-n 0` runs everything in
    this process. Runs before xdist's own hook."""
    xdist_off = not config.pluginmanager.hasplugin("xdist")
    if xdist_off or hasattr(config, "workerinput"):  # a worker runs what it is sent
        return
    option = config.option
    if option.numprocesses is None and option.dist == "no" and not option.tx:
        option.numprocesses = len(os.sched_getaffinity(0)) + 1
        option.dist = "worksteal"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers, the slowest tests first, spread over the workers (tests/slowest.py).
    Every worker computes the same order, as xdist requires."""
    if hasattr(config, "workerinput"):
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        items[:] = spread(items, workers, known_seconds())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("any_hour"):
        metafunc.parametrize(
            "wall_clock",
            list(ANY_HOUR_CLOCKS.values()),
            ids=list(ANY_HOUR_CLOCKS),
            indirect=True,
        )


@pytest.fixture(autouse=True)
def wall_clock(request: pytest.FixtureRequest) -> Iterator[datetime]:
    """The test's local start time, ticking. Subprocesses started with tests.cli see it too."""
    when = getattr(request, "param", None) or os.environ.get("GRASSROOTS_TEST_CLOCK", DEFAULT_CLOCK)
    start = datetime.fromisoformat(when).replace(tzinfo=TEST_TZ)
    with time_machine.travel(start, tick=True):
        yield start


# argon2id at its lowest cost: the default (RFC 9106 low-memory profile) takes about a tenth
# of a second of CPU per hash on 4 threads, and the lockout tests make dozens of guesses. What
# the tests check (a hash verifies, a wrong password does not, lockouts) is the same at any
# cost; the `grassroots run` subprocesses keep the default.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_HASHER", CHEAP_HASHER)


# The catalogs and YAML files every core reads at start-up are parsed once per worker, not
# once per test: parsing them is a third of the CPU of building a core, which most tests do.
# Both are pure functions of the file's text (the .po file keyed by path, size and mtime, so a
# test that writes its own still gets it); a YAML result is deep-copied, as callers may change it.
@pytest.fixture(scope="session", autouse=True)
def parse_once_per_worker() -> Iterator[None]:
    compile_po = i18n._compile
    safe_load = yaml.safe_load
    compiled: dict[tuple[object, ...], gettext.NullTranslations] = {}
    loaded: dict[str, object] = {}

    def compile_once(locale_dir: Path, locale: str) -> gettext.NullTranslations:
        po = locale_dir / locale / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
        found = po.stat() if po.exists() else None
        key = (po, found and found.st_size, found and found.st_mtime_ns)
        if key not in compiled:
            compiled[key] = compile_po(locale_dir, locale)
        return compiled[key]

    def load_once(stream: object) -> object:
        if not isinstance(stream, str):
            return safe_load(stream)
        if stream not in loaded:
            loaded[stream] = safe_load(stream)
        return copy.deepcopy(loaded[stream])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(i18n, "_compile", compile_once)
        patch.setattr(yaml, "safe_load", load_once)
        patch.setattr(jinja2, "Environment", _environment_once(jinja2.Environment))
        patch.setattr(feedback_pages, "Environment", jinja2.Environment)
        yield


# The admin and feedback pages each build a jinja2 Environment, which compiles a template at
# its first use (about 8 ms each); a server builds them once, the tests hundreds of times. Per
# worker, one Environment per template folder and options is made and shared, as in one
# process; a template whose file changes is still compiled again (jinja2's auto_reload).
def _environment_once(make: type[jinja2.Environment]) -> Callable[..., jinja2.Environment]:
    made: dict[tuple[object, ...], jinja2.Environment] = {}

    def environment(**options: Any) -> jinja2.Environment:
        loader = options.get("loader")
        if not isinstance(loader, jinja2.FileSystemLoader):
            return make(**options)
        settings = sorted((k, _stable(v)) for k, v in options.items() if k != "loader")
        key = (tuple(loader.searchpath), *settings)
        if key not in made:
            made[key] = make(**options)
        return made[key]

    return environment


def _stable(value: object) -> str:
    """An option as a key: a function (select_autoescape's) by its name and what it closes over."""
    if callable(value) and hasattr(value, "__closure__"):
        cells = tuple(cell.cell_contents for cell in value.__closure__ or ())
        return f"{value.__module__}.{value.__qualname__}{cells!r}"
    return repr(value)


# Property tests: "ci" is fixed (derandomized) and bounded, so the suite stays fast and repeatable;
# HYPOTHESIS_PROFILE=long searches far more, randomly, from the command line. The stateful
# conversation test runs a sixth of max_examples: each of its examples is a whole conversation.
hypothesis_settings.register_profile(
    "ci",
    max_examples=50,
    stateful_step_count=25,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.register_profile(
    "long",
    max_examples=1000,
    stateful_step_count=60,
    deadline=None,
    database=None,
    print_blob=True,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# While fixing what a run found: the same examples as "ci", failures reported unshrunk, at once.
hypothesis_settings.register_profile(
    "dev", hypothesis_settings.get_profile("ci"), phases=[Phase.explicit, Phase.generate]
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://grassroots:grassroots@127.0.0.1:5432/postgres"
)


WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")  # names whose leftover a database was


async def _pg_available() -> bool:
    import asyncpg

    # Generous: on a loaded machine a first connection can take seconds, and a timeout here
    # would skip every PostgreSQL test of this worker.
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""), timeout=20)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@pytest.fixture(scope="session")
def pg_reachable() -> bool:
    """Asked once per worker, not once per test."""
    return asyncio.run(_pg_available())


def _require_postgresql(reachable: bool) -> None:
    """CI must have PostgreSQL: there it never skips."""
    if reachable:
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (CI must start it)")
    pytest.skip("PostgreSQL is not reachable; set TEST_POSTGRES_URL")


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def _create_pg_database(template: str | None = None, name: str = "") -> str:
    """A new database (by default named uniquely), empty or a copy of `template`; its name."""
    import asyncpg

    name = name or f"gr_test_{WORKER}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
        # A commit returns before its WAL reaches the disk (about 2.5 ms less per commit on
        # the 2-core machine; the kill, cluster and outbox tests commit thousands of times).
        # Only a crash of the PostgreSQL server itself could lose such a commit, which no test
        # does: what a killed `grassroots run` committed is still there for the next one.
        await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL.replace("+asyncpg", ""))
    try:
        for attempt in range(20):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except asyncpg.InsufficientPrivilegeError:
                # An autovacuum worker (owned by the server, not our role) is still in the
                # database and FORCE may not end it; it finishes within moments.
                await asyncio.sleep(0.25 * (attempt + 1))
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def migrated_pg(pg_reachable: bool) -> Iterator[str | None]:
    """A PostgreSQL database migrated to the head, made once per xdist worker (None without
    PostgreSQL): a test's database copied from it (CREATE DATABASE … TEMPLATE) skips the
    migrations, which cost about a second of CPU per test."""
    if not pg_reachable:
        yield None
        return
    name = asyncio.run(_create_pg_database())
    try:
        upgrade_sync(_pg_url(name))
        yield name
    finally:
        asyncio.run(_drop_pg_database(name))


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_reachable: bool
) -> AsyncIterator[str]:
    """A fresh, empty database of each kind. A PostgreSQL one that the test will have migrated
    (it asks for migrated_db_url) is made as the copy at once: creating a database costs
    PostgreSQL about a quarter of a second, so not twice."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    _require_postgresql(pg_reachable)
    template = None
    if "migrated_db_url" in request.fixturenames:
        template = request.getfixturevalue("migrated_pg")
    name = await _create_pg_database(template)
    yield _pg_url(name)
    await _drop_pg_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": tmp_path,
        "attachments_dir": tmp_path / "attachments",
        "telegram_bot_token": "",
        "zalo_bot_token": "",
        "web_port": 0,
        "default_locale": "vi",
        "timezone": "Asia/Ho_Chi_Minh",
        "public_url": "",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database migrated to the head, made once per xdist worker: migrating
    costs a quarter of a second of CPU per test, copying the result a millisecond."""
    path = tmp_path_factory.mktemp("migrated") / "migrated.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


SQLITE_FILE = "sqlite+aiosqlite:///"


@pytest.fixture(scope="session", autouse=True)
def new_sqlite_files_start_migrated(migrated_sqlite: Path) -> Iterator[None]:
    """A core built in a test on a SQLite file that does not exist yet (most harnesses do)
    starts it as a copy of the worker's migrated database, as the `core` fixture does, instead
    of migrating it from nothing: a third of a second of CPU each time. Start-up still checks
    it is at the head. Only build_core's migration is changed: `grassroots db upgrade`, the
    `grassroots run` subprocesses and the tests of the migrations themselves still migrate."""
    migrate = app.upgrade

    async def upgrade(database_url: str, revision: str = "head") -> Migrated:
        if revision == "head":
            _copy_if_new(database_url, migrated_sqlite)
        return await migrate(database_url, revision)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app, "upgrade", upgrade)
        yield


def _copy_if_new(database_url: str, migrated: Path) -> None:
    """`migrated` copied to the SQLite file of `database_url` if there is no such file yet."""
    path = database_url.removeprefix(SQLITE_FILE)
    if not database_url.startswith(SQLITE_FILE) or "?" in path or path in ("", ":memory:"):
        return
    if not Path(path).exists():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated, path)


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> dict[datetime, Path]:
    """The `core` fixture's seeded databases, one per moment a test starts at (a test seeds
    at its own time and the next one starting then copies it): about 40 ms of CPU less each."""
    return {}


def _keep_copy(database: Path, into: Path) -> None:
    """A consistent copy of an open SQLite database in WAL mode (its -wal file included)."""
    with (
        contextlib.closing(sqlite3.connect(database)) as source,
        contextlib.closing(sqlite3.connect(into)) as target,
    ):
        source.backup(target)


@pytest.fixture
async def core(
    tmp_path: Path,
    sqlite_url: str,
    migrated_sqlite: Path,
    seeded_sqlite: dict[datetime, Path],
    wall_clock: datetime,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Core]:
    """The whole core on a fresh SQLite database, seeded with the demo organisation. The file
    starts as a copy of `migrated_sqlite`, or of the same seeding at the same test clock
    (`seeded_sqlite`); start-up still checks it is at the head."""
    from bot.app import seed_demo

    seeded = seeded_sqlite.get(wall_clock)
    shutil.copyfile(seeded or migrated_sqlite, tmp_path / "test.db")
    built = await build_core(make_settings(tmp_path, sqlite_url))
    if seeded is None:
        await seed_demo(built)
        keep = tmp_path_factory.mktemp("seeded") / "seeded.db"
        _keep_copy(tmp_path / "test.db", keep)
        seeded_sqlite[wall_clock] = keep
    yield built
    await built.close()


@pytest.fixture
async def migrated_db_url(db_url: str, migrated_sqlite: Path, migrated_pg: str | None) -> str:
    """db_url's database (one parameter, one database, whichever of the two a test asks for),
    already migrated to the head: a copy of the worker's migrated one (a SQLite file copy here;
    db_url made a PostgreSQL one with CREATE DATABASE … TEMPLATE). Asking for migrated_pg
    makes it before db_url (a session's fixtures come first), which then only reads it."""
    if db_url.startswith("sqlite"):
        shutil.copyfile(migrated_sqlite, db_url.split(":///", 1)[1])
    return db_url


@pytest.fixture
async def pg_or_sqlite_core(tmp_path: Path, migrated_db_url: str) -> AsyncIterator[Core]:
    """As `core`, on each kind of database; start-up still checks it is at the head."""
    from bot.app import seed_demo

    built = await build_core(make_settings(tmp_path, migrated_db_url))
    await seed_demo(built)
    yield built
    await built.close()
