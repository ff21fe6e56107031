"""Polls and situation reports: the list with live response rates, a YAML upload checked like
`grassroots poll import`, each round's results (the same text as the results message) with
rates per unit, situation-report compliance, CSV/XLSX downloads and re-sending an open round.

Anonymous polls show and export no person anywhere: `response_table` leaves the name and unit
columns out, and `round_results` carries counts and texts only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.admin.audited import change
from bot.admin.auth import redirect
from bot.admin.context import admin_of
from bot.admin.exports import safe_cells, stream_csv, stream_xlsx
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from bot.admin.render import percent
from handlers.i18n import N_, Translator
from handlers.polldefs import PollDef, PollDefError, check_poll, parse_poll_bytes, pick
from reports.polls import render_results
from scheduler.polls import resend_round
from storage import audit
from storage.db import Session
from storage.models import Poll, PollRound
from storage.pollresults import (
    TooFewAnswers,
    compliance,
    response_rate,
    response_table,
    round_results,
)
from storage.polls import all_polls, find_poll, import_poll, rounds_of

STATUS = {"on_time": N_("on time"), "late": N_("late"), "missing": N_("missing")}
MAX_YAML = 512 * 1024


@dataclass(frozen=True)
class RoundRow:
    round: PollRound
    invited: int
    responded: int

    @property
    def rate(self) -> str:
        return percent(self.responded, self.invited)


def schedule_text(t: Translator, defn: PollDef) -> str:
    s = defn.schedule
    if defn.kind == "sitrep":
        return t(
            "Monthly: opens on day {open_day} at {open_time}, due on day {due_day} at {due_time}",
            open_day=s.open_day,
            open_time=s.open_time.strftime("%H:%M"),
            due_day=s.due_day,
            due_time=s.due_time.strftime("%H:%M"),
        )
    if s.cron:
        return t(
            "Repeats (cron {cron}), open {hours} hours", cron=s.cron, hours=f"{s.window_hours:g}"
        )
    when = s.once.strftime("%d/%m/%Y %H:%M") if s.once else ""
    return t("Once, at {when}, open {hours} hours", when=when, hours=f"{s.window_hours:g}")


async def _listing(session: Session) -> list[tuple[Poll, PollDef, list[RoundRow]]]:
    out = []
    for poll in await all_polls(session):
        assert poll.id is not None
        rows = []
        for rnd in reversed(await rounds_of(session, poll.id)):
            assert rnd.id is not None
            invited, responded = await response_rate(session, rnd.id)
            rows.append(RoundRow(rnd, invited, responded))
        out.append((poll, PollDef.model_validate(poll.definition), rows))
    return out


async def _list_page(
    request: web.Request, viewer: Viewer, error: str = "", status: int = 200
) -> web.Response:
    admin = admin_of(request)
    t = request[TRANSLATOR]
    async with admin.context.sessions() as session:
        polls = await _listing(session)
    return admin.pages.page(
        request,
        "polls.html",
        status,
        polls=polls,
        pick=pick,
        schedule=lambda d: schedule_text(t, d),
        error=error,
        imported=request.query.get("imported", "")[:48],
        outcome=request.query.get("outcome", ""),
        may_change=viewer.may(Permission.ADMINISTER),
    )


@requires(Permission.DASHBOARD)
async def polls(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _list_page(request, viewer)


@requires(Permission.ADMINISTER)
async def upload(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    t = request[TRANSLATOR]
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _list_page(request, viewer, t("Choose a poll file (YAML) to upload."), 400)
    data = upload.file.read(MAX_YAML + 1)
    source = (upload.filename or "poll.yaml")[-80:]
    try:
        if len(data) > MAX_YAML:
            raise PollDefError(t("{source}: the file is larger than 512 KB", source=source))
        defn = parse_poll_bytes(data, source)
        check_poll(defn, admin_of(request).context.catalog, source)
    except PollDefError as exc:
        message = t("The poll was not imported: {problem}", problem=str(exc))
        return await _list_page(request, viewer, message, 400)
    async with change(request, viewer) as done:
        poll, outcome = await import_poll(done.session, defn)
        if outcome != "unchanged":
            await done.log("poll.import", poll.key, outcome=outcome, version=poll.version)
    return redirect(f"/admin/polls?imported={poll.key}&outcome={outcome}")


async def _round(session: Session, request: web.Request) -> tuple[Poll, PollDef, PollRound]:
    poll = await find_poll(session, request.match_info["key"][:48])
    if poll is None or poll.id is None:
        raise web.HTTPNotFound()
    number = int(request.match_info["number"])
    rnd = next((r for r in await rounds_of(session, poll.id) if r.number == number), None)
    if rnd is None:
        raise web.HTTPNotFound()
    return poll, PollDef.model_validate(rnd.definition), rnd


@requires(Permission.DASHBOARD)
async def round_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    t = request[TRANSLATOR]
    tz = admin.context.settings.tz
    async with admin.context.sessions() as session:
        poll, defn, rnd = await _round(session, request)
        assert rnd.id is not None
        results = await round_results(session, rnd.id, admin.context.settings.min_group_size)
        sitrep = await compliance(session, rnd.id) if defn.kind == "sitrep" else None
    return admin.pages.page(
        request,
        "poll_round.html",
        poll=poll,
        defn=defn,
        rnd=rnd,
        title=pick(defn.title, t.locale),
        results=results,
        text=render_results(t, results, tz, rnd.closes_at),
        sitrep=sitrep,
        statuses=STATUS,
        pct=percent,
        schedule=schedule_text(t, defn),
        resent=request.query.get("resent", "")[:40],
        may_change=viewer.may(Permission.ADMINISTER),
    )


async def _one_batch(rows: list[list[Any]]) -> AsyncIterator[list[list[Any]]]:
    yield rows


async def _download(request: web.Request, what: str) -> web.StreamResponse:
    admin = admin_of(request)
    t = request[TRANSLATOR]
    kind = request.match_info["kind"]
    async with admin.context.sessions() as session:
        poll, defn, rnd = await _round(session, request)
        assert rnd.id is not None
        if what == "results":
            k = admin.context.settings.min_group_size
            try:
                header, rows = await response_table(
                    session, rnd.id, t.locale, admin.context.settings.tz, k
                )
            except TooFewAnswers:
                return admin.pages.message(
                    request,
                    409,
                    t("Not exported"),
                    t(
                        "Fewer than {count} people have answered this anonymous poll: its answers "
                        "are not exported, so nobody can be singled out.",
                        count=k,
                    ),
                )
            data = [safe_cells(list(r)) for r in rows]
        else:
            if defn.kind != "sitrep":
                raise web.HTTPNotFound()
            c = await compliance(session, rnd.id)
            header = [t("Unit code"), t("Unit"), t("Status"), t("Filed at"), t("Contact points")]
            data = [
                safe_cells(
                    [
                        u.code,
                        u.name,
                        t(STATUS[u.status]),
                        _when(u.filed_at, admin.context.settings.tz),
                        u.contact_points,
                    ]
                )
                for u in c.units
            ]
    name = f"{poll.key}-{rnd.period}-{what}.{kind}"
    if kind == "csv":
        return await stream_csv(request, name, header, _one_batch(data))
    return await stream_xlsx(request, name, f"{poll.key}", header, _one_batch(data))


def _when(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%d/%m/%Y %H:%M") if at else ""


@requires(Permission.DASHBOARD)
async def results_download(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _download(request, "results")


@requires(Permission.DASHBOARD)
async def compliance_download(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _download(request, "compliance")


@requires(Permission.ADMINISTER)
async def resend(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    t = request[TRANSLATOR]
    async with admin.context.sessions() as session:
        poll, _defn, rnd = await _round(session, request)
    here = f"/admin/polls/{poll.key}/{rnd.number}"
    if rnd.status != "open":
        return admin.pages.message(
            request, 409, t("Round closed"), t("Only an open round can be sent again.")
        )

    async def log(session: Session, joined: int, queued: int) -> None:
        await audit.record(
            session,
            viewer.person_id,
            viewer.name,
            "poll.resend",
            f"{poll.key} #{rnd.number}",
            newly_invited=joined,
            queued=queued,
        )

    joined, queued = await resend_round(admin.context, rnd, log)
    return redirect(f"{here}?resent={joined}-{queued}")


def routes() -> list[web.AbstractRouteDef]:
    key = r"{key:[a-z0-9][a-z0-9_-]{0,47}}"
    rnd = rf"/polls/{key}/{{number:\d{{1,6}}}}"
    return [
        web.get("/polls", polls),
        web.post("/polls/import", upload),
        web.get(rnd, round_page),
        web.get(rnd + r"/results.{kind:csv|xlsx}", results_download),
        web.get(rnd + r"/compliance.{kind:csv|xlsx}", compliance_download),
        web.post(rnd + "/resend", resend),
    ]
