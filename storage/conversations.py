"""Conversation state rows and the inbound deduplication log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Conversation, InboundUpdate, utcnow
from storage.seal import sealer_of

# Parts of the state that can name a person's reports (the /my list, the case a reporter is
# answering): stored sealed, so a dump does not link a hidden reporter's chat to their report.
SEALED_STATE = ("scratch", "reporter_input")


class ConcurrentUpdate(Exception):
    """Another process changed this conversation first; the event must be retried."""


async def claim_update(session: AsyncSession, channel: str, update_key: str) -> bool:
    """Record the update; False when it was seen before (a replay or a webhook retry).
    One INSERT … ON CONFLICT DO NOTHING: no savepoint round trips on the hot path."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(InboundUpdate)
        .values(channel=channel, update_key=update_key, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["channel", "update_key"])
    )
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def load_conversation(
    session: AsyncSession, channel: str, user_id: str
) -> tuple[Conversation | None, dict[str, Any]]:
    stmt = select(Conversation).where(
        Conversation.channel == channel, Conversation.user_id == user_id
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        return None, {}
    state = dict(row.state)
    token = state.pop("sealed", None)
    sealer = sealer_of(session)
    if token and sealer is not None:
        state.update(sealer.open(token))
    return row, state


def _sealed(session: AsyncSession, state: dict[str, Any]) -> dict[str, Any]:
    sealer = sealer_of(session)
    private = {key: state[key] for key in SEALED_STATE if key in state}
    if sealer is None or not private:
        return state
    public = {key: value for key, value in state.items() if key not in SEALED_STATE}
    return {**public, "sealed": sealer.seal(private)}


async def save_conversation(
    session: AsyncSession,
    row: Conversation | None,
    channel: str,
    user_id: str,
    chat_id: str,
    state: dict[str, Any],
) -> None:
    state = _sealed(session, state)
    if row is None:
        session.add(
            Conversation(channel=channel, user_id=user_id, chat_id=chat_id, state=state, version=1)
        )
        try:
            await session.flush()
        except IntegrityError as exc:
            raise ConcurrentUpdate(user_id) from exc
        return
    result = await session.execute(
        update(Conversation)
        .where(col(Conversation.id) == row.id, col(Conversation.version) == row.version)
        .values(state=state, version=row.version + 1, updated_at=utcnow(), chat_id=chat_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConcurrentUpdate(user_id)


async def prune_updates(session: AsyncSession, older_than: datetime) -> int:
    """Forget old deduplication keys: messengers stop retrying within hours, not weeks."""
    result = await session.execute(
        delete(InboundUpdate).where(col(InboundUpdate.received_at) < older_than)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
