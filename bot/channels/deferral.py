"""Direct replies a messenger would not take (an outage) go to the outbox, shared by the
adapters: once a chat has replies waiting there, its later replies follow them until the outbox
has caught up, so they arrive in the order they were written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.dispatcher import Dispatcher
from handlers.types import Outbound


class DeferredReplies:
    def __init__(
        self, dispatcher: Dispatcher, channel: str, payload: Callable[[Outbound], dict[str, Any]]
    ) -> None:
        self.dispatcher = dispatcher
        self.channel = channel
        self.payload = payload  # the outbox payload the channel's own delivery understands
        self._chats: set[str] = set()

    async def queued_behind(self, chat_id: str) -> bool:
        if chat_id not in self._chats:
            return False
        if await self.dispatcher.queued_for(self.channel, chat_id):
            return True
        self._chats.discard(chat_id)
        return False

    async def defer(self, messages: list[Outbound]) -> None:
        by_chat: dict[str, list[dict[str, Any]]] = {}
        for message in messages:
            by_chat.setdefault(message.chat_id, []).append(self.payload(message))
        for chat_id, payloads in by_chat.items():
            self._chats.add(chat_id)
            await self.dispatcher.defer(self.channel, chat_id, payloads)
