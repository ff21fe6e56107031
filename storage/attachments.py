"""Which stored files something still holds: a report's attachment row or a draft in progress.
A received file that neither holds was refused or abandoned, and is deleted."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Attachment, Conversation


async def unheld(
    session: AsyncSession, paths: Iterable[str], conversation: tuple[str, str] | None = None
) -> list[str]:
    """The `paths` (relative to ATTACHMENTS_DIR) that no report holds and no draft mentions:
    only the drafts of `conversation` (channel, user id) when given, else every draft."""
    wanted = [p for p in dict.fromkeys(paths) if p]
    if not wanted:
        return []
    held = set(
        (
            await session.execute(select(Attachment.path).where(col(Attachment.path).in_(wanted)))
        ).scalars()
    )
    query = select(Conversation.state)
    if conversation is not None:
        channel, user_id = conversation
        query = query.where(Conversation.channel == channel, Conversation.user_id == user_id)
    drafts = "\n".join(json.dumps(state) for state in (await session.execute(query)).scalars())
    return [p for p in wanted if p not in held and json.dumps(p)[1:-1] not in drafts]
