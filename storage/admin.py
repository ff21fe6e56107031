"""Operator actions behind the CLI: invites, chat bindings, report listings, unit listings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.ports import UnitView
from storage.light import REPORTS_LISTING, listing
from storage.models import (
    Attachment,
    ChatBinding,
    Department,
    FeedbackTicket,
    Identity,
    Invite,
    OrgUnit,
    Person,
    Report,
)

# Unambiguous on a phone keypad and when read aloud: no 0/O, 1/I/L.
INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class AdminError(Exception):
    """An operator asked for something that cannot be done; the message says why."""


def new_invite_code(length: int = 8) -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(length))


async def units(session: AsyncSession) -> list[UnitView]:
    rows = (await session.execute(select(OrgUnit).order_by(col(OrgUnit.name)))).scalars()
    return [UnitView(u.code, u.name, u.kind, u.host_kind) for u in rows]


async def create_invite(
    session: AsyncSession,
    role: str,
    unit_code: str | None,
    uses: int,
    department_code: str | None = None,
    can_reveal: bool = False,
) -> Invite:
    department_id = None
    if department_code:
        dept = (
            await session.execute(select(Department).where(Department.code == department_code))
        ).scalar_one_or_none()
        if dept is None:
            raise AdminError(
                f"no department with code {department_code!r}; see `grassroots dept list`"
            )
        department_id = dept.id
    if role == "handler" and department_id is None:
        raise AdminError("a handler invite needs --dept CODE")
    unit_id = None
    if unit_code:
        unit = (
            await session.execute(select(OrgUnit).where(OrgUnit.code == unit_code))
        ).scalar_one_or_none()
        if unit is None:
            raise AdminError(f"no unit with code {unit_code!r}; see the units you imported")
        unit_id = unit.id
    if uses < 1:
        raise AdminError("--uses must be at least 1")
    invite = Invite(
        code=new_invite_code(),
        role=role,
        unit_id=unit_id,
        uses_left=uses,
        department_id=department_id,
        can_reveal=can_reveal,
    )
    session.add(invite)
    await session.flush()
    return invite


async def department_exists(session: AsyncSession, code: str) -> bool:
    found = await session.execute(select(Department.id).where(Department.code == code))
    return found.first() is not None


async def bind_chat(session: AsyncSession, role: str, channel: str, chat_id: str) -> bool:
    """Bind a chat; False when it was already bound (so running it twice is harmless)."""
    existing = await session.execute(
        select(ChatBinding).where(
            ChatBinding.role == role, ChatBinding.channel == channel, ChatBinding.chat_id == chat_id
        )
    )
    if existing.scalar_one_or_none() is not None:
        return False
    session.add(ChatBinding(role=role, channel=channel, chat_id=chat_id))
    await session.flush()
    return True


async def bindings_for(session: AsyncSession, role: str) -> list[ChatBinding]:
    return list(
        (await session.execute(select(ChatBinding).where(ChatBinding.role == role))).scalars()
    )


@dataclass(frozen=True)
class Reporter:
    """Who sent a report. Only a card renderer that honours anonymity may read it."""

    name: str
    username: str
    unit_name: str


async def reporter_of(session: AsyncSession, report: Report) -> Reporter | None:
    if report.person_id is None:
        return await _web_sender(session, report)
    person = await session.get(Person, report.person_id)
    if person is None:
        return None
    ident = (
        await session.execute(
            select(Identity).where(
                Identity.person_id == person.id, Identity.channel == report.channel
            )
        )
    ).scalar_one_or_none()
    unit = await session.get(OrgUnit, person.unit_id) if person.unit_id else None
    return Reporter(person.display_name, ident.username if ident else "", unit.name if unit else "")


async def _web_sender(session: AsyncSession, report: Report) -> Reporter | None:
    """The name and contact a public feedback page sender chose to give, if any."""
    ticket = (
        await session.execute(select(FeedbackTicket).where(FeedbackTicket.report_id == report.id))
    ).scalar_one_or_none()
    if ticket is None or not (ticket.sender_name or ticket.sender_contact):
        return None
    name = ticket.sender_name or "—"
    return Reporter(f"{name} ({ticket.sender_contact})" if ticket.sender_contact else name, "", "")


async def attachments_of(session: AsyncSession, report_id: int) -> list[Attachment]:
    stmt = select(Attachment).where(Attachment.report_id == report_id).order_by(col(Attachment.id))
    return list((await session.execute(stmt)).scalars())


async def list_reports(session: AsyncSession, limit: int = 200) -> list[dict[str, Any]]:
    """Staff-facing listing: it carries no reporter identity at all. The query is the one
    `reports list` runs without SQLAlchemy (storage.light), so the two cannot drift apart."""
    rows = await session.execute(text(REPORTS_LISTING.format(limit=int(limit))))
    return listing(rows.all())  # rows unpack like tuples
