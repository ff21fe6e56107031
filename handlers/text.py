"""Text helpers: accent-insensitive matching for Vietnamese, and splitting long messages."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower-case and strip diacritics, so "nha may" finds "Nhà máy" and "đ" matches "d"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return " ".join(stripped.lower().split())


def matches_all_words(query: str, *haystacks: str) -> bool:
    words = fold(query).split()
    hay = " ".join(fold(h) for h in haystacks)
    return bool(words) and all(w in hay for w in words)


def split_text(text: str, limit: int) -> list[str]:
    """Split at paragraph, then line, then sentence, then word boundaries, never past `limit`."""
    if limit <= 0 or len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            pos = window.rfind(sep)
            if pos > limit // 3:
                cut = pos + len(sep)
                break
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def labelled(label: str, value: str) -> str:
    """'Category: Jobs'. A function rather than an f-string so gettext extraction sees t("...")."""
    return f"{label}: {value}"
