"""A message a person's messenger refused for good goes to their other linked messenger.

The failed row names a private chat (channel and the person's id there) or, for a hidden
reporter, a sealed handle resolved to the messenger they last used. The person behind it is
found, the messengers already tried are noted in the payload, and a copy is queued on the next
one; their `last_channel` moves there too, so what follows goes there directly. When every
messenger has refused, the caller hears who could not be reached and who should be told.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.admin import bindings_for
from storage.bindings import identities_of, private_chats, private_identities
from storage.models import Identity, OrgUnit, OutboxMessage, Person, Report, ReportEvent
from storage.outbox import enqueue
from storage.seal import SEALED_CHANNEL, reporter_address, sealed_person

CONTACT_ROLE = "contact"
SECRETARY_ROLE = "secretary"


@dataclass(frozen=True)
class Unreachable:
    """A contact point no messenger of theirs would take a message for, and the chats to tell:
    their unit's secretaries, else the staff chats."""

    person_id: int
    name: str
    unit_name: str
    tell: list[tuple[str, str]]


async def _failed_person(session: AsyncSession, row: OutboxMessage) -> tuple[Person, str] | None:
    """The person a private message was for, and the channel that refused it."""
    if row.channel == SEALED_CHANNEL:
        kind, _, ident = row.chat_id.partition(":")
        report = (
            await session.get(Report, int(ident))
            if kind == "report" and ident.isdecimal()
            else None
        )
        if report is None:
            return None
        found = await reporter_address(session, report)
        person_id = sealed_person(session, report)
        person = await session.get(Person, person_id) if person_id is not None else None
        return (person, found[0]) if person is not None and found is not None else None
    stmt = select(Identity.person_id).where(
        Identity.channel == row.channel, Identity.external_id == row.chat_id
    )
    person_id = (await session.execute(stmt)).scalar_one_or_none()
    person = await session.get(Person, person_id) if person_id is not None else None
    return (person, row.channel) if person is not None else None


async def reroute(session: AsyncSession, row: OutboxMessage) -> str | Unreachable | None:
    """Queue `row` again on the person's next messenger; returns its channel. An `Unreachable`
    when a contact point has none left; None when there is nothing to do (a group chat, a
    person with no other messenger who is not a contact point, or a hidden reporter: their case
    already shows that they cannot be reached)."""
    found = await _failed_person(session, row)
    if found is None:
        return None
    person, failed = found
    assert person.id is not None
    payload: dict[str, Any] = dict(row.payload)
    tried = {*payload.get("tried", []), failed}
    mine = private_identities((await identities_of(session, [person.id])).get(person.id, []))
    nxt = next((i for i in mine if i.channel not in tried), None)
    if nxt is not None:
        person.last_channel = nxt.channel
        session.add(person)
        sealed = row.channel == SEALED_CHANNEL
        channel, chat_id = (row.channel, row.chat_id) if sealed else (nxt.channel, nxt.external_id)
        payload.update(tried=sorted(tried), delivered_via=nxt.channel)
        await enqueue(session, f"fallback:{row.id}:{nxt.channel}", channel, chat_id, payload)
        return nxt.channel
    if person.role != CONTACT_ROLE or row.channel == SEALED_CHANNEL:
        return None
    return await _unreachable(session, person)


async def _unreachable(session: AsyncSession, person: Person) -> Unreachable:
    assert person.id is not None
    unit = await session.get(OrgUnit, person.unit_id) if person.unit_id else None
    tell: list[tuple[str, str]] = []
    if unit is not None:
        stmt = select(Person.id).where(
            Person.role == SECRETARY_ROLE, Person.unit_id == unit.id, col(Person.id) != person.id
        )
        secretaries = [pid for pid in (await session.execute(stmt)).scalars() if pid is not None]
        tell = await private_chats(session, secretaries)
    if not tell:
        tell = [(b.channel, b.chat_id) for b in await bindings_for(session, "staff")]
    return Unreachable(person.id, person.display_name, unit.name if unit else "", tell)


async def record_delivery(session: AsyncSession, report_id: int, channel: str) -> None:
    """The case's history says which messenger finally reached the reporter (staff only)."""
    report = await session.get(Report, report_id)
    if report is None:
        return
    session.add(
        ReportEvent(
            report_id=report_id,
            from_status=report.status,
            to_status=report.status,
            action="delivery",
            note=channel,
        )
    )
    await session.flush()
