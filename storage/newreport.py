"""A new report, written in SQLAlchemy Core: the hot path of a report's Send step.

Through the ORM a report cost about 26 statements and ~10 ms of the event loop's CPU inside the
writer's turn (an ORM object per band key, the report read back three times, its unit loaded
twice, its attachments counted twice). Here its statements are built once, at import, and on
SQLite they all run in ONE trip to the database thread (each trip costs the event loop a thread
hand-off, several times what the statement costs; see storage/event_start.py); on PostgreSQL
the same steps run one by one. What the staff card is drawn from is kept, in the session, for
the card written in the same transaction (`storage/casecards.py` `case_facts` takes it), so
nothing just written is read back.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from handlers.ports import EventView, ReportView
from storage.event_start import compiled_for_sqlite
from storage.models import (
    Attachment,
    OrgUnit,
    Report,
    ReporterBox,
    ReportEvent,
    SimilarBand,
    SimilarText,
    utcnow,
)
from storage.seal import HIDDEN, boxed, require_sealer, seal_reporter
from storage.similar import IndexedText, indexed_text
from storage.sqlite_driver import OneTripConnection, in_thread

REPORT_PREFIX = "PA"
_FRESH = "grassroots.new_reports"  # the session's `info` key of the reports it wrote


def _table(model: Any) -> Any:
    return model.__table__


def _insert(model: Any, *columns: str) -> Any:
    """An INSERT of exactly these columns, each bound by its own name."""
    return insert(_table(model)).values({c: bindparam(c) for c in columns})


_r = _table(Report)
_u = _table(OrgUnit)
_box = _table(ReporterBox)
_REPORT_COLUMNS = [
    "code",
    "person_id",
    "sealed_reporter",
    "unit_id",
    "category",
    "urgency",
    "description",
    "anonymity",
    "status",
    "channel",
    "locale",
    "created_at",
    "version",
    "delivery_problem",
]
_UNIT = select(_u.c.id, _u.c.name).where(_u.c.code == bindparam("unit_code"))
_INSERT_REPORT = _insert(Report, *_REPORT_COLUMNS).returning(_r.c.id)
_SET_CODE = update(_r).where(_r.c.id == bindparam("report_id")).values(code=bindparam("new_code"))
_BOX = select(_box.c.id, _box.c.token).where(_box.c.tag == bindparam("box_tag"))
_NEW_BOX = _insert(ReporterBox, "tag", "token")
_SET_BOX = (
    update(_box)
    .where(_box.c.id == bindparam("box_id"))
    .values(tag=bindparam("new_tag"), token=bindparam("new_token"))
)
_INSERT_TEXT = _insert(SimilarText, "report_id", "normalised")
_INSERT_BAND = _insert(SimilarBand, "band_key", "report_id")
_INSERT_EVENT = _insert(
    ReportEvent, "report_id", "actor_person_id", "at", "from_status", "to_status", "action", "note"
)
_ATTACHMENT_COLUMNS = [
    "report_id",
    "kind",
    "channel",
    "channel_ref",
    "path",
    "mime",
    "size",
    "name",
    "latitude",
    "longitude",
]
_INSERT_ATTACHMENT = _insert(Attachment, *_ATTACHMENT_COLUMNS)
_STATEMENTS = (
    _UNIT,
    _INSERT_REPORT,
    _SET_CODE,
    _BOX,
    _NEW_BOX,
    _SET_BOX,
    _INSERT_TEXT,
    _INSERT_BAND,
    _INSERT_EVENT,
    _INSERT_ATTACHMENT,
)
_SQLITE = {id(s): compiled_for_sqlite(s) for s in _STATEMENTS}  # compiled once, at import


def report_code(report_id: int) -> str:
    """A code a person can read out on the phone: PA-0042."""
    return f"{REPORT_PREFIX}-{report_id:04d}"


@dataclass(frozen=True)
class NewReport:
    """A report as it was just written, for its first card. `person_id` is the reporter's,
    named or hidden: for permission checks and the named reporter's line, never shown."""

    view: ReportView
    person_id: int | None
    unit_id: int | None
    text: IndexedText
    has_attachments: bool


