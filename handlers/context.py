"""One turn of the conversation (`Turn`: what a call of `step` works on), and the effects it
returns to the host."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from handlers.callbacks import PromptChoice, encode
from handlers.formrunner import FormRunner
from handlers.i18n import Translator
from handlers.ports import PersonView, Store
from handlers.state import State
from handlers.types import Choice, Inbound, Outbound, Reply


@dataclass(frozen=True)
class ReportSubmitted:
    """Effect: staff must hear of this report (outbox rows, same transaction)."""

    report_id: int


@dataclass(frozen=True)
class CaseChanged:
    """Effect: a case moved; cards, the reporter and the owner must hear of it."""

    report_id: int
    action: str
    note: str = ""
    previous_department: str | None = None


Effect = ReportSubmitted | CaseChanged


@dataclass
class Turn:
    """Everything one call of `step` needs, so helpers do not pass six arguments around."""

    inbound: Inbound
    state: State
    person: PersonView | None
    t: Translator
    runner: FormRunner
    store: Store
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    reply: Reply = field(default_factory=Reply)
    effects: list[Effect] = field(default_factory=list)

    def say(self, text: str, choices: list[tuple[str, str]] | None = None) -> None:
        """A reply in this chat; button payloads carry the current prompt token."""
        nonce = self.state.nonce
        self.reply.messages.append(
            Outbound(
                chat_id=self.inbound.chat_id,
                text=text,
                choices=tuple(
                    Choice(label, encode(PromptChoice(nonce, key))) for key, label in choices or []
                ),
            )
        )

    def say_raw(
        self,
        text: str,
        choices: list[tuple[str, str]] | None = None,
        chat_id: str | None = None,
        force_reply: bool = False,
    ) -> None:
        """A reply whose buttons carry their own payloads (case buttons), maybe to another chat."""
        self.reply.messages.append(
            Outbound(
                chat_id=chat_id or self.inbound.chat_id,
                text=text,
                choices=tuple(Choice(label, data) for data, label in choices or []),
                force_reply=force_reply,
            )
        )
