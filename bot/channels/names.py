"""People's names as Vietnamese write them: family name first.

Telegram (like most Western software) stores a "first name" and a "last name" and shows them in
that order, so a member who typed first name "Kín" and last name "Trần Thị" would be greeted as
"Kín Trần Thị". The rule (docs/style-vi.md): a name is Vietnamese when either part carries a
Vietnamese letter (ă â đ ê ô ơ ư) or the hỏi or nặng tone mark, or its last name starts with a common Vietnamese family name; then
the last name goes first. A name already typed family first ("Nguyễn" / "Văn An") and a
non-Vietnamese name ("John" / "Smith") keep the order the person typed."""

from __future__ import annotations

import unicodedata

# The most common family names (about 90% of Vietnamese people), written without marks so that
# "Nguyen" typed on a keyboard without Vietnamese input matches too.
# Names that are also common Western words or name parts ("Van", "Le", "Kim", "Mai") are left
# out: the marks ("Văn", "Lê") still make those Vietnamese.
FAMILY_NAMES = frozenset(
    [
        "nguyen",
        "tran",
        "pham",
        "hoang",
        "huynh",
        "phan",
        "vu",
        "vo",
        "dang",
        "bui",
        "do",
        "ho",
        "ngo",
        "duong",
        "ly",
        "dinh",
        "lam",
        "truong",
        "trinh",
        "dao",
        "cao",
        "luu",
        "luong",
        "thai",
        "chu",
        "kieu",
        "quach",
        "ton",
        "tong",
        "doan",
        "khuc",
        "lai",
        "chau",
        "thach",
        "giang",
        "tang",
        "nghiem",
        "vuong",
    ]
)
# Letters only Vietnamese uses among Latin scripts (besides tone marks, checked separately).
VIETNAMESE_LETTERS = frozenset("ăâđêôơưĂÂĐÊÔƠƯ")
# Hỏi and nặng: acute, grave and tilde alone are French, Spanish or Portuguese too ("José").
TONE_MARKS = frozenset("\u0309\u0323")


def family_name_first(first: str, last: str) -> str:
    """The name to offer and show: "Trần Thị Kín" for first "Kín", last "Trần Thị"."""
    first, last = " ".join(first.split()), " ".join(last.split())
    if not first or not last:
        return first or last
    if _starts_with_family_name(first) and not _starts_with_family_name(last):
        return f"{first} {last}"  # already typed family name first
    if _starts_with_family_name(last) or _has_vietnamese_marks(first + last):
        return f"{last} {first}"
    return f"{first} {last}"


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.casefold().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _starts_with_family_name(part: str) -> bool:
    return _plain(part.split()[0]) in FAMILY_NAMES


def _has_vietnamese_marks(text: str) -> bool:
    if any(c in VIETNAMESE_LETTERS for c in text):
        return True
    return any(c in TONE_MARKS for c in unicodedata.normalize("NFD", text))
