"""Rendering shared by every channel: choices are always numbered in the text itself, so a
person can answer by typing a number on channels without buttons, or when buttons fail."""

from __future__ import annotations

from handlers.types import Outbound


def numbered_text(message: Outbound) -> str:
    if not message.choices or not message.numbered:
        return message.text
    lines = [f"{i}. {c.label}" for i, c in enumerate(message.choices, 1)]
    return message.text + "\n\n" + "\n".join(lines)
