"""The demo organisation (`grassroots serve --demo`): loaded into an empty database only, with a
web administrator the operator can sign in as at once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.admin import create_invite
from storage.deptimport import import_departments
from storage.models import ChatBinding, OrgUnit, OutboxMessage, Person, Report, WebChatMessage
from storage.orgimport import import_units
from storage.seal import open_payload, seal_payload
from storage.webauth import issue_login_token

WEB = "web"


@dataclass(frozen=True)
class DemoSeeded:
    units: int
    member_invite: str  # for the demo's unit U007
    staff_invite: str


async def seed_demo(
    session: AsyncSession, units_csv: bytes, departments_csv: bytes
) -> DemoSeeded | None:
    """Load the demo's units and departments and two invites; None if units exist already."""
    count = (await session.execute(select(func.count()).select_from(OrgUnit))).scalar_one()
    if count:
        return None
    units = await import_units(session, units_csv)
    if not units.ok:
        raise RuntimeError("demo units are invalid: " + "; ".join(units.errors))
    departments = await import_departments(session, departments_csv)
    if not departments.ok:
        raise RuntimeError("demo departments are invalid: " + "; ".join(departments.errors))
    staff = await create_invite(session, "staff", None, 5)
    member = await create_invite(session, "member", "U007", 50)
    return DemoSeeded(units.created, member.code, staff.code)


async def demo_admin_token(session: AsyncSession, name: str, valid_minutes: int) -> str:
    """A one-time sign-in token for the demo's administrator, created on first use."""
    stmt = select(Person).where(col(Person.display_name) == name, col(Person.role) == "admin")
    person = (await session.execute(stmt)).scalars().first()
    if person is None:
        person = Person(display_name=name, role="admin", can_reveal=True)
        session.add(person)
        await session.flush()
    assert person.id is not None
    return await issue_login_token(session, person.id, valid_minutes)


async def has_units(session: AsyncSession) -> bool:
    """Whether an organisation is there already: the demo then seeds nothing."""
    count = (await session.execute(select(func.count()).select_from(OrgUnit))).scalar_one()
    return bool(count)


def web_chat_id(role: str) -> str:
    """The web chat id the demo gives a group chat: "demo-leaders", "demo-department-BTC"."""
    return f"demo-{role.replace(':', '-')}"[:64]


async def move_group_chats_to_web(session: AsyncSession, keep_history: str = "leaders") -> int:
    """After the simulated month: bind every group chat on the web channel, the one channel the
    demo runs, so nothing waits for a messenger that is not there; what the bot posted to the
    chats bound as `keep_history` becomes their web transcript, at the time it was sent (the
    leaders' chat page shows it). Returns the messages carried over."""
    carried = 0
    bindings = (await session.execute(select(ChatBinding))).scalars().all()
    for binding in bindings:
        if binding.channel == WEB:
            continue
        chat = web_chat_id(binding.role)
        if binding.role == keep_history:
            carried += await _copy_sent(session, binding.channel, binding.chat_id, chat)
        binding.channel, binding.chat_id = WEB, chat
    await session.flush()
    return carried


async def _copy_sent(session: AsyncSession, channel: str, chat_id: str, web_chat: str) -> int:
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.status == "sent",
        )
        .order_by(col(OutboxMessage.sent_at), col(OutboxMessage.id))
    )
    rows = (await session.execute(stmt)).scalars().all()
    for row in rows:
        payload = open_payload(session, row.payload)
        body: dict[str, object] = {
            "text": str(payload.get("text") or payload.get("caption") or ""),
            "choices": [],
        }
        if payload.get("kind") == "photo" and payload.get("path"):
            body["photo"] = str(payload["path"])
        message = WebChatMessage(
            session_id=web_chat,
            sender="bot",
            proactive=True,
            payload=seal_payload(session, body),
            created_at=row.sent_at or row.created_at,
        )
        session.add(message)
    return len(rows)


async def drop_unsent(session: AsyncSession) -> int:
    """Messages the simulated month left queued for its fake messengers are never sent: marked
    failed, so a token set later does not send them to made-up chats."""
    result = await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.status).in_(("pending", "sending")))
        .values(status="failed", last_error="demo history: not sent")
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def case_statuses(session: AsyncSession) -> set[str]:
    return set((await session.execute(select(Report.status).distinct())).scalars())


async def cases_in(session: AsyncSession, statuses: tuple[str, ...], limit: int) -> list[int]:
    """Report ids in one of `statuses`, oldest first."""
    stmt = (
        select(Report.id)
        .where(col(Report.status).in_(statuses))
        .order_by(col(Report.id))
        .limit(limit)
    )
    return [int(i) for i in (await session.execute(stmt)).scalars() if i is not None]


async def staff_member(session: AsyncSession) -> int | None:
    stmt = select(Person.id).where(col(Person.role) == "staff").order_by(col(Person.id)).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()