class _Plan(NamedTuple):
    """Everything a new report writes, decided before the first statement."""

    unit_code: str
    report: dict[str, Any]  # its columns but unit_id and code
    text: IndexedText
    attachments: list[dict[str, Any]]  # their columns but report_id
    box_tags: list[str]  # a hidden reporter's box, under each seal key; else none
    box: Callable[[str | None, int], tuple[str, str]] | None  # (token, report id) -> box


class _Sql(Protocol):
    def row(self, statement: Executable, params: Mapping[str, Any]) -> Any: ...

    def run(self, statement: Executable, params: Any) -> None: ...


async def write_report(
    session: AsyncSession,
    person_id: int | None,
    answers: dict[str, Any],
    channel: str,
    locale: str,
) -> NewReport:
    """Insert the report, its first event, its attachments and its similarity index, and
    for a hidden reporter add it to their sealed box."""
    plan = _plan(session, person_id, answers, channel, locale)
    if session.new or session.dirty or session.deleted:
        await session.flush()  # as the ORM's autoflush would: these statements run past it
    connection = await session.connection()
    adapted = (await connection.get_raw_connection()).dbapi_connection
    if isinstance(adapted, OneTripConnection):
        report_id, unit = await in_thread(adapted, _write_sqlite, plan)
    else:
        report_id, unit = await session.run_sync(lambda s: _write(_Core(s.connection()), plan))
    named_unit = (plan.unit_code, unit[1]) if unit else None
    view = _view(report_id, plan.report, named_unit, len(plan.attachments), person_id)
    unit_id = unit[0] if unit else None
    new = NewReport(view, person_id, unit_id, plan.text, bool(plan.attachments))
    _written(session)[report_id] = new
    return new


def _plan(
    session: AsyncSession,
    person_id: int | None,
    answers: dict[str, Any],
    channel: str,
    locale: str,
) -> _Plan:
    """What to write, with the CPU-only work done first: the text normalised and hashed, the
    reporter sealed."""
    # A hidden reporter's person id is written only sealed, on both sides of the link.
    hidden = person_id is not None and answers["anonymity"] in HIDDEN
    sealer = require_sealer(session) if hidden else None
    box, tags, sealed = None, [], None
    if sealer is not None and person_id is not None:
        box = functools.partial(boxed, sealer, person_id)
        tags, sealed = sealer.tags(person_id), seal_reporter(sealer, person_id)
    report = {
        "person_id": None if hidden else person_id,
        "sealed_reporter": sealed,
        "category": answers["category"],
        "urgency": answers["urgency"],
        "description": answers["description"],
        "anonymity": answers["anonymity"],
        "status": "new",
        "channel": channel,
        "locale": locale,
        "created_at": utcnow(),
        "version": 0,
        "delivery_problem": "",
    }
    items = answers.get("attachments") or []
    attachments = [_attachment(channel, hidden, item) for item in items]
    text = indexed_text(answers["description"])
    return _Plan(answers.get("unit") or "", report, text, attachments, tags, box)


