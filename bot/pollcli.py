"""`grassroots poll …` and `grassroots sitrep …`: import definitions, see rounds, results and
compliance, and export them.

The parsers are built at every `grassroots` start, `--help` included, so this module loads
nothing heavy: each command imports the database, scheduler and poll definitions it uses."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.tables import FORMATS, write_table


class PollCliError(Exception):
    """A one-line reason for the operator."""


class NoRoundYet(PollCliError):
    """The poll has no round yet; the message says when or how it starts."""


def add_parsers(sub: Any) -> None:
    poll = sub.add_parser("poll", help="collaborator polls").add_subparsers(
        dest="action", required=True
    )
    imp = poll.add_parser("import", help="create or update a poll from YAML or XLSForm (.xlsx)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--dry-run", action="store_true", help="check the file only")
    poll.add_parser("list", help="polls and their rounds, with response rates")
    exp = poll.add_parser("export", help="write a poll's definition as an XLSForm spreadsheet")
    exp.add_argument("poll")
    exp.add_argument("--format", choices=["xlsform"], default="xlsform")
    exp.add_argument("--out", type=Path, help="file to write (default: POLL.xlsx)")
    res = poll.add_parser("results", help="a round's results")
    res.add_argument("poll")
    res.add_argument("--round", type=int, help="round number (default: the latest)")
    res.add_argument("--format", choices=FORMATS, default="text")
    res.add_argument("--out", type=Path, help="file to write (needed for xlsx)")
    resend = poll.add_parser("resend", help="re-send the open round to those who have not answered")
    resend.add_argument("poll")

    sit = sub.add_parser("sitrep", help="situation reports").add_subparsers(
        dest="action", required=True
    )
    st = sit.add_parser("status", help="expected, received, on time, late and missing units")
    st.add_argument("--poll", help="situation-report id (default: the only one)")
    st.add_argument("--period", help="YYYY-MM (default: the latest)")
    st.add_argument("--format", choices=FORMATS, default="text")
    st.add_argument("--out", type=Path)


async def _round(
    session: Any,
    poll_key: str,
    tz: Any,
    number: int | None = None,
    period: str | None = None,
) -> Any:
    from storage.polls import find_poll, rounds_of  # here: SQLAlchemy (the module docstring)

    poll = await find_poll(session, poll_key)
    if poll is None:
        raise PollCliError(f"no poll with id {poll_key!r}; see `grassroots poll list`")
    assert poll.id is not None
    rounds = await rounds_of(session, poll.id)
    if number is not None:
        rounds = [r for r in rounds if r.number == number]
    if period is not None:
        rounds = [r for r in rounds if r.period == period]
    if not rounds and number is None and period is None:
        raise NoRoundYet(_not_started(poll, tz))
    if not rounds:
        raise PollCliError(f"{poll_key}: no such round yet")
    return poll, rounds[-1]


def _not_started(poll: Any, tz: Any) -> str:
    """Rounds are opened by the `polls` job, so a round can be due by its schedule and not
    exist yet (just imported, or `grassroots run` is not running)."""
    # Imported here: pydantic and the scheduler (the module docstring).
    from handlers.polldefs import PollDef
    from scheduler.polls import current_windows

    defn = PollDef.model_validate(poll.definition)
    windows = current_windows(defn, datetime.now(UTC), tz, imported=poll.updated_at)
    if not windows:
        return f"{poll.key}: no round yet. {_when_it_opens(defn, tz)}"
    return (
        f"{poll.key}: the round for {windows[-1].period} is open by its schedule but has not "
        "started yet: it starts within a minute while `grassroots run` is running, "
        "or now with `grassroots jobs run polls`."
    )


def load_definition(path: Path) -> Any:
    """A poll file, read by its extension: an XLSForm workbook, else YAML."""
    from handlers.polldefs import PollDefError, load_poll_file  # here: pydantic and YAML

    try:
        if path.suffix.lower() not in (".xlsx", ".xlsm"):
            return load_poll_file(path)
        from bot.xlsform import read_xlsform  # heavy: pyxform/openpyxl only for this command

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PollCliError(f"{path}: cannot read ({exc.strerror})") from None
        return read_xlsform(data, path.name)
    except PollDefError as exc:
        raise PollCliError(str(exc)) from None


async def export_poll(args: argparse.Namespace, core: Any) -> int:
    """`grassroots poll export KEY`: the definition as an XLSForm workbook."""
    from bot.xlsform import write_xlsform  # heavy: pyxform/openpyxl only for this command
    from handlers.polldefs import PollDef  # here: pydantic and SQLAlchemy, as below
    from storage.polls import find_poll

    async with core.sessions() as session:
        poll = await find_poll(session, args.poll)
    if poll is None:
        raise PollCliError(f"no poll with id {args.poll!r}; see `grassroots poll list`")
    out = args.out or Path(f"{poll.key}.xlsx")
    try:
        out.write_bytes(write_xlsform(PollDef.model_validate(poll.definition)))
    except OSError as exc:
        raise PollCliError(f"{out}: cannot write ({exc.strerror})") from None
    print(f"Wrote {out}.")
    return 0


async def poll_command(args: argparse.Namespace, core: Any) -> int:
    if args.action == "export":
        return await export_poll(args, core)
    if args.action == "import":
        return await _import(args, core)
    if args.action == "list":
        return await _list(core)
    if args.action == "resend":
        return await _resend(args, core)
    return await _results(args, core)


async def _import(args: argparse.Namespace, core: Any) -> int:
    """`poll import FILE [--dry-run]`: create or update the poll, say when its rounds open."""
    # Imported here: pydantic and SQLAlchemy (the module docstring).
    from handlers.polldefs import PollDefError, check_poll
    from storage import audit
    from storage.polls import import_poll

    defn = load_definition(args.file)
    try:
        check_poll(defn, core.catalog, args.file.name)
    except PollDefError as exc:
        raise PollCliError(str(exc)) from None
    if args.dry_run:  # import for real, then roll back: the outcome is the real one
        async with core.sessions() as session, session.begin():
            _, outcome = await import_poll(session, defn)
            await session.rollback()
        would = {"created": "would be created", "updated": "would be updated"}
        print(
            f"{defn.id}: valid, {len(defn.questions)} questions; {would.get(outcome, 'unchanged')}."
        )
        return 0
    async with core.sessions() as session, session.begin():
        poll, outcome = await import_poll(session, defn)
        if outcome != "unchanged":
            await audit.record(
                session,
                None,
                "command line",
                "poll.import",
                poll.key,
                outcome=outcome,
                version=poll.version,
            )
    if outcome == "updated":
        print(
            f"{poll.key}: updated to version {poll.version}; rounds already open keep the version they started with."
        )
    else:
        print(f"{poll.key}: {outcome} (version {poll.version}).")
    print(_when_it_opens(defn, core.settings.tz))
    return 0


async def _list(core: Any) -> int:
    """`poll list`: every poll with its rounds and their response rates."""
    # Imported here: SQLAlchemy (the module docstring).
    from storage.pollresults import response_rate
    from storage.polls import all_polls, rounds_of

    tz = core.settings.tz
    async with core.sessions() as session:
        polls = await all_polls(session)
        if not polls:
            print("No polls yet. Import one with `grassroots poll import FILE.yaml`.")
        for poll in polls:
            print(f"{poll.key}  {poll.kind}  version {poll.version}")
            assert poll.id is not None
            for rnd in await rounds_of(session, poll.id):
                assert rnd.id is not None
                invited, responded = await response_rate(session, rnd.id)
                print(
                    f"  round {rnd.number}  {rnd.period}  {rnd.status}  "
                    f"{responded}/{invited} responded  closes {rnd.closes_at.astimezone(tz):%Y-%m-%d %H:%M}"
                )
    return 0


async def _resend(args: argparse.Namespace, core: Any) -> int:
    """`poll resend POLL`: invite who joined since, and remind who has not answered."""
    # Imported here: the scheduler and SQLAlchemy (the module docstring).
    from scheduler.polls import resend_round
    from storage import audit

    async with core.sessions() as session:
        _, rnd = await _round(session, args.poll, core.settings.tz)
    if rnd.status != "open":
        raise PollCliError(f"{args.poll}: the latest round is closed")

    async def log(session: Any, joined: int, queued: int) -> None:
        await audit.record(
            session,
            None,
            "command line",
            "poll.resend",
            f"{args.poll} #{rnd.number}",
            newly_invited=joined,
            queued=queued,
        )

    joined, queued = await resend_round(core, rnd, log)
    print(f"Round {rnd.number}: {joined} newly invited, {queued} invitations queued.")
    return 0


def _when_it_opens(defn: Any, tz: Any) -> str:
    """Tell the operator when the first round goes out, or that a one-off time has passed."""
    # Imported here: APScheduler and the scheduler (the module docstring).
    from apscheduler.triggers.cron import CronTrigger

    from scheduler.polls import current_windows

    now = datetime.now(UTC)
    if current_windows(defn, now, tz, imported=now):  # just imported
        return "A round is open now: invitations go out within a minute while `grassroots run` is running."
    s = defn.schedule
    if defn.kind == "sitrep":
        return f"Monthly: opens on day {s.open_day} at {s.open_time:%H:%M}, due on day {s.due_day} at {s.due_time:%H:%M}."
    if s.once is not None:
        opens = s.once if s.once.tzinfo else s.once.replace(tzinfo=tz)
        if opens + timedelta(hours=s.window_hours) <= now:
            return "Warning: its one-off time and answer window have already passed, so it will never open. Set schedule.once to a future time."
        return f"Opens at {opens.astimezone(tz):%H:%M %d/%m/%Y}."
    nxt = CronTrigger.from_crontab(s.cron, timezone=tz).get_next_fire_time(None, now)
    return f"Next round opens at {nxt:%H:%M %d/%m/%Y}." if nxt else "The cron line never fires."


async def _results(args: argparse.Namespace, core: Any) -> int:
    # Imported here: the renderers and SQLAlchemy (the module docstring).
    from reports.polls import render_results
    from storage.pollresults import TooFewAnswers, response_table, round_results

    t = core.translations(None)
    async with core.sessions() as session:
        _, rnd = await _round(session, args.poll, core.settings.tz, args.round)
        if args.format == "text":
            results = await round_results(session, rnd.id, core.settings.min_group_size)
            print(render_results(t, results, core.settings.tz, rnd.closes_at))
            return 0
        k = core.settings.min_group_size
        try:
            header, rows = await response_table(session, rnd.id, t.locale, core.settings.tz, k)
        except TooFewAnswers:
            raise PollCliError(
                f"Fewer than {k} people have answered this anonymous poll: its answers are not "
                "exported, so nobody can be singled out (MIN_GROUP_SIZE)."
            ) from None
    _write(header, rows, args, f"{args.poll}-round{rnd.number}")
    return 0


def _write(header: list[str], rows: Any, args: argparse.Namespace, sheet: str) -> None:
    try:
        write_table(header, rows, args.format, args.out, sheet)
    except ValueError as exc:
        raise PollCliError(str(exc)) from None
    if args.out is not None:
        print(f"Wrote {args.out}.")


async def sitrep_command(args: argparse.Namespace, core: Any) -> int:
    # Imported here: the renderers and SQLAlchemy (the module docstring).
    from reports.polls import render_compliance
    from storage.pollresults import compliance
    from storage.polls import all_polls

    async with core.sessions() as session:
        key = args.poll
        if key is None:
            sitreps = [p.key for p in await all_polls(session) if p.kind == "sitrep"]
            if len(sitreps) != 1:
                raise PollCliError(
                    "no situation report imported yet"
                    if not sitreps
                    else f"several situation reports; choose one with --poll ({', '.join(sitreps)})"
                )
            key = sitreps[0]
        try:
            _, rnd = await _round(session, key, core.settings.tz, period=args.period)
        except NoRoundYet as exc:  # a status, not a failure
            print(exc)
            return 0
        c = await compliance(session, rnd.id)
    tz = core.settings.tz
    if args.format == "text":
        print(render_compliance(core.translations(None), c, tz, limit=1000))
        return 0
    rows = (
        [
            u.code,
            u.name,
            u.status,
            u.filed_at.astimezone(tz).isoformat() if u.filed_at else "",
            u.contact_points,
        ]
        for u in c.units
    )
    _write(
        ["unit", "name", "status", "filed_at", "contact_points"], rows, args, f"sitrep-{c.period}"
    )
    return 0
