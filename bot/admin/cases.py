"""Cases: the filtered list, one case with its whole history, and the card's actions.

Actions go through the core's case desk (`CaseDesk.act`): the same checks, state machine and
effects as a button pressed in chat, with the reporter's notice written to the outbox in the
same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.admin.auth import redirect
from bot.admin.context import admin_of
from bot.admin.filters import ANONYMITY, URGENCIES, parse_filter, query_string
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from handlers.cards import ACTION_LABELS, SOURCE_NAMES, ReporterInfo, case_facts, reporter_line
from handlers.casedesk import DUE_PRESETS, ActionFailed
from handlers.casework import OPEN, Action, Refusal, buttons_for
from handlers.i18n import Translator
from handlers.org import HOST_KINDS
from handlers.ports import ReportView
from handlers.status import STATUS_NAMES, event_line, status_label
from storage import admin as org
from storage.casequery import case_page
from storage.cases import case_attachment, named_reporter, timeline
from storage.db import Session
from storage.store import SqlStore

PAGE_SIZE = 50
# Actions whose form asks for text, and the label of that field.
TEXT_FIELDS = {
    Action.ASK: "question",
    Action.RESOLVE: "note",
    Action.REJECT: "reason",
    Action.DUPLICATE: "code",
    Action.HAND_BACK: "reason",
    Action.SET_DUE: "date",
}
# Closing a case without handling it: set apart on the page and confirmed with a tick.
DESTRUCTIVE = ("reject", "dup")
# Chats named by their product (not translated); the web chat and the feedback page by words.
CHAT_NAMES = {"telegram": "Telegram", "zalo": "Zalo", "zalo-oa": "Zalo OA"}
INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _before(value: str) -> int | None:
    return int(value) if value.isdecimal() and len(value) <= 12 else None


@requires(Permission.CASES)
async def case_list(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    ctx = admin.context
    t = request[TRANSLATOR]
    flt, values, errors = parse_filter(request.query, t, ctx.catalog, ctx.settings.tz, viewer)
    now = datetime.now(UTC)
    async with ctx.sessions() as session:
        rows, next_id = await case_page(
            session, flt, now, _before(request.query.get("before", "")), PAGE_SIZE
        )
        departments = await SqlStore(session).departments()
    return admin.pages.page(
        request,
        "cases.html",
        rows=rows,
        now=now,
        values=values,
        errors=errors,
        statuses=list(STATUS_NAMES),
        categories=ctx.catalog.categories,
        urgencies=URGENCIES,
        units=ctx.engine.units,
        host_kinds=list(HOST_KINDS),
        departments=departments if viewer.sees_every_case else [],
        filters=query_string(values),
        next_page=query_string(values, before=next_id) if next_id else "",
        first_page=bool(request.query.get("before")),
        may_export=viewer.may(Permission.EXPORT),
    )


async def _visible_case(request: web.Request, viewer: Viewer, store: SqlStore) -> ReportView:
    case = await store.case_by_code(request.match_info["code"][:32])
    if case is None:
        raise web.HTTPNotFound()
    if not viewer.may_see(case):
        raise web.HTTPForbidden()
    return case


_REPORTER_STEPS = frozenset({"", "answer", "addinfo", "confirm", "dispute"})


async def _timeline(session: Session, case: ReportView) -> list[dict[str, Any]]:
    """Every event, with who acted: staff by name; the reporter only as "the reporter"."""
    events = []
    for event in await timeline(session, case.id):
        # A hidden reporter's own steps are stored with no actor at all.
        by_reporter = event.actor_person_id == case.reporter_person_id or (
            event.actor_person_id is None and event.action in _REPORTER_STEPS
        )
        events.append(
            {
                "at": event.at,
                "action": event.action,
                "note": event.note,
                "to_status": event.to_status,
                "by_reporter": by_reporter,
                "actor": "" if by_reporter else event.actor_name,
            }
        )
    return events


async def _detail(
    request: web.Request,
    viewer: Viewer,
    status: int = 200,
    error: str = "",
    revealed: str | None = None,
) -> web.Response:
    admin = admin_of(request)
    ctx = admin.context
    t = request[TRANSLATOR]
    async with ctx.sessions() as session:
        store = SqlStore(session)
        case = await _visible_case(request, viewer, store)
        found = await named_reporter(session, case.id) if case.anonymity == "named" else None
        reporter = ReporterInfo(found.name, found.username, found.unit_name) if found else None
        attachments = await org.attachments_of(session, case.id)
        timeline = await _timeline(session, case)
        departments = await store.departments()
        audience = "department" if viewer.role == "handler" else "staff"
        # Only staff see other cases named, as on the staff card (never a hidden reporter).
        similar = await store.similar_open(case.id) if audience == "staff" else []
    actions: list[Action] = []
    if viewer.role != "leader":  # leaders follow cases; they do not work them (as in chat)
        actions = [a for a in buttons_for(case_facts(case), audience) if a != Action.REVEAL]
    may_reveal = case.anonymity == "confidential" and viewer.can_reveal
    return admin.pages.page(
        request,
        "case.html",
        status,
        case=case,
        reporter=reporter_line(t, case.anonymity, reporter),
        source=source_line(t, case.channel),
        destructive=DESTRUCTIVE,
        anonymity=t(ANONYMITY.get(case.anonymity, case.anonymity)),
        urgency=t(URGENCIES.get(case.urgency, case.urgency)),
        attachments=attachments,
        file_name=lambda a: a.name if case.anonymity == "named" and a.name else "",
        timeline=timeline,
        event_line=lambda action, note: event_line(t, action, note),
        actions=actions,
        labels={a: t(ACTION_LABELS[a]) for a in Action if a in ACTION_LABELS},
        text_fields=TEXT_FIELDS,
        due_presets=list(DUE_PRESETS),
        departments=departments,
        may_reveal=may_reveal,
        revealed=revealed,
        error=error,
        done=request.query.get("done", ""),
        similar=similar if case.status in OPEN else [],
        now=datetime.now(UTC),
    )


def source_line(t: Translator, channel: str) -> str:
    """Where the report came in: a chat (which one), or the public feedback page."""
    if channel in SOURCE_NAMES:
        return t(SOURCE_NAMES[channel])
    if channel == "web":
        return t("Chat: {channel}", channel=t("web chat"))
    return t("Chat: {channel}", channel=CHAT_NAMES.get(channel, channel or "—"))


@requires(Permission.CASES)
async def case_detail(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _detail(request, viewer)


@requires(Permission.CASES)
async def case_action(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """One action from the case page: checked and applied by the core, like a button press."""
    admin = admin_of(request)
    ctx = admin.context
    t = request[TRANSLATOR]
    form = await request.post()
    try:
        action = Action(str(form.get("action", "")))
        version = int(str(form.get("version", "")))
    except ValueError:
        return await _detail(request, viewer, 400, t("This button is not valid."))
    if action in (Action.ANSWER, Action.ADD_INFO, Action.CONFIRM, Action.DISPUTE):
        raise web.HTTPForbidden()  # the reporter's own actions happen in their chat
    try:
        async with ctx.sessions() as session, session.begin():
            store = SqlStore(session)
            case = await _visible_case(request, viewer, store)
            actor = viewer.actor(case)
            if action == Action.REVEAL:
                try:
                    who = await ctx.engine.desk.reveal(store, actor, case)
                except Refusal as refusal:
                    raise ActionFailed(
                        t(refusal.reason).format(status=status_label(t, case.status))
                    ) from None
                revealed: str | None = who or "—"
            else:
                revealed = None
                _updated, effect = await ctx.engine.desk.act(
                    store,
                    t,
                    actor,
                    case,
                    version,
                    action,
                    datetime.now(UTC),
                    arg=str(form.get("arg", ""))[:64],
                    text=str(form.get("text", "")),
                    redirect=str(form.get("redirect", "")),
                    reason=str(form.get("reason", "")),
                )
                await ctx.effects.apply(session, effect)
    except ActionFailed as failed:  # rolled back: nothing changed
        return await _detail(request, viewer, 409 if failed.stale else 400, failed.message)
    if revealed is not None:
        # Shown once, to this person only; never stored or logged beyond the RevealLog row.
        return await _detail(request, viewer, revealed=revealed)
    if ctx.delivery is not None:
        ctx.delivery.wake()
    return redirect(f"/admin/cases/{case.code}?done={action.value}")


@requires(Permission.CASES)
async def case_file(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """An attachment of a case the viewer may see; hidden reporters' file names are not shown."""
    admin = admin_of(request)
    root = admin.context.settings.attachments_dir.resolve()
    file_id = request.match_info["file_id"]
    if not file_id.isdecimal() or len(file_id) > 12:
        raise web.HTTPNotFound()
    async with admin.context.sessions() as session:
        case = await _visible_case(request, viewer, SqlStore(session))
        attachment = await case_attachment(session, case.id, int(file_id))
    if attachment is None or not attachment.path:
        raise web.HTTPNotFound()
    path = (root / attachment.path).resolve()
    if root not in path.parents or not path.is_file():
        raise web.HTTPNotFound()
    name = f"{case.code}-{attachment.id}{Path(attachment.path).suffix}"
    inline = attachment.mime in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    return web.FileResponse(
        path,
        headers={
            "Content-Disposition": f'{disposition}; filename="{name}"',
            "Content-Type": attachment.mime if inline else "application/octet-stream",
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/cases", case_list),
        web.get("/cases/{code}", case_detail),
        web.post("/cases/{code}/act", case_action),
        web.get("/cases/{code}/files/{file_id}", case_file),
    ]
