"""Fake messengers: in-process senders that record every message with its simulated time, and
the turns people take through the real dispatcher, as a channel adapter would."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.simulate.context import SimCore as Core
from bot.simulate.org import Person
from handlers.types import ChatKind, Inbound, Reply

CODE = re.compile(r"PA-\d{4,}")
Choices = list[tuple[str, str]]  # (data, label), as payloads carry them


@dataclass(frozen=True)
class Sent:
    """One message a fake messenger received from us (through the outbox)."""

    at: datetime
    channel: str
    chat_id: str
    kind: str
    text: str
    choices: tuple[tuple[str, str], ...] = ()


@dataclass
class Wire:
    """Everything the fake messengers received, and the buttons each chat holds now."""

    sent: list[Sent] = field(default_factory=list)
    replies: int = 0  # answers to people's own messages (not through the outbox)
    by_chat: defaultdict[tuple[str, str], list[Sent]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # The newest buttons of each case's card in each chat, and of each chat's last message.
    card_buttons: dict[tuple[str, str, str], Choices] = field(default_factory=dict)
    last_buttons: dict[tuple[str, str], Choices] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def record(self, channel: str, chat_id: str, payload: dict[str, Any]) -> str:
        kind = str(payload.get("kind", "text"))
        text = str(payload.get("text") or payload.get("caption") or "")
        choices = tuple((str(d), str(lab)) for d, lab in payload.get("choices") or [])
        sent = Sent(datetime.now(UTC), channel, chat_id, kind, text, choices)
        self.sent.append(sent)
        self.by_chat[channel, chat_id].append(sent)
        if choices:
            self.last_buttons[channel, chat_id] = list(choices)
        if kind in ("card", "card_edit") and (code := CODE.search(text)):
            self.card_buttons[channel, chat_id, code[0]] = list(choices)
        return str(next(self._ids))

    def to(self, channel: str, chat_id: str) -> list[Sent]:
        return self.by_chat.get((channel, chat_id), [])


class FakeMessenger:
    """The `Sender` of one channel: accepts everything, at once, and records it."""

    def __init__(self, wire: Wire, channel: str) -> None:
        self.wire = wire
        self.channel = channel

    async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str | None:
        return self.wire.record(self.channel, chat_id, payload)


class Speaker:
    """One person taking turns through the dispatcher: typing, tapping or typing a number."""

    _keys = itertools.count(1)

    def __init__(self, core: Core, wire: Wire, person: Person, chat: str | None = None) -> None:
        self.core = core
        self.wire = wire
        self.person = person
        self.chat_id = chat or person.user_id
        self.kind = ChatKind.GROUP if chat else ChatKind.PRIVATE
        self.last: Reply | None = None

    async def _turn(self, **kw: Any) -> Reply | None:
        person = self.person
        inbound = Inbound(
            channel=person.channel,
            update_key=f"sim{next(self._keys)}",
            user_id=person.user_id,
            chat_id=self.chat_id,
            chat_kind=self.kind,
            display_name=f"{person.role} {person.person_id}",
            has_buttons=not person.typed,
            **kw,
        )
        async with self.core.dispatcher.run(person.channel, person.user_id, inbound) as handled:
            reply = handled.reply if handled is not None else None
        self.last = reply
        if reply is not None:
            self.wire.replies += len(reply.messages)
        return reply

    async def say(self, text: str) -> Reply | None:
        return await self._turn(text=text)

    async def tap(self, data: str) -> Reply | None:
        return await self._turn(callback=data, callback_message_id="1")

    def reply_text(self) -> str:
        reply = self.last
        if reply is None:
            return ""
        toast = reply.callback_answer.text if reply.callback_answer else ""
        return "\n".join([toast or "", *(m.text for m in reply.messages)])

    def choices(self) -> Choices:
        """The buttons of the last answer, or else of the last message the chat received."""
        for message in reversed(self.last.messages if self.last else ()):
            if message.choices:
                return [(c.data, c.label) for c in message.choices]
        return self.wire.last_buttons.get((self.person.channel, self.chat_id), [])

    async def choose(self, index: int, typed: bool = False) -> Reply | None:
        """Pick the index-th button of the last prompt: tapped, or its number typed (always on
        Zalo; on other messengers when the person prefers typing)."""
        options = self.choices()
        if not options:
            raise SimulationError(f"{self.person.role} expected buttons, got {self.reply_text()!r}")
        index = min(index, len(options) - 1)
        if typed or self.person.typed:
            return await self.say(str(index + 1))
        return await self.tap(options[index][0])

    async def choose_label(self, label: str, typed: bool = False) -> Reply | None:
        options = self.choices()
        for n, (_data, text) in enumerate(options):
            if label in text:
                return await self.choose(n, typed)
        raise SimulationError(f"no button like {label!r} in {options}")


class SimulationError(Exception):
    """The product did not answer as a person would expect: the run failed."""
