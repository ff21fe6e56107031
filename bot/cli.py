"""The `grassroots` command line. Failures exit non-zero with one line saying why.

It starts fast: `grassroots --help` loads no database, channel or document library, and the
commands that only read and write tables open the database without bot.app (the channels, web
server, charts and documents). Each command imports what it uses; the imports say why."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.ops.commands import add_ops_parsers, cmd_backup, doctor_main
from bot.pollcli import PollCliError, poll_command, sitrep_command
from bot.pollcli import add_parsers as add_poll_parsers
from handlers.casework import WEB_ROLES
from handlers.org import BINDING_CHANNELS, BINDING_ROLES, ROLES, is_binding_role

if TYPE_CHECKING:  # annotations only: bot.config loads pydantic, which `--help` does not need
    from bot.config import Settings

Command = Callable[[argparse.Namespace, "Settings"], Coroutine[Any, Any, int]]


class CliError(Exception):
    """A one-line reason for the operator."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grassroots", description="Grassroots chatbot")
    sub = p.add_subparsers(dest="group", required=True)
    _add_server_parsers(sub)
    _add_organisation_parsers(sub)
    _add_job_parsers(sub)
    add_poll_parsers(sub)
    _add_access_parsers(sub)
    _add_report_parsers(sub)
    add_ops_parsers(sub)
    return p


def _add_server_parsers(sub: Any) -> None:
    """`run` and `db`."""
    run = sub.add_parser("run", help="migrate, then start the channels, web server and scheduler")
    run.add_argument(
        "--demo",
        action="store_true",
        help="into an empty database, seed a demo organisation and its past 9 to 12 days "
        "(played through the simulator in seconds: cases in every state, a closed poll, a "
        "situation report with late units, a week of digests)",
    )
    run.add_argument(
        "--empty", action="store_true", help="with --demo: the organisation alone, no history"
    )
    # The history is what --demo does; the flag that asked for it still works.
    run.add_argument("--history", action="store_true", help=argparse.SUPPRESS)
    db = sub.add_parser("db", help="database commands").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply migrations")


def _add_organisation_parsers(sub: Any) -> None:
    """Who is in the organisation and where they talk: `org`, `invite`, `dept`, `chat`."""
    org = sub.add_parser("org", help="organisation units").add_subparsers(
        dest="action", required=True
    )
    imp = org.add_parser("import", help="load units from CSV: code,name,kind,host_kind,parent_code")
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--dry-run", action="store_true", help="check the file and show what would change"
    )
    org.add_parser("list", help="list units")

    inv = sub.add_parser("invite", help="invites").add_subparsers(dest="action", required=True)
    create = inv.add_parser("create", help="create an invite code")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--org", dest="unit", help="unit code the invitee joins")
    create.add_argument("--uses", type=int, default=1)
    create.add_argument("--dept", help="department code, for handlers")
    create.add_argument(
        "--can-reveal",
        action="store_true",
        help="may see confidential reporters (every look is logged)",
    )

    dept = sub.add_parser("dept", help="departments").add_subparsers(dest="action", required=True)
    dimp = dept.add_parser("import", help="load departments from CSV: code,name,kind")
    dimp.add_argument("file", type=Path)
    dimp.add_argument("--dry-run", action="store_true")
    dept.add_parser("list", help="list departments")

    chat = sub.add_parser("chat", help="group chats").add_subparsers(dest="action", required=True)
    bind = chat.add_parser("bind", help="bind a group chat as leaders, staff or department:CODE")
    bind.add_argument("role")
    bind.add_argument("--channel", required=True, choices=BINDING_CHANNELS)
    bind.add_argument("--chat", required=True, dest="chat_id")


def _add_job_parsers(sub: Any) -> None:
    """What runs on a schedule and what it sent: `jobs`, `digest`, `outbox`."""
    jobs = sub.add_parser("jobs", help="scheduled jobs").add_subparsers(
        dest="action", required=True
    )
    jobs.add_parser("list", help="show each schedule with its next run")
    jrun = jobs.add_parser("run", help="run one job now")
    jrun.add_argument("name")
    jrun.add_argument(
        "--force", action="store_true", help="send a digest again that already went out"
    )

    digest = sub.add_parser("digest", help="the leaders' digest").add_subparsers(
        dest="action", required=True
    )
    digest.add_parser("preview", help="print today's digest and write its chart, without sending")

    box = sub.add_parser("outbox", help="the outbox").add_subparsers(dest="action", required=True)
    box.add_parser("status", help="pending, failed and sent counts, and the oldest pending age")


