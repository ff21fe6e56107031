"""Runs one inbound event through the core in one transaction.

Deduplication record, conversation state, domain change and outbox rows commit together, so a
crash at any point leaves either all of them or none.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.effects import EffectApplier
from bot.locks import KeyedLocks
from handlers.engine import Engine
from handlers.i18n import Translations
from handlers.types import Inbound, Outbound, Reply
from storage.conversations import (
    ConcurrentUpdate,
    claim_update,
    load_conversation,
    save_conversation,
)
from storage.store import SqlStore

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 4


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        engine: Engine,
        translations: Translations,
        effects: EffectApplier,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.sessions = sessions
        self.engine = engine
        self.translations = translations
        self.effects = effects
        self.on_commit = on_commit
        self.locks = KeyedLocks()

    @asynccontextmanager
    async def serialised(self, channel: str, user_id: str) -> AsyncIterator[None]:
        """Hold this person's conversation; adapters wrap mapping, handling and replying in it."""
        async with self.locks.hold(f"{channel}:{user_id}"):
            yield

    async def handle(self, inbound: Inbound) -> Reply | None:
        """The reply to send, or None for an update already processed (a replay)."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await self._once(inbound)
            except ConcurrentUpdate:
                log.info("conversation changed concurrently; retrying update %s", _tag(inbound))
                await asyncio.sleep(0.01 * attempt)
            except Exception:
                # Never let one bad update take the process down; the answers so far are kept
                # because the transaction rolled back to the last good state.
                log.exception("failed to handle update %s on %s", _tag(inbound), inbound.channel)
                return self._apology(inbound)
        return self._apology(inbound)

    async def _once(self, inbound: Inbound) -> Reply | None:
        async with self.sessions() as session, session.begin():
            if not await claim_update(session, inbound.channel, inbound.update_key):
                return None
            row, state = await load_conversation(session, inbound.channel, inbound.user_id)
            result = await self.engine.step(state, inbound, SqlStore(session))
            if result.state != state or row is None:
                await save_conversation(
                    session, row, inbound.channel, inbound.user_id, inbound.chat_id, result.state
                )
            for effect in result.effects:
                await self.effects.apply(session, effect)
        if result.effects:
            self.on_commit()
        return result.reply

    def _apology(self, inbound: Inbound) -> Reply:
        t = self.translations(None)
        text = t(
            "Sorry, something went wrong on our side. Your answers so far are kept: please try again in a moment."
        )
        return Reply(messages=[Outbound(inbound.chat_id, text)])


def _tag(inbound: Inbound) -> str:
    """A short tag to find an update in the logs; web keys embed a session, so hash them all."""
    return hashlib.sha256(f"{inbound.channel}:{inbound.update_key}".encode()).hexdigest()[:12]
