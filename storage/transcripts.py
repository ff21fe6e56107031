"""The web chat's records: the transcript a visitor's page shows again after a reload, and what
their conversation says about them (language, the question they are at).

Every transcript payload is sealed: it can hold a hidden reporter's words next to their session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from storage.db import Session, Sessions
from storage.models import ChatBinding, Conversation, WebChatMessage
from storage.seal import open_payload, seal_payload
from storage.store import SqlStore

Payload = dict[str, Any]


class SqlTranscripts:
    """The web chat's `Transcripts` port (bot.channels.webchat) over the database. `key` is a
    visitor's session key, which is both their user id and their chat id on the channel."""

    def __init__(self, sessions: Sessions, channel: str = "web") -> None:
        self.sessions = sessions
        self.channel = channel

    async def locale_of(self, key: str) -> str | None:
        """The language of the person behind this session, else the one their conversation
        chose, else None."""
        async with self.sessions() as session:
            state = await _state(session, self.channel, key)
            person = await SqlStore(session).person_for(self.channel, key)
        if person is not None:
            return person.locale
        if state is not None and state.get("locale"):
            return str(state["locale"])
        return None

    async def state_of(self, key: str) -> dict[str, Any]:
        """The stored conversation state of this session, {} before the first message."""
        async with self.sessions() as session:
            return await _state(session, self.channel, key) or {}

    async def record(self, key: str, client_id: str, shown: str, replies: list[Payload]) -> None:
        """What the visitor sent (as shown on their page, if anything) and the bot's replies."""
        async with self.sessions() as session, session.begin():
            if shown:
                payload = seal_payload(session, {"text": shown, "choices": []})
                session.add(_row(key, "user", payload, client_id=client_id))
            for reply in replies:
                session.add(_row(key, "bot", seal_payload(session, reply), client_id=client_id))

    async def add_proactive(self, key: str, message: Payload) -> None:
        """A message that came through the outbox; the page fetches it by polling."""
        async with self.sessions() as session, session.begin():
            session.add(_row(key, "bot", seal_payload(session, message), proactive=True))

    async def replies_to(self, key: str, client_id: str) -> list[Payload]:
        """The bot's replies to one message of the page, in order (a retry is answered again)."""
        stmt = (
            select(WebChatMessage)
            .where(
                WebChatMessage.session_id == key,
                WebChatMessage.client_id == client_id,
                WebChatMessage.sender == "bot",
            )
            .order_by(col(WebChatMessage.id))
        )
        async with self.sessions() as session:
            rows = (await session.execute(stmt)).scalars()
            return [open_payload(session, r.payload) for r in rows]

    async def recent(self, key: str, limit: int = 100) -> list[Payload]:
        """The last `limit` messages both ways, oldest first, with who sent each and its seq."""
        stmt = (
            select(WebChatMessage)
            .where(WebChatMessage.session_id == key)
            .order_by(col(WebChatMessage.id).desc())
            .limit(limit)
        )
        async with self.sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
            return [
                {"from": r.sender, "seq": r.id, **open_payload(session, r.payload)}
                for r in reversed(rows)
            ]

    async def proactive_after(self, key: str, after: int, limit: int = 50) -> list[Payload]:
        """Outbox messages to this session with a seq above `after`, oldest first."""
        stmt = (
            select(WebChatMessage)
            .where(
                WebChatMessage.session_id == key,
                col(WebChatMessage.proactive).is_(True),
                col(WebChatMessage.id) > after,
            )
            .order_by(col(WebChatMessage.id))
            .limit(limit)
        )
        async with self.sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
            return [{"seq": r.id, **open_payload(session, r.payload)} for r in rows]


@dataclass(frozen=True)
class Posted:
    """A message the bot posted to a group chat bound on the web channel, as its page shows it."""

    at: datetime
    text: str
    photo: str  # a chart's path under the attachments folder, or ""


async def web_group_posts(session: Session, role: str, limit: int = 200) -> list[Posted]:
    """What the bot posted, through the outbox, to the group chats bound as `role` on the web
    channel (in the demo, the leaders' chat): the last `limit`, oldest first."""
    chats = select(ChatBinding.chat_id).where(
        ChatBinding.role == role, ChatBinding.channel == "web"
    )
    stmt = (
        select(WebChatMessage)
        .where(col(WebChatMessage.session_id).in_(chats), col(WebChatMessage.proactive).is_(True))
        .order_by(col(WebChatMessage.id).desc())
        .limit(limit)
    )
    rows = (await session.execute(stmt)).scalars().all()
    posts = []
    for row in reversed(rows):
        payload = open_payload(session, row.payload)
        posts.append(
            Posted(row.created_at, str(payload.get("text") or ""), str(payload.get("photo") or ""))
        )
    return posts


async def _state(session: Session, channel: str, key: str) -> dict[str, Any] | None:
    """The conversation's stored state as it is (sealed parts stay sealed), None if none."""
    stmt = select(Conversation).where(Conversation.channel == channel, Conversation.user_id == key)
    row = (await session.execute(stmt)).scalar_one_or_none()
    return row.state if row is not None else None


def _row(key: str, sender: str, payload: Payload, **fields: Any) -> WebChatMessage:
    return WebChatMessage(session_id=key, sender=sender, payload=payload, **fields)