def _add_access_parsers(sub: Any) -> None:
    """The seal key and the web admin's accounts: `keys`, `admin`."""
    keys = sub.add_parser("keys", help="the seal key of hidden reporters' links").add_subparsers(
        dest="action", required=True
    )
    keys.add_parser(
        "rotate", help="re-seal every hidden reporter's link under a new key (stop the bot first)"
    )
    keys.add_parser("new", help="print a new key, for SEAL_KEY")

    web_admin = sub.add_parser("admin", help="web admin accounts").add_subparsers(
        dest="action", required=True
    )
    add_user = web_admin.add_parser(
        "add-user",
        help="create a web admin account; the password is read from stdin (or prompted for)",
    )
    add_user.add_argument("username")
    who = add_user.add_mutually_exclusive_group(required=True)
    who.add_argument("--person-id", type=int, help="an existing person (staff, leader, handler)")
    who.add_argument("--name", help="create a new person with this name (no messenger yet)")
    add_user.add_argument(
        "--role", default="admin", choices=sorted(WEB_ROLES), help="role of a new person"
    )
    set_pw = web_admin.add_parser("set-password", help="change an account's password (stdin)")
    set_pw.add_argument("username")


def _add_report_parsers(sub: Any) -> None:
    """`reports` (the list) and `report` (documents)."""
    rep = sub.add_parser("reports", help="reports").add_subparsers(dest="action", required=True)
    lst = rep.add_parser("list", help="list reports, newest first")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--limit", type=int, default=50)

    report = sub.add_parser("report", help="documents for the briefing papers").add_subparsers(
        dest="action", required=True
    )
    monthly = report.add_parser("monthly", help="write the monthly report as a Word document")
    monthly.add_argument("--month", required=True, help="the calendar month, e.g. 2026-11")
    monthly.add_argument("--lang", choices=("vi", "en"), default=None)
    monthly.add_argument("--out", required=True, type=Path, help="the .docx file to write")


