"""Chat bindings as the web admin lists and removes them (adding one: storage.admin.bind_chat,
shared with the CLI)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import ChatBinding


async def all_bindings(session: AsyncSession) -> list[ChatBinding]:
    stmt = select(ChatBinding).order_by(col(ChatBinding.role), col(ChatBinding.id))
    return list((await session.execute(stmt)).scalars())


async def remove_binding(session: AsyncSession, binding_id: int) -> ChatBinding | None:
    """The binding removed, or None when there was no such binding."""
    row = await session.get(ChatBinding, binding_id)
    if row is not None:
        await session.delete(row)
    return row
