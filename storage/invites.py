"""Invites as the web admin lists and revokes them (creating one: storage.admin.create_invite,
shared with the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Department, Invite, OrgUnit


@dataclass(frozen=True)
class InviteRow:
    invite: Invite
    unit: str  # the unit's name; "" for none
    department: str


async def recent_invites(session: AsyncSession, limit: int = 200) -> list[InviteRow]:
    """Live invites first, then used-up ones; newest first in each."""
    rows = await session.execute(
        select(Invite, OrgUnit.name, Department.name)
        .join(OrgUnit, col(OrgUnit.id) == col(Invite.unit_id), isouter=True)
        .join(Department, col(Department.id) == col(Invite.department_id), isouter=True)
        .order_by(col(Invite.uses_left) <= 0, col(Invite.id).desc())
        .limit(limit)
    )
    return [InviteRow(invite, unit or "", dept or "") for invite, unit, dept in rows.all()]


async def revoke_invite(session: AsyncSession, invite_id: int) -> tuple[Invite, bool] | None:
    """Use the invite up; (the invite, whether it was still live), or None when there is none."""
    invite = await session.get(Invite, invite_id)
    if invite is None:
        return None
    live = invite.uses_left > 0
    if live:
        invite.uses_left = 0
    return invite, live
