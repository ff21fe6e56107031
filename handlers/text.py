"""Text helpers: accent-insensitive matching for Vietnamese, and splitting long messages."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable


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


# -- splitting long messages -----------------------------------------------------------------
Measure = Callable[[str], int]
ZWJ = "\u200d"
_PARAGRAPH_RE = re.compile(r"\n[ \t]*\n")
_LINE_RE = re.compile(r"\n")
# A sentence ends with . ! ? … (possibly closed by quotes/brackets) followed by whitespace.
_SENTENCE_RE = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_SPACE_RE = re.compile(r"\s+")


def utf16_units(text: str) -> int:
    """Length as Telegram and Zalo count it: UTF-16 code units, so an emoji counts twice."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def split_text(text: str, limit: int, measure: Measure = len) -> list[str]:
    """Split `text` into pieces of at most `limit` by `measure`, which must be additive (the
    length of a string is the sum of its characters'): `len` counts code points,
    `utf16_units` what Telegram and Zalo count.

    A piece ends at a line break (a paragraph break when one lies in the second half of the
    window), else at a sentence end, else at a space; only a word longer than the limit is cut
    inside, and never before a combining mark, inside an emoji sequence or a surrogate pair.
    Whitespace at the cut points is dropped, nothing else: the text is the pieces joined with
    whitespace-only gaps (so a text of only whitespace, over the limit, gives no piece)."""
    if limit <= 0 or measure(text) <= limit:
        return [text]
    pieces: list[str] = []
    rest = text
    while measure(rest) > limit:
        cut = _cut_point(rest, limit, measure)
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _cut_point(rest: str, limit: int, measure: Measure) -> int:
    """Where the next piece ends: the best clean boundary that keeps it within `limit`."""
    end = _prefix_within(rest, limit, measure)
    window = rest[: end + 1]  # a separator may start right after the last character that fits

    def clean(cuts: list[int]) -> list[int]:
        return [c for c in cuts if 0 < c <= end and _clean_cut(rest, c)]

    paragraphs = clean([m.start() for m in _PARAGRAPH_RE.finditer(window)])
    lines = clean([m.start() for m in _LINE_RE.finditer(window)])
    sentences = clean([m.end() for m in _SENTENCE_RE.finditer(window)])
    spaces = clean([m.start() for m in _SPACE_RE.finditer(window)])
    if paragraphs and paragraphs[-1] >= end // 2:
        return paragraphs[-1]
    if lines:
        return lines[-1]
    if sentences and sentences[-1] >= end // 2:  # a sentence end early on would waste a piece
        return sentences[-1]
    for cuts in (spaces, sentences):
        if cuts:
            return cuts[-1]
    cut = end
    while cut > 0 and not _clean_cut(rest, cut):
        cut -= 1
    return cut if cut > 0 else max(end, 1)  # one cluster longer than the limit: cut it anyway


def _prefix_within(text: str, limit: int, measure: Measure) -> int:
    """The largest `i` with `measure(text[:i]) <= limit`."""
    if measure is len:
        return min(limit, len(text))
    units = 0
    for index, ch in enumerate(text):
        units += measure(ch)
        if units > limit:
            return index
    return len(text)


def _clean_cut(text: str, cut: int) -> bool:
    """Whether ending a piece before `text[cut]` keeps every character with its cluster: the
    next piece (after the whitespace that is dropped) must not start with a mark that belongs
    to the character before, nor may a joiner or a surrogate pair be left open."""
    before = text[cut - 1]
    if before == ZWJ or "\ud800" <= before <= "\udbff":
        return False
    if _regional(before) and cut < len(text) and _regional(text[cut]):
        pairs = len(text[:cut]) - len(text[:cut].rstrip(_REGIONAL))
        if pairs % 2:  # a flag is two regional indicators: this cut would part them
            return False
    after = cut
    while after < len(text) and text[after].isspace():
        after += 1
    return after == len(text) or not _extends(text[after])


_REGIONAL = "".join(chr(c) for c in range(0x1F1E6, 0x1F200))


def _regional(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"


def _extends(ch: str) -> bool:
    """True for a character that belongs to the one before it: a combining mark (an accent in
    decomposed Vietnamese), a variation selector, a joiner, an emoji skin tone."""
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch == ZWJ
        or "\udc00" <= ch <= "\udfff"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"
    )


def labelled(label: str, value: str) -> str:
    """'Category: Jobs'. A function rather than an f-string so gettext extraction sees t("...")."""
    return f"{label}: {value}"
