"""Many people registered at once, as `SqlStore.register` does one by one: for an organisation
built in bulk (the simulated month, the demo's history), where a flush per person cost most of
the build (4,899 of them in the province month)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.ports import InviteUnavailable, Registration
from storage.models import Identity, Invite, OrgUnit, Person


async def register_many(session: AsyncSession, registrations: Sequence[Registration]) -> list[int]:
    """Register everyone in `registrations` with their messenger identity; their person ids, in
    order. An invite is used once per registration naming it; one that has too few uses left
    raises InviteUnavailable (the caller's transaction then writes nothing)."""
    uses = Counter(r.invite_code for r in registrations if r.invite_code)
    invites: dict[str, Invite] = {}
    for code, count in uses.items():
        # One atomic decrement per invite, as for a single registration.
        result = await session.execute(
            update(Invite)
            .where(col(Invite.code) == code, col(Invite.uses_left) >= count)
            .values(uses_left=Invite.uses_left - count)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise InviteUnavailable(code)
        invites[code] = (
            await session.execute(select(Invite).where(Invite.code == code))
        ).scalar_one()
    codes = {r.unit_code for r in registrations if r.unit_code}
    stmt = select(OrgUnit.code, OrgUnit.id).where(col(OrgUnit.code).in_(codes))
    unit_ids = {code: unit_id for code, unit_id in (await session.execute(stmt)).all()}
    now = datetime.now(UTC)
    people = []
    for r in registrations:
        invite = invites.get(r.invite_code or "")
        people.append(
            Person(
                display_name=r.display_name,
                role=r.role,
                unit_id=unit_ids.get(r.unit_code or ""),
                locale=r.locale,
                privacy_accepted_at=now,
                department_id=invite.department_id if invite else None,
                can_reveal=invite.can_reveal if invite else False,
            )
        )
    session.add_all(people)
    await session.flush()  # one batch of INSERTs for all of them
    ids = [p.id for p in people if p.id is not None]
    assert len(ids) == len(people)
    session.add_all(
        Identity(person_id=pid, channel=r.channel, external_id=r.external_id, username=r.username)
        for pid, r in zip(ids, registrations, strict=True)
    )
    await session.flush()
    return ids
