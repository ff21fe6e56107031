"""A new report, written in SQLAlchemy Core: the hot path of a report's Send step.

Through the ORM a report cost about 26 statements and ~10 ms of the event loop's CPU inside the
writer's turn (an ORM object per band key, the report read back three times, its unit loaded
twice, its attachments counted twice). Here it is a handful of statements built once at import,
and what the staff card is drawn from is kept, in the session, for the card written in the same
transaction (`storage/casecards.py` `case_facts` takes it), so nothing just written is read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.ports import EventView, ReportView
from storage.models import Attachment, OrgUnit, Report, ReportEvent, utcnow
from storage.seal import HIDDEN, add_hidden_report, require_sealer, seal_reporter
from storage.similar import IndexedText, index_new_report, indexed_text

REPORT_PREFIX = "PA"
_FRESH = "grassroots.new_reports"  # the session's `info` key of the reports it wrote

_r = Report.__table__  # type: ignore[attr-defined]
_u = OrgUnit.__table__  # type: ignore[attr-defined]
_UNIT = select(_u.c.id, _u.c.name).where(_u.c.code == bindparam("unit_code"))
_INSERT_REPORT = insert(_r)
_SET_CODE = update(_r).where(_r.c.id == bindparam("report_id")).values(code=bindparam("new_code"))
_INSERT_EVENT = insert(ReportEvent.__table__)  # type: ignore[attr-defined]
_INSERT_ATTACHMENT = insert(Attachment.__table__)  # type: ignore[attr-defined]


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


async def write_report(
    session: AsyncSession,
    person_id: int | None,
    answers: dict[str, Any],
    channel: str,
    locale: str,
) -> NewReport:
    """Insert the report, its first event, its attachments and its similarity index."""
    # A hidden reporter's person id is written only sealed, on both sides of the link.
    hidden = person_id is not None and answers["anonymity"] in HIDDEN
    sealer = require_sealer(session) if hidden else None
    sealed = seal_reporter(sealer, person_id) if sealer and person_id is not None else None
    text = indexed_text(answers["description"])  # CPU only, before any statement
    connection = await session.connection()
    unit = (await connection.execute(_UNIT, {"unit_code": answers.get("unit") or ""})).first()
    now = utcnow()
    values = {
        "code": "",
        "person_id": None if hidden else person_id,
        "sealed_reporter": sealed,
        "unit_id": unit.id if unit else None,
        "category": answers["category"],
        "urgency": answers["urgency"],
        "description": answers["description"],
        "anonymity": answers["anonymity"],
        "status": "new",
        "channel": channel,
        "locale": locale,
        "created_at": now,
        "version": 0,
        "delivery_problem": "",
    }
    inserted = await connection.execute(_INSERT_REPORT, values)
    key = inserted.inserted_primary_key
    assert key is not None
    report_id = int(key[0])
    code = report_code(report_id)
    await connection.execute(_SET_CODE, {"report_id": report_id, "new_code": code})
    if sealer and person_id is not None:  # hidden: the reporter's sealed box lists it
        await add_hidden_report(session, sealer, person_id, report_id)
    await index_new_report(session, report_id, text)
    attachments = _attachment_rows(report_id, channel, hidden, answers.get("attachments") or [])
    if attachments:
        await connection.execute(_INSERT_ATTACHMENT, attachments)
    event = {"report_id": report_id, "actor_person_id": values["person_id"], "at": now}
    first = {"from_status": "", "to_status": "new", "action": "", "note": ""}
    await connection.execute(_INSERT_EVENT, {**event, **first})
    named_unit = (answers["unit"], unit.name) if unit else None
    view = _view(report_id, code, values, named_unit, len(attachments), person_id)
    new = NewReport(view, person_id, values["unit_id"], text, bool(attachments))
    _written(session)[report_id] = new
    return new


def _view(
    report_id: int,
    code: str,
    values: dict[str, Any],
    unit: tuple[str, str] | None,
    attachments: int,
    reporter: int | None,
) -> ReportView:
    """What the report's card shows, as written: no read back. `unit` is (code, name)."""
    return ReportView(
        id=report_id,
        code=code,
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


def _attachment_rows(
    report_id: int, channel: str, hidden: bool, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return [
        {
            "report_id": report_id,
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
        for item in items
    ]


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