def _write(sql: _Sql, plan: _Plan) -> tuple[int, Any]:
    """The statements, in order, on either database: (report id, its unit's id and name)."""
    unit = sql.row(_UNIT, {"unit_code": plan.unit_code})
    values = {**plan.report, "code": "", "unit_id": unit[0] if unit else None}
    report_id = int(sql.row(_INSERT_REPORT, values)[0])
    sql.run(_SET_CODE, {"report_id": report_id, "new_code": report_code(report_id)})
    if plan.box is not None:  # hidden: the reporter's sealed box lists it
        found = next(filter(None, (sql.row(_BOX, {"box_tag": t}) for t in plan.box_tags)), None)
        tag, token = plan.box(found[1] if found else None, report_id)
        if found:
            sql.run(_SET_BOX, {"box_id": found[0], "new_tag": tag, "new_token": token})
        else:
            sql.run(_NEW_BOX, {"tag": tag, "token": token})
    sql.run(_INSERT_TEXT, {"report_id": report_id, "normalised": plan.text.norm.text})
    if plan.text.keys:
        sql.run(_INSERT_BAND, [{"band_key": k, "report_id": report_id} for k in plan.text.keys])
    if plan.attachments:
        sql.run(_INSERT_ATTACHMENT, [{**a, "report_id": report_id} for a in plan.attachments])
    event = {"report_id": report_id, "actor_person_id": values["person_id"], "note": ""}
    first = {"at": values["created_at"], "from_status": "", "to_status": "new", "action": ""}
    sql.run(_INSERT_EVENT, {**event, **first})
    return report_id, unit


class _Core:
    """`_Sql` on a SQLAlchemy connection (PostgreSQL, through `AsyncSession.run_sync`)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def row(self, statement: Executable, params: Mapping[str, Any]) -> Any:
        return self.connection.execute(statement, dict(params)).first()

    def run(self, statement: Executable, params: Any) -> None:
        self.connection.execute(statement, params)


class _Sqlite:
    """`_Sql` on sqlite3 itself, in the database thread, with the statements compiled at
    import (the same SQL SQLAlchemy would send)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.cursor = cursor

    def row(self, statement: Executable, params: Mapping[str, Any]) -> Any:
        compiled = _SQLITE[id(statement)]
        return self.cursor.execute(compiled.sql, compiled.args(params)).fetchone()

    def run(self, statement: Executable, params: Any) -> None:
        compiled = _SQLITE[id(statement)]
        if isinstance(params, list):
            self.cursor.executemany(compiled.sql, [compiled.args(p) for p in params])
        else:
            self.cursor.execute(compiled.sql, compiled.args(params))


def _write_sqlite(conn: sqlite3.Connection, plan: _Plan) -> tuple[int, Any]:
    """In the database thread: every statement of the new report, in one trip."""
    cursor = conn.cursor()
    try:
        return _write(_Sqlite(cursor), plan)
    finally:
        cursor.close()


def _view(
    report_id: int,
    values: dict[str, Any],
    unit: tuple[str, str] | None,
    attachments: int,
    reporter: int | None,
) -> ReportView:
    """What the report's card shows, as written: no read back. `unit` is (code, name)."""
    return ReportView(
        id=report_id,
        code=report_code(report_id),
        category=values["category"],
        urgency=values["urgency"],
        unit_code=unit[0] if unit else None,
        unit_name=unit[1] if unit else "—",
        description=values["description"],
        anonymity=values["anonymity"],
        status="new",
        created_at=values["created_at"],
        attachment_count=attachments,
        events=(EventView(values["created_at"], "", "new", ""),),
        reporter_person_id=reporter,
        channel=values["channel"],
    )


def _attachment(channel: str, hidden: bool, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": item["kind"],
        "channel": channel,
        "channel_ref": "",
        "path": item.get("ref", ""),
        "mime": item.get("mime", ""),
        "size": item.get("size", 0),
        # A file's own name often carries its author's ("don-cua-Lan.docx").
        "name": "" if hidden else item.get("name", ""),
        "latitude": item.get("latitude"),
        "longitude": item.get("longitude"),
    }


def _written(session: AsyncSession) -> dict[int, NewReport]:
    """The reports written in the session's current transaction: after a commit or a rollback
    the next transaction starts with none (what they showed may have changed since)."""
    transaction = session.sync_session.get_transaction()
    kept = session.info.get(_FRESH)
    if kept is None or kept[0] is not transaction:
        kept = session.info[_FRESH] = (transaction, {})
    written: dict[int, NewReport] = kept[1]
    return written


def take_new_report(session: AsyncSession, report_id: int) -> NewReport | None:
    """The report as this transaction just wrote it, once; None for any other."""
    return _written(session).pop(report_id, None)
