"""Rendering shared by every channel: choices are always numbered in the text itself, so a
person can answer by typing a number on channels without buttons, or when buttons fail."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from handlers.cards import is_action_list, numbered_actions
from handlers.types import Choice, Outbound


def choice_numbers(choices: tuple[Choice, ...]) -> list[int]:
    """The number shown for each choice: a case action keeps its fixed number (the one typed
    as "PA-0042 5"), every other choice counts from 1."""
    pairs = [(c.data, c.label) for c in choices]
    if is_action_list(pairs):
        return [n for n, _, _ in numbered_actions(pairs)]
    return list(range(1, len(choices) + 1))


def numbered_text(message: Outbound) -> str:
    if not message.choices or not message.numbered:
        return message.text
    numbers = choice_numbers(message.choices)
    lines = [f"{n}. {c.label}" for n, c in zip(numbers, message.choices, strict=True)]
    return message.text + "\n\n" + "\n".join(lines)


def typed_text(message: Outbound) -> str:
    """The text for a messenger without buttons: a case card lists its actions as the messages
    that take them, any other choices are numbered."""
    if message.typed:
        return message.text + "\n\n" + message.typed
    return numbered_text(replace(message, numbered=True))


def payload_message(chat_id: str, payload: dict[str, Any]) -> Outbound:
    """An outbox payload of kind text, card or card_edit as the message it stands for."""
    return Outbound(
        chat_id,
        str(payload.get("text") or ""),
        choices=tuple(
            Choice(str(label), str(data)) for data, label in payload.get("choices") or []
        ),
        numbered=payload.get("kind", "text") == "text",
        typed=str(payload.get("typed") or ""),
    )
