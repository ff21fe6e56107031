"""Channel-neutral values that cross the edge between adapters and the core.

Adapters build `Inbound` from native updates and render `Outbound` natively; the core never
sees a Telegram, Zalo or aiohttp object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ChatKind(StrEnum):
    PRIVATE = "private"
    GROUP = "group"


class MediaKind(StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"
    VOICE = "voice"
    LOCATION = "location"
    STICKER = "sticker"
    VIDEO = "video"
    OTHER = "other"


# Kinds a member may attach to a report; the rest get a polite refusal.
ACCEPTED_MEDIA = frozenset(
    {MediaKind.PHOTO, MediaKind.DOCUMENT, MediaKind.VOICE, MediaKind.LOCATION}
)


# Channels whose messengers show no buttons: people type numbers, commands (/poll) and case
# actions ("PA-0042 1") instead. The Zalo Bot platform and the Official Account's groups.
TYPED_CHANNELS = ("zalo", "zalo-oa")


def channel_has_buttons(channel: str) -> bool:
    """The one place that says whether a channel's messenger can show buttons."""
    return channel not in TYPED_CHANNELS


@dataclass(frozen=True)
class Media:
    """One piece of media as the channel announced it; `ref` is the channel's own file handle."""

    kind: MediaKind
    ref: str = ""
    mime: str = ""
    size: int = 0
    name: str = ""
    latitude: float | None = None
    longitude: float | None = None
    too_large: bool = False  # over ATTACHMENT size limit; not downloaded


@dataclass(frozen=True)
class Inbound:
    """One thing a person did: a message, a command or a button press."""

    channel: str
    update_key: str  # unique per channel; the deduplication key
    user_id: str
    chat_id: str
    chat_kind: ChatKind = ChatKind.PRIVATE
    text: str = ""
    callback: str | None = None  # button payload, when a button was pressed
    callback_message_id: str | None = None
    media: tuple[Media, ...] = ()
    display_name: str = ""
    username: str = ""
    language_code: str = ""
    # What the adapter's messenger can show; the core words its hints to match.
    has_buttons: bool = True
    # The id of the message this one replies to, where the messenger carries replies (a reply
    # to a case card names that case).
    reply_to: str | None = None

    @property
    def command(self) -> str | None:
        """`/report@bot args` -> `report`; None when the text is not a command."""
        if not self.text.startswith("/"):
            return None
        head = self.text[1:].split(maxsplit=1)[0] if len(self.text) > 1 else ""
        return head.split("@", 1)[0].lower() or None

    @property
    def command_args(self) -> str:
        parts = self.text.split(maxsplit=1)
        return parts[1].strip() if len(parts) > 1 else ""


@dataclass(frozen=True)
class Choice:
    """A numbered option; `data` is the button payload, `label` what the person sees."""

    label: str
    data: str


@dataclass(frozen=True)
class Outbound:
    """One message to send. Choices always render numbered; buttons where the channel has them."""

    chat_id: str
    text: str
    choices: tuple[Choice, ...] = ()
    columns: int = 1
    photo_path: str | None = None
    # Ask the messenger to open a reply to this message (Telegram's ForceReply): in groups
    # with privacy mode on, the bot only sees replies to its own messages.
    force_reply: bool = False
    # Cards carry their actions as buttons only; everywhere else choices are numbered in text.
    numbered: bool = True
    # A case card's actions as typed messages ("PA-0042 1 — ✔ Acknowledge"), shown instead of
    # the choices where there are no buttons.
    typed: str = ""


@dataclass(frozen=True)
class CallbackAnswer:
    """A short toast for a button press (Telegram's answerCallbackQuery)."""

    text: str = ""
    alert: bool = False


@dataclass
class Reply:
    """What the core wants the adapter to do in answer to one Inbound."""

    messages: list[Outbound] = field(default_factory=list)
    callback_answer: CallbackAnswer | None = None
    # The label of the button or typed choice taken; adapters may show it on the old prompt.
    selected_label: str | None = None
    # Take the buttons off the pressed message. False for case cards, which are edited through
    # the outbox and must keep their buttons when a press is refused.
    retire_keyboard: bool = True
