"""`grassroots doctor`: is this server set up to work? One line per check, OK, WARN or FAIL,
and exit code 1 when anything failed. It changes nothing (but for creating the attachments folder, as `run` would): it asks the messengers who the bot is
(getMe) but never sets a webhook, and never spends a Zalo OA refresh token."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import aiohttp

from bot.channels.zalo_client import ZaloBotClient, ZaloError
from bot.config import ChannelMode, ConfigError, Settings, load_settings
from bot.ops.health import Readiness
from storage.backup import libpq_env, sqlite_file
from storage.db import Database, create_engine, is_sqlite
from storage.migrate import current_revisions
from storage.probes import database_now

Status = Literal["OK", "WARN", "FAIL"]
TIMEOUT = 10.0
SKEW_WARN_SECONDS = 2.0
SKEW_FAIL_SECONDS = 30.0
MIN_FREE_BYTES = 1_000_000_000


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    detail: str


def line(check: Check) -> str:
    return f"{check.status:<5} {check.name:<12} {check.detail}"


def redact(text: str, settings: Settings) -> str:
    """Error texts may quote a URL: never print a password or a token."""
    secrets = [
        settings.telegram_bot_token,
        settings.zalo_bot_token,
        libpq_env(settings.database_url).get("PGPASSWORD", "")
        if not is_sqlite(settings.database_url)
        else "",
    ]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<secret>")
    return text[:200]


def settings_check(settings: Settings) -> Check:
    channels = ["web chat"] if settings.web_chat_enabled else []
    if settings.telegram_enabled:
        channels.append(f"telegram ({settings.telegram_mode.value})")
    if settings.zalo_enabled:
        channels.append(f"zalo ({settings.zalo_mode.value})")
    if settings.zalo_oa_enabled:
        channels.append("zalo groups (OA)")
    database = "SQLite (one instance)" if is_sqlite(settings.database_url) else "PostgreSQL"
    detail = f"{database}; channels: {', '.join(channels) or 'none'}"
    if not channels:
        return Check("WARN", "settings", detail + " — nobody can reach the bot")
    return Check("OK", "settings", detail)


async def database_checks(settings: Settings, db: Database) -> list[Check]:
    """Reachable, schema at the head, and the clocks agree."""
    try:
        async with asyncio.timeout(TIMEOUT):
            db_now = await database_now(db)
            current = await current_revisions(db)
    except Exception as exc:
        reason = redact(f"{type(exc).__name__}: {exc}", settings)
        return [Check("FAIL", "database", f"cannot connect ({reason}); check DATABASE_URL")]
    checks = [Check("OK", "database", "reachable")]
    readiness = Readiness(db)
    state = readiness.schema(current)
    at = ",".join(current) or "an empty database"
    if state == "ok":
        checks.append(Check("OK", "migrations", f"at the head ({at})"))
    elif state == "ahead":
        checks.append(Check("WARN", "migrations", f"at {at}, migrated by a newer version"))
    elif settings.auto_migrate:
        checks.append(Check("WARN", "migrations", f"at {at}; `grassroots run` will migrate"))
    else:
        checks.append(Check("FAIL", "migrations", f"at {at}, behind; run `grassroots db upgrade`"))
    checks.append(clock_check(settings, db_now, same_machine=is_sqlite(settings.database_url)))
    return checks


def clock_check(settings: Settings, db_now: datetime, same_machine: bool) -> Check:
    local = datetime.now(settings.tz)
    detail = f"{settings.timezone}, now {local:%Y-%m-%d %H:%M}"
    if same_machine:
        return Check("OK", "clock", detail)
    skew = (datetime.now(UTC) - db_now).total_seconds()
    detail += f"; {abs(skew):.1f} s from the database's clock"
    if abs(skew) > SKEW_FAIL_SECONDS:
        return Check("FAIL", "clock", detail + ": synchronise both (NTP)")
    if abs(skew) > SKEW_WARN_SECONDS:
        return Check("WARN", "clock", detail + ": synchronise both (NTP)")
    return Check("OK", "clock", detail)


def seal_key_check(settings: Settings) -> Check:
    if settings.seal_key.strip():
        return Check("OK", "seal key", "from SEAL_KEY; keep a copy apart from the backups")
    path = settings.seal_key_path
    if path.exists() and not is_sqlite(settings.database_url):
        return Check("WARN", "seal key", f"{path}: several instances need one key: set SEAL_KEY")
    if path.exists():
        return Check("OK", "seal key", f"{path}; keep a copy apart from the backups")
    return Check("WARN", "seal key", f"{path} does not exist yet: it is made at the first start")


def attachments_check(settings: Settings) -> Check:
    folder = settings.attachments_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("FAIL", "attachments", f"{folder} is not a writable folder ({exc.strerror})")
    free = shutil.disk_usage(folder).free
    detail = f"{folder} writable, {free / 1e9:.1f} GB free"
    if not is_sqlite(settings.database_url):
        detail += "; with several instances it must be one folder they all share"
    if free < MIN_FREE_BYTES:
        return Check("WARN", "attachments", detail + " (little space left)")
    return Check("OK", "attachments", detail)


async def telegram_checks(settings: Settings, http: aiohttp.ClientSession) -> list[Check]:
    base = f"{settings.telegram_api_url}/bot{settings.telegram_bot_token}"
    try:
        async with http.get(f"{base}/getMe") as resp:
            body = await resp.json(content_type=None)
            if resp.status in (401, 404):
                return [Check("FAIL", "telegram", "the token was refused: TELEGRAM_BOT_TOKEN")]
            me = body.get("result") or {}
        if settings.telegram_mode != ChannelMode.WEBHOOK:
            return [Check("OK", "telegram", f"@{me.get('username', '?')}, long polling")]
        async with http.get(f"{base}/getWebhookInfo") as resp:
            info = (await resp.json(content_type=None)).get("result") or {}
    except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
        reason = redact(f"{type(exc).__name__}: {exc}", settings)
        return [Check("FAIL", "telegram", f"cannot reach {settings.telegram_api_url} ({reason})")]
    checks = [Check("OK", "telegram", f"@{me.get('username', '?')}")]
    checks.append(webhook_check("telegram webhook", settings, "/telegram/webhook", info))
    return checks


def webhook_check(name: str, settings: Settings, path: str, info: dict[str, object]) -> Check:
    expected = f"{settings.public_url}{path}"
    if not expected.startswith("https://"):
        return Check("WARN", name, f"{expected}: messengers accept only https:// webhooks")
    registered = str(info.get("url") or "")
    if registered and registered != expected:
        return Check("WARN", name, f"registered {registered}, expected {expected}: set at start")
    error = info.get("last_error_message")
    if error:
        return Check("WARN", name, f"{expected}; the messenger's last error: {error}")
    return Check("OK", name, expected if registered else f"{expected} (registered at start)")


async def zalo_checks(settings: Settings, http: aiohttp.ClientSession) -> list[Check]:
    client = ZaloBotClient(
        settings.zalo_bot_token, settings.zalo_api_url, http, request_timeout=TIMEOUT
    )
    try:
        me = await client.get_me()
    except ZaloError as exc:
        return [Check("FAIL", "zalo", f"getMe failed ({exc}); check ZALO_BOT_TOKEN, ZALO_API_URL")]
    checks = [Check("OK", "zalo", str(me.get("account_name") or me.get("id") or "token accepted"))]
    if settings.zalo_mode == ChannelMode.WEBHOOK:
        try:
            info = await client.get_webhook_info()
        except ZaloError:
            info = {}  # the token worked a moment ago: judge the URL alone
        checks.append(webhook_check("zalo webhook", settings, "/zalo/webhook", info))
    return checks


async def channel_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        if settings.telegram_enabled:
            checks += await telegram_checks(settings, http)
        if settings.zalo_enabled:
            checks += await zalo_checks(settings, http)
    if settings.zalo_oa_enabled:  # a check would spend its single-use refresh token
        checks.append(Check("OK", "zalo groups", "configured (not called)"))
    return checks


async def run_checks(settings: Settings) -> list[Check]:
    checks = [settings_check(settings)]
    file = sqlite_file(settings.database_url)
    if file is not None and not file.exists():  # connecting would create it
        checks.append(Check("WARN", "database", f"no database at {file} yet: `run` creates it"))
    else:
        db = create_engine(settings.database_url)
        try:
            checks += await database_checks(settings, db)
        finally:
            await db.dispose()
    checks.append(seal_key_check(settings))
    checks.append(await asyncio.to_thread(attachments_check, settings))
    checks += await channel_checks(settings)
    return checks


def report(checks: list[Check], write: Callable[[str], object] = print) -> int:
    for check in checks:
        write(line(check))
    failed = sum(c.status == "FAIL" for c in checks)
    warned = sum(c.status == "WARN" for c in checks)
    write(f"{failed} failed, {warned} warning{'s' if warned != 1 else ''}.")
    return 1 if failed else 0


def doctor(load: Callable[[], Settings] = load_settings) -> int:
    """The command: a broken setting is a failed check too, reported like the others."""
    try:
        settings = load()
    except ConfigError as exc:
        return report([Check("FAIL", "settings", str(exc))])
    return report(asyncio.run(run_checks(settings)))
