"""A test driver that talks to the real core exactly as an adapter does, and keeps a transcript."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.app import Core
from bot.render import numbered_text
from handlers.types import TYPED_CHANNELS, ChatKind, Inbound, Media, Outbound, Reply

_keys = itertools.count(1)


@dataclass
class Chat:
    core: Core
    user_id: str = "1001"
    channel: str = "web"
    display_name: str = "Nguyễn Văn An"
    username: str = "nguyenvanan"
    chat_kind: ChatKind = ChatKind.PRIVATE
    chat_id: str | None = None
    transcript: list[str] = field(default_factory=list)
    last_choices: list[tuple[str, str]] = field(default_factory=list)
    last_reply: Reply | None = None

    def _inbound(self, **kw: object) -> Inbound:
        return Inbound(
            channel=self.channel,
            update_key=f"k{next(_keys)}",
            user_id=self.user_id,
            chat_id=self.chat_id or self.user_id,
            chat_kind=self.chat_kind,
            display_name=self.display_name,
            username=self.username,
            has_buttons=self.channel not in TYPED_CHANNELS,
            **kw,  # type: ignore[arg-type]
        )

    async def send(self, inbound: Inbound, shown: str | None) -> list[str]:
        if shown is not None:
            self.transcript.append(f"> {shown}")
        async with self.core.dispatcher.run(inbound.channel, inbound.user_id, inbound) as handled:
            reply = handled.reply if handled is not None else None
        self.last_reply = reply
        if reply is None:
            self.transcript.append("< (duplicate: ignored)")
            return []
        texts: list[str] = []
        if reply.callback_answer and reply.callback_answer.text:
            self.transcript.append(f"< [toast] {reply.callback_answer.text}")
            texts.append(reply.callback_answer.text)
        for message in reply.messages:
            texts.append(self._record(message))
        return texts

    def _record(self, message: Outbound) -> str:
        text = numbered_text(message)
        self.transcript.append("< " + text.replace("\n", "\n  "))
        if message.choices:
            self.last_choices = [(c.label, c.data) for c in message.choices]
        return text

    async def say(self, text: str) -> list[str]:
        shown = text if len(text) <= 200 else f"{text[:40]}… ({len(text)} characters)"
        return await self.send(self._inbound(text=text), shown)

    async def press(self, label_or_number: str | int) -> list[str]:
        """Tap a button of the latest prompt, by its number or (part of) its label."""
        if isinstance(label_or_number, int):
            label, data = self.last_choices[label_or_number - 1]
        else:
            matches = [(lab, d) for lab, d in self.last_choices if label_or_number in lab]
            assert matches, f"no button like {label_or_number!r} in {self.last_choices}"
            label, data = matches[0]
        if self.channel in TYPED_CHANNELS:  # no buttons there: people type the number
            number = [d for _, d in self.last_choices].index(data) + 1
            return await self.say(str(number))
        return await self.send(self._inbound(callback=data, callback_message_id="1"), f"[{label}]")

    async def press_data(self, data: str) -> list[str]:
        return await self.send(
            self._inbound(callback=data, callback_message_id="1"),
            "[an old or forged button]",  # payloads carry a random token
        )

    async def media(self, *media: Media, caption: str = "") -> list[str]:
        shown = (
            "[" + ", ".join(m.kind.value for m in media) + "]" + (f" {caption}" if caption else "")
        )
        return await self.send(self._inbound(text=caption, media=media), shown)

    def text(self) -> str:
        return "\n".join(self.transcript) + "\n"
