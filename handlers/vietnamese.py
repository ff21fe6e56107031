"""Vietnamese text as members type it on a phone, made comparable: one Unicode form, lower case,
common abbreviations written out ("cty" → "công ty", "ko" → "không"), and a second form with the
diacritics folded away ("lương" and "luong" are the same word to a phone keyboard without them).

Pure functions over two small word lists in handlers/data/; nothing here knows about reports.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from handlers.text import fold

DATA_DIR = Path(__file__).with_name("data")
# A word, possibly joined by "/" or "." to the next ("đ/c", "t.p", "5.500"), possibly ending in ".".
TOKEN_RE = re.compile(r"\w+(?:[/.]\w+)*\.?")
SPLIT_RE = re.compile(r"[/._]+")


@dataclass(frozen=True)
class Normalised:
    """Both forms of one text: `text` keeps the diacritics, `folded` drops them."""

    text: str
    folded: str

    @property
    def words(self) -> list[str]:
        return self.folded.split()


@functools.cache
def abbreviations() -> dict[str, str]:
    """Abbreviation → its words, read once (an immutable mapping of a shipped file)."""
    raw = yaml.safe_load((DATA_DIR / "abbreviations.yaml").read_text(encoding="utf-8"))
    return {
        unicodedata.normalize("NFC", str(k)).lower(): unicodedata.normalize("NFC", str(v)).lower()
        for k, v in raw["abbreviations"].items()
    }


@functools.cache
def stopwords() -> frozenset[str]:
    """Folded words too common to tell reports apart or to name a topic."""
    raw = yaml.safe_load((DATA_DIR / "stopwords_vi.yaml").read_text(encoding="utf-8"))
    return frozenset(fold(str(w)) for w in raw["stopwords"])


def _expand(token: str, table: dict[str, str]) -> list[str]:
    for key in (token, token.rstrip(".")):
        if key in table:
            return table[key].split()
    # "lương/tháng": each part on its own, written out when it is an abbreviation itself.
    return [
        word for part in SPLIT_RE.split(token) if part for word in table.get(part, part).split()
    ]


def normalise_text(text: str) -> str:
    """NFC, lower case, punctuation dropped, abbreviations written out. Idempotent."""
    table = abbreviations()
    lowered = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).lower())
    words: list[str] = []
    for token in TOKEN_RE.findall(lowered):
        words += _expand(token, table)
    return " ".join(words)


def normalise(text: str) -> Normalised:
    """The two comparable forms of a text."""
    norm = normalise_text(text)
    return Normalised(norm, fold(norm))


def content_words(folded: str) -> list[str]:
    """The folded words that carry meaning: stop words and lone digits out."""
    stop = stopwords()
    return [w for w in folded.split() if w not in stop and not (len(w) == 1 and w.isdecimal())]
