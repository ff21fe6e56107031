"""Chat bindings as the web admin lists and removes them (adding one: storage.admin.bind_chat,
shared with the CLI); who is heard in a Zalo OA group; and which of a person's messengers
reaches them privately.

A person's identities include "zalo-oa" when they linked their account inside an OA group: that
id names them in the OA's group events, but the OA cannot write to them privately, so it is
never a private address. Acting in an OA group counts as using Zalo."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.casework import WEB_ROLES
from storage.db import Sessions
from storage.models import ChatBinding, Identity, Person

OA_CHANNEL = "zalo-oa"
# Channels that name a person but cannot write to them privately, and the messenger they are
# part of (for "the messenger last used").
GROUP_ONLY = {OA_CHANNEL: "zalo"}


async def all_bindings(session: AsyncSession) -> list[ChatBinding]:
    stmt = select(ChatBinding).order_by(col(ChatBinding.role), col(ChatBinding.id))
    return list((await session.execute(stmt)).scalars())


async def remove_binding(session: AsyncSession, binding_id: int) -> ChatBinding | None:
    """The binding removed, or None when there was no such binding."""
    row = await session.get(ChatBinding, binding_id)
    if row is not None:
        await session.delete(row)
    return row


# -- who is heard in an OA group -----------------------------------------------------------------
async def group_is_bound(session: AsyncSession, channel: str, chat_id: str) -> bool:
    stmt = select(ChatBinding.id).where(
        ChatBinding.channel == channel, ChatBinding.chat_id == chat_id
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def acts_in_group(session: AsyncSession, channel: str, chat_id: str, user_id: str) -> bool:
    """A staff member, handler or leader linked to `user_id` on `channel`, in a bound chat."""
    if not await group_is_bound(session, channel, chat_id):
        return False
    stmt = (
        select(Person.role)
        .join(Identity, col(Identity.person_id) == col(Person.id))
        .where(Identity.channel == channel, Identity.external_id == user_id)
    )
    role = (await session.execute(stmt)).scalar_one_or_none()
    return role in WEB_ROLES


class OARoster:
    """The OA webhook's `Roster` port (bot/channels/zalo_oa_events.py)."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def may_act(self, oa_user_id: str, group_id: str) -> bool:
        async with self.sessions() as session:
            return await acts_in_group(session, OA_CHANNEL, group_id, oa_user_id)

    async def group_bound(self, group_id: str) -> bool:
        async with self.sessions() as session:
            return await group_is_bound(session, OA_CHANNEL, group_id)


# -- a person's private addresses ----------------------------------------------------------------
def messenger_of(channel: str) -> str:
    """The channel whose private chat stands for `channel` ("zalo-oa" -> "zalo")."""
    return GROUP_ONLY.get(channel, channel)


def private_identities(identities: Sequence[Identity]) -> list[Identity]:
    return [i for i in identities if i.channel not in GROUP_ONLY]


def preferred(identities: Sequence[Identity], last_channel: str) -> Identity | None:
    """The identity to write to: the messenger last used, else the first one they had."""
    mine = private_identities(identities)
    last = messenger_of(last_channel)
    return next((i for i in mine if i.channel == last), mine[0] if mine else None)


async def identities_of(
    session: AsyncSession, person_ids: Sequence[int]
) -> dict[int, list[Identity]]:
    found: dict[int, list[Identity]] = {}
    if not person_ids:
        return found
    stmt = (
        select(Identity)
        .where(col(Identity.person_id).in_(list(person_ids)))
        .order_by(col(Identity.id))
    )
    for ident in (await session.execute(stmt)).scalars():
        found.setdefault(ident.person_id, []).append(ident)
    return found


async def private_chats(session: AsyncSession, person_ids: Sequence[int]) -> list[tuple[str, str]]:
    """(channel, chat id) reaching each person privately, on the messenger they last used."""
    people = {
        p.id: p
        for p in (
            await session.execute(select(Person).where(col(Person.id).in_(list(person_ids))))
        ).scalars()
    }
    found = await identities_of(session, person_ids)
    chats: list[tuple[str, str]] = []
    for pid in person_ids:
        person = people.get(pid)
        ident = preferred(found.get(pid, []), person.last_channel if person else "")
        if ident is not None:
            chats.append((ident.channel, ident.external_id))
    return chats
