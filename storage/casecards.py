"""Case cards and the people around a case: where each card was posted (so it can be edited in
place as the case moves), who owns a case, how its reporter is reached, and the facts a card is
drawn from. bot/effects.py renders from these; the delivery worker's card hooks use them too."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, bindparam, insert
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.casework import OPEN
from handlers.ports import ReporterInfo, ReportView
from handlers.similarity import MAX_HINTS, SimilarHint
from storage.admin import attachments_of, reporter_of
from storage.bindings import private_chats
from storage.models import (
    Attachment,
    CaseCard,
    ChatBinding,
    Department,
    Identity,
    OrgUnit,
    Person,
    Report,
    utcnow,
)
from storage.newreport import NewReport, take_new_report
from storage.seal import SEALED_CHANNEL, reporter_address, sealed_address
from storage.similar import similar_open, similar_to
from storage.store import SqlStore

Chat = tuple[str, str]  # (channel, chat id)


@dataclass(frozen=True)
class CaseFacts:
    """One case as its cards show it, read afresh from the database."""

    view: ReportView
    reporter: ReporterInfo | None  # a named reporter only: hidden ones are never read here
    attachments: list[Attachment]
    similar: tuple[SimilarHint, ...] = ()  # open reports much like it (storage/similar.py)


@dataclass(frozen=True)
class PostedCard:
    audience: str  # staff | department:CODE
    channel: str
    chat_id: str


async def case_facts(session: AsyncSession, report_id: int) -> CaseFacts | None:
    new = take_new_report(session, report_id)
    if new is not None:
        return await _new_case_facts(session, new)
    # populate_existing: a case change is an UPDATE that bypasses the loaded object.
    report = await session.get(Report, report_id, populate_existing=True)
    if report is None:
        return None
    view = await SqlStore(session).report_view(report, with_events=True)
    found = await reporter_of(session, report) if report.anonymity == "named" else None
    reporter = ReporterInfo(found.name, found.username, found.unit_name) if found else None
    similar = tuple(await similar_open(session, report_id, utcnow())) if view.status in OPEN else ()
    return CaseFacts(view, reporter, await attachments_of(session, report_id), similar)


async def _new_case_facts(session: AsyncSession, new: NewReport) -> CaseFacts:
    """A report this transaction just wrote, from what it wrote: only its named reporter, its
    attachments (when it has any) and the similar open reports are read."""
    view = new.view
    reporter = None
    if view.anonymity == "named" and new.person_id is not None:
        reporter = await _named_reporter(session, new.person_id, view.channel)
    elif view.anonymity == "named":  # from the feedback page: the sender's own details
        report = await session.get(Report, view.id)
        found = await reporter_of(session, report) if report is not None else None
        reporter = ReporterInfo(found.name, found.username, found.unit_name) if found else None
    similar = await similar_to(
        session, new.text, new.unit_id, view.category, utcnow(), view.id, MAX_HINTS, view.anonymity
    )
    attachments = await attachments_of(session, view.id) if new.has_attachments else []
    return CaseFacts(view, reporter, attachments, tuple(similar))


_p = Person.__table__  # type: ignore[attr-defined]
_i = Identity.__table__  # type: ignore[attr-defined]
_u = OrgUnit.__table__  # type: ignore[attr-defined]
# As storage/admin.py `reporter_of` reads a named reporter, in one statement.
_NAMED_REPORTER = (
    sa_select(_p.c.display_name, _i.c.username, _u.c.name)
    .select_from(
        _p.outerjoin(
            _i, and_(_i.c.person_id == _p.c.id, _i.c.channel == bindparam("channel"))
        ).outerjoin(_u, _u.c.id == _p.c.unit_id)
    )
    .where(_p.c.id == bindparam("person_id"))
    .limit(1)
)


async def _named_reporter(
    session: AsyncSession, person_id: int, channel: str
) -> ReporterInfo | None:
    connection = await session.connection()
    params = {"person_id": person_id, "channel": channel}
    row = (await connection.execute(_NAMED_REPORTER, params)).first()
    if row is None:
        return None
    return ReporterInfo(row.display_name, row.username or "", row.name or "")


async def role_chats(session: AsyncSession, role: str) -> list[Chat]:
    """The chats bound to a role: `staff`, `leaders` or `department:CODE`."""
    return (await roles_chats(session, [role]))[role]


_b = ChatBinding.__table__  # type: ignore[attr-defined]
_ROLES_CHATS = (
    sa_select(_b.c.role, _b.c.channel, _b.c.chat_id)
    .where(_b.c.role.in_(bindparam("roles", expanding=True)))
    .order_by(_b.c.id)
)


async def roles_chats(session: AsyncSession, roles: list[str]) -> dict[str, list[Chat]]:
    """`role_chats` of several roles in one statement (a hot report's leaders and staff)."""
    connection = await session.connection()
    found: dict[str, list[Chat]] = {role: [] for role in roles}
    for role, channel, chat_id in await connection.execute(_ROLES_CHATS, {"roles": roles}):
        found[role].append((channel, chat_id))
    return found


async def department_chats(session: AsyncSession, code: str) -> list[Chat]:
    """A department's group chats, else its named handlers, privately."""
    bound = await role_chats(session, f"department:{code}")
    if bound:
        return bound
    stmt = (
        select(Person.id)
        .join(Department, col(Department.id) == col(Person.department_id))
        .where(Department.code == code)
        .order_by(col(Person.id))
    )
    handlers = [pid for pid in (await session.execute(stmt)).scalars() if pid is not None]
    return await private_chats(session, handlers)  # each on the messenger they last used


async def owner_chats(session: AsyncSession, department_code: str | None) -> list[Chat]:
    """Where a case's owner is: its department's chats or handlers, else the staff chats."""
    if department_code:
        chats = await department_chats(session, department_code)
        if chats:
            return chats
    return await role_chats(session, "staff")


async def case_owner_chats(session: AsyncSession, report: Report) -> list[Chat]:
    """`owner_chats` of a case as loaded (the nudges read open cases in bulk)."""
    department = (
        await session.get(Department, report.department_id) if report.department_id else None
    )
    return await owner_chats(session, department.code if department else None)


async def reporter_chat(session: AsyncSession, report_id: int) -> tuple[str, str, str] | None:
    """(channel, chat id, locale) to address the reporter. A hidden reporter is addressed by
    a sealed handle naming only the report; the delivery worker resolves it at send time."""
    report = await session.get(Report, report_id)
    if report is None:
        return None
    found = await reporter_address(session, report)
    if found is None:
        return None
    if report.sealed_reporter:
        return SEALED_CHANNEL, sealed_address(report_id), found[2]
    return found


async def record_card(
    session: AsyncSession, report_id: int, audience: str, channel: str, chat_id: str
) -> None:
    """Remember that this case has a card in this chat (once per chat)."""
    stmt = select(CaseCard.id).where(
        CaseCard.report_id == report_id, CaseCard.channel == channel, CaseCard.chat_id == chat_id
    )
    if (await session.execute(stmt)).first() is None:
        session.add(
            CaseCard(report_id=report_id, audience=audience, channel=channel, chat_id=chat_id)
        )
        await session.flush()


_NEW_CARD = insert(CaseCard.__table__)  # type: ignore[attr-defined]


async def record_new_cards(
    session: AsyncSession, report_id: int, audience: str, chats: list[Chat]
) -> None:
    """`record_card` in each chat for a case this transaction created (it has no card anywhere
    yet, so there is nothing to look for first), in one statement."""
    if not chats:
        return
    card = {"report_id": report_id, "audience": audience, "message_id": ""}
    rows = [{**card, "channel": channel, "chat_id": chat_id} for channel, chat_id in chats]
    await (await session.connection()).execute(_NEW_CARD, rows)


async def posted_cards(session: AsyncSession, report_id: int) -> list[PostedCard]:
    stmt = select(CaseCard).where(CaseCard.report_id == report_id).order_by(col(CaseCard.id))
    cards = (await session.execute(stmt)).scalars()
    return [PostedCard(c.audience, c.channel, c.chat_id) for c in cards]


async def _card(
    session: AsyncSession, report_id: int, channel: str, chat_id: str
) -> CaseCard | None:
    stmt = select(CaseCard).where(
        CaseCard.report_id == report_id, CaseCard.channel == channel, CaseCard.chat_id == chat_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def card_message(session: AsyncSession, report_id: int, channel: str, chat_id: str) -> str:
    """The id of the message showing this case's card in this chat; empty if none is known."""
    card = await _card(session, report_id, channel, chat_id)
    return card.message_id if card is not None else ""


async def remember_card_message(
    session: AsyncSession, report_id: int, channel: str, chat_id: str, message_id: str
) -> None:
    card = await _card(session, report_id, channel, chat_id)
    if card is not None and card.message_id != message_id:
        card.message_id = message_id
        session.add(card)


async def note_delivery_problem(session: AsyncSession, report_id: int, error: str) -> bool:
    """A message to the reporter failed for good: the case records it (and moves a version, so
    its cards are edited to show it). False when the case is gone."""
    report = await session.get(Report, report_id)
    if report is None:
        return False
    report.delivery_problem = error[:300] or "delivery failed"
    report.version += 1
    session.add(report)
    await session.flush()
    return True