async def _with_core(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """The whole core, for the commands that need its forms, translations or delivery."""
    # Imported here: bot.app loads the channels, web server and charts, which the other
    # commands and `--help` do not need.
    from bot.app import build_core

    core = await build_core(settings)
    try:
        return await work(core)
    finally:
        await core.close()


async def _with_tables(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """The database alone, migrated and its seal key checked as at start-up, for the commands
    that only read and write tables: `work` gets a session factory."""
    # Imported here: SQLAlchemy and alembic are not needed for `--help`.
    from bot.keys import open_sealer
    from storage.db import create_engine, session_factory
    from storage.migrate import upgrade

    await upgrade(settings.database_url)
    db = create_engine(settings.database_url)
    try:
        return await work(session_factory(db, await open_sealer(settings, db)))
    finally:
        await db.dispose()


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the whole server (see _with_core).
    from bot.app import StartError, serve

    if args.empty and not args.demo:
        raise CliError("--empty goes with --demo: `grassroots run --demo --empty`")
    if args.history and not args.demo:
        raise CliError("--history goes with --demo: `grassroots run --demo` plays the history")
    if args.history and args.empty:
        raise CliError("--history and --empty: choose one (--demo alone plays the history)")
    history = None
    if args.demo and not args.empty:
        # Imported here: the simulator and time-machine, only for a demo with a history.
        from bot.demo import demo_month

        history = demo_month
    try:
        await serve(settings, args.demo, history)
    except StartError as exc:
        raise CliError(str(exc)) from None
    return 0


async def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here, as in every command below: each loads what it uses (the module docstring).
    from storage.migrate import upgrade

    migrated = await upgrade(settings.database_url)  # under a lock: safe from several instances
    if migrated.changed:
        print(f"Migrated from {','.join(migrated.before) or 'an empty database'}.")
    print(f"Database is up to date ({','.join(migrated.after)}).")
    return 0


CLI_ACTOR = "command line"  # who the audit log names for changes made here


async def _import_csv(args: argparse.Namespace, sessions: Any, importer: Any, action: str) -> int:
    """Shared by `org import` and `dept import`: all rows or none, errors by line."""
    from storage import audit  # here: SQLAlchemy, only once a command runs

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from None
    async with sessions() as session, session.begin():
        result = await importer(session, data)
        if not result.ok or args.dry_run:  # a dry run imports for real, then rolls back
            await session.rollback()
        if not result.ok:
            for error in result.errors:
                print(f"{args.file}: {error}", file=sys.stderr)
            raise CliError(f"{len(result.errors)} bad row(s); nothing was imported")
        if not args.dry_run:
            await audit.record(
                session,
                None,
                CLI_ACTOR,
                action,
                created=result.created,
                updated=result.updated,
                unchanged=result.unchanged,
            )
    verb = "Would import" if args.dry_run else "Imported"
    print(f"{verb}: {result.created} new, {result.updated} updated, {result.unchanged} unchanged.")
    return 0


async def cmd_org(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: SQLAlchemy, only once a command runs.
    from storage import admin
    from storage.orgimport import import_units

    async def work(sessions: Any) -> int:
        if args.action == "list":
            async with sessions() as session:
                for u in await admin.units(session):
                    print(f"{u.code}\t{u.kind}\t{u.host_kind}\t{u.name}")
            return 0
        return await _import_csv(args, sessions, import_units, "units.import")

    return await _with_tables(settings, work)


async def cmd_dept(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: SQLAlchemy, only once a command runs.
    from storage.deptimport import import_departments
    from storage.store import SqlStore

    async def work(sessions: Any) -> int:
        if args.action == "list":
            async with sessions() as session:
                departments = await SqlStore(session).departments()
            if not departments:
                print("No departments yet: grassroots dept import FILE.csv (code,name,kind).")
            for d in departments:
                print(f"{d.code}\t{d.kind}\t{d.name}")
            return 0
        return await _import_csv(args, sessions, import_departments, "departments.import")

    return await _with_tables(settings, work)


async def _bot_username(settings: Settings) -> tuple[str | None, str]:
    """The bot's @username from Telegram's getMe, or None and why not (said to the operator)."""
    if not settings.telegram_enabled:
        return None, "TELEGRAM_BOT_TOKEN is not set"
    from telegram import Bot  # here: python-telegram-bot, only when there is a token to ask with

    try:
        bot = Bot(settings.telegram_bot_token, base_url=f"{settings.telegram_api_url}/bot")
        async with bot:
            return (await asyncio.wait_for(bot.get_me(), 10)).username, ""
    except Exception as exc:
        return None, f"Telegram's getMe failed: {type(exc).__name__}"


async def cmd_invite(args: argparse.Namespace, settings: Settings) -> int:
    from storage import admin, audit  # here: SQLAlchemy, only once a command runs

    async def work(sessions: Any) -> int:
        async with sessions() as session, session.begin():
            try:
                invite = await admin.create_invite(
                    session, args.role, args.unit, args.uses, args.dept, args.can_reveal
                )
            except admin.AdminError as exc:
                raise CliError(str(exc)) from None
            await audit.record(
                session,
                None,
                CLI_ACTOR,
                "invite.create",
                f"#{invite.id}",
                role=args.role,
                unit=args.unit or "",
                department=args.dept or "",
                uses=args.uses,
                can_reveal=bool(args.can_reveal),
            )
        print(invite.code)
        who = f"the new {args.role}" if args.uses == 1 else f"each new {args.role}"
        username, why = await _bot_username(settings)
        if username:
            print(f"https://t.me/{username}?start={invite.code}")
            print(f"{who.capitalize()} opens the link, or sends /start {invite.code} to the bot.")
        else:
            print(
                f"{who.capitalize()} sends /start {invite.code} to the bot. No Telegram link, "
                f"as {why}; it is https://t.me/<bot username>?start={invite.code}"
            )
        return 0

    return await _with_tables(settings, work)


async def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from storage import admin, audit  # here: SQLAlchemy, only once a command runs

    role = args.role
    if not is_binding_role(role):
        raise CliError(
            f"role must be one of {', '.join(BINDING_ROLES)} or department:CODE, not {role!r}"
        )

    chat_id = args.chat_id.strip()
    if not chat_id or len(chat_id) > 64 or any(c.isspace() for c in chat_id):
        raise CliError("--chat must be 1-64 characters without spaces")

    async def work(sessions: Any) -> int:
        async with sessions() as session, session.begin():
            if role.startswith("department:") and not await admin.department_exists(
                session, role.removeprefix("department:")
            ):
                raise CliError(
                    f"no department with code {role.removeprefix('department:')!r}; "
                    "see `grassroots dept list`"
                )
            created = await admin.bind_chat(session, role, args.channel, chat_id)
            if created:
                await audit.record(
                    session,
                    None,
                    CLI_ACTOR,
                    "binding.add",
                    role,
                    channel=args.channel,
                    chat_id=chat_id,
                )
        state = "bound" if created else "was already bound"
        print(f"Chat {chat_id} on {args.channel} {state} as {role}.")
        return 0

    return await _with_tables(settings, work)


def _print_reports(rows: list[dict[str, Any]], as_json: bool, tz: tzinfo) -> None:
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        print("No reports yet.")
    for r in rows:
        hot = "HOT " if r["urgency"] == "hot" else ""
        created = datetime.fromisoformat(r["created_at"]).astimezone(tz)
        print(
            f"{r['code']}\t{created:%Y-%m-%d %H:%M}\t{r['status']}\t{hot}{r['category']}\t{r['unit'] or '-'}"
        )


async def cmd_reports(args: argparse.Namespace, settings: Settings) -> int:
    from storage import admin  # here: SQLAlchemy, only once a command runs

    async def work(sessions: Any) -> int:
        async with sessions() as session:
            rows = await admin.list_reports(session, args.limit)
        _print_reports(rows, args.json, settings.tz)
        return 0

    return await _with_tables(settings, work)


def _reports_list_quickly(args: argparse.Namespace) -> bool:
    """`reports list` on a database already at the head, read without pydantic, SQLAlchemy or
    alembic (#16: it starts in a tenth of a second, not one and a half). False when that cannot
    be sure of the answer; the full path then migrates, checks and explains."""
    # Imported here: each command loads what it uses (the module docstring).
    from bot.light_settings import database_settings
    from bot.logs import configure_logging
    from storage.light import list_reports

    settings = database_settings()
    if settings is None:
        return False
    configure_logging(settings.log_level, settings.log_format)  # as main() does for the others
    rows = asyncio.run(list_reports(settings.database_url, args.limit, settings.seal_keys))
    if rows is None:
        return False
    _print_reports(rows, args.json, settings.tz)
    return True


async def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the jobs load the digest's charts and the database.
    from scheduler.jobs import JOBS
    from scheduler.schedule import load_schedules

    if args.action == "list":
        now = datetime.now(settings.tz)
        for name, trigger in load_schedules(
            settings.data_file("schedules.yaml"), settings.tz
        ).items():
            upcoming = trigger.get_next_fire_time(None, now)
            print(f"{name}\t{trigger}\tnext: {upcoming:%Y-%m-%d %H:%M %Z}" if upcoming else name)
        return 0
    if args.name not in JOBS:
        raise CliError(f"unknown job {args.name!r}; known jobs: {', '.join(JOBS)}")
    if args.force and args.name not in DIGESTS:
        raise CliError(f"--force is for the digests ({', '.join(DIGESTS)}), not {args.name}")

    async def work(core: Any) -> int:
        if args.name in DIGESTS:
            return await _run_digest(core, args.name, args.force)
        count = await JOBS[args.name](core)
        # What the job queued goes out through the running server's delivery worker.
        print(f"{args.name}: {count}")
        return 0

    return await _with_core(settings, work)


DIGESTS = ("daily_digest", "weekly_digest", "monthly_digest")


async def _run_digest(core: Any, name: str, force: bool) -> int:
    """A digest goes out once per period: say so rather than print a bare 0."""
    from scheduler.digest import run_digest, sent_at  # here: the charts, only for a digest

    period, at = await sent_at(core, name)
    if at is not None and not force:
        print(
            f"{name}: not sent: the digest for {period} already went out at "
            f"{at.astimezone(core.settings.tz):%H:%M %d/%m/%Y}. "
            f"To send it again: grassroots jobs run {name} --force"
        )
        return 0
    chats = await run_digest(core, name, force)
    if not chats:
        print(f"{name}: no leaders chat is bound; bind one: grassroots chat bind leaders ...")
    else:  # the running server's delivery worker sends what was queued
        print(f"{name}: sent to {chats} chat{'s' if chats > 1 else ''} (queued for delivery)")
    return 0


async def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    from reports.digest import build  # here: the charts, only for a digest

    async def work(core: Any) -> int:
        now = datetime.now(UTC)
        text, chart = await build(core, now - timedelta(days=1), now)
        print(text)
        print(f"\nChart: {chart}")
        return 0

    return await _with_core(settings, work)


async def cmd_outbox(args: argparse.Namespace, settings: Settings) -> int:
    from storage.outbox import status_summary  # here: SQLAlchemy, only once a command runs

    async def work(sessions: Any) -> int:
        async with sessions() as session:
            summary = await status_summary(session)
        print(
            f"pending {summary['pending']} ({summary['sending']} on the wire), "
            f"failed {summary['failed']}, sent {summary['sent']}; "
            f"oldest pending: {summary['oldest_pending']}; {summary['in_doubt']} in doubt "
            "(on the wire when a process died, so sent again: each may have arrived twice)"
        )
        for error, count in summary["errors"]:
            print(f"  {count} × {error}")
        return 0

    return await _with_tables(settings, work)


async def cmd_poll(args: argparse.Namespace, settings: Settings) -> int:

    command = poll_command if args.group == "poll" else sitrep_command
    return await _with_core(settings, lambda core: command(args, core))


async def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: python-docx and the charts, only for this document.
    from reports.monthly import MonthError, build_monthly_report, parse_month

    try:
        month = parse_month(args.month)
    except MonthError as exc:
        raise CliError(str(exc)) from None

    async def work(core: Any) -> int:
        document = await build_monthly_report(core, month, args.lang)
        await asyncio.to_thread(args.out.write_bytes, document)
        print(f"Monthly report for {month:%Y-%m} written to {args.out} ({len(document)} bytes).")
        return 0

    return await _with_core(settings, work)


def _read_password() -> str:
    """From a terminal: asked twice, not echoed. From a pipe: the first line."""
    from bot.admin.passwords import password_problem  # here: argon2, only for passwords

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CliError("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password)
    if problem:
        raise CliError(problem)
    return password


async def cmd_admin(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: argon2 and SQLAlchemy, only once a command runs.
    from bot.admin.passwords import hash_password
    from storage import audit, webauth
    from storage.models import Person

    password_hash = await hash_password(_read_password())

    async def work(core: Any) -> int:
        async with core.sessions() as session, session.begin():
            try:
                if args.action == "set-password":
                    await webauth.set_password_hash(session, args.username, password_hash)
                    await audit.record(
                        session, None, CLI_ACTOR, "account.password", args.username.strip().lower()
                    )
                    print(f"Password of {args.username.strip().lower()} changed.")
                    return 0
                person_id = args.person_id
                if person_id is None:
                    person = Person(display_name=args.name.strip(), role=args.role)
                    session.add(person)
                    await session.flush()
                    person_id = person.id
                found = await webauth.web_person(session, person_id)
                if found is not None and found.role not in WEB_ROLES:
                    raise CliError(
                        f"person {person_id} is a {found.role}; the web admin is for "
                        + ", ".join(sorted(WEB_ROLES))
                    )
                row = await webauth.add_account(session, args.username, password_hash, person_id)
                await audit.record(
                    session, None, CLI_ACTOR, "account.add", row.username, person_id=person_id
                )
            except webauth.AccountError as exc:
                raise CliError(str(exc)) from None
        print(
            f"Account {row.username} created for person {person_id}; "
            f"sign in at {core.engine.admin_url}/login"
        )
        return 0

    return await _with_core(settings, work)


async def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the seal's cryptography and SQLAlchemy are not needed for `--help`.
    from bot.keys import keys_command

    return await _with_tables(settings, lambda sessions: keys_command(args, settings, sessions))


COMMANDS: dict[str, Command] = {
    "run": cmd_run,
    "db": cmd_db,
    "org": cmd_org,
    "dept": cmd_dept,
    "invite": cmd_invite,
    "chat": cmd_chat,
    "reports": cmd_reports,
    "jobs": cmd_jobs,
    "digest": cmd_digest,
    "outbox": cmd_outbox,
    "poll": cmd_poll,
    "sitrep": cmd_poll,
    "report": cmd_report,
    "admin": cmd_admin,
    "keys": cmd_keys,
    "backup": cmd_backup,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.group == "doctor":
        return doctor_main()
    if args.group == "reports" and args.action == "list" and _reports_list_quickly(args):
        return 0
    # Imported once a command runs: pydantic is not needed for `--help`.
    from bot.config import ConfigError, load_settings
    from bot.logs import configure_logging

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"grassroots: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return asyncio.run(COMMANDS[args.group](args, settings))
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"grassroots: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if not isinstance(exc, _operator_errors()):
            raise
        print(f"grassroots: {exc}", file=sys.stderr)
        return 1


def _operator_errors() -> tuple[type[Exception], ...]:
    """The failures told to the operator in one line rather than as a traceback."""
    # Imported here, once a command has failed: a module that could raise one of these is
    # loaded by then anyway, and `--help` needs none of them.
    from bot.config import ConfigError
    from handlers.forms import FormError
    from scheduler.nudges import NudgeError
    from scheduler.schedule import ScheduleError

    return (CliError, PollCliError, FormError, ConfigError, ScheduleError, NudgeError)


if __name__ == "__main__":
    sys.exit(main())
