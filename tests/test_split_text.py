"""The one `split_text` every channel uses, checked as properties over generated text.

The contract: the text is the pieces joined with whitespace-only gaps (whitespace at a cut is
dropped, nothing else), every piece is within the limit by the messenger's measure, no piece
starts with a mark belonging to the character before it, and a text with a line break inside
the limit is cut at a line break.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from handlers.text import split_text, utf16_units

MARKS = ["\u0301", "\u0300", "\u0323", "\u0309", "\u0303", "\u0302"]
EMOJI = ["🙂", "👍🏽", "👨\u200d👩\u200d👧", "❤\ufe0f", "1\ufe0f\u20e3", "🇻🇳"]
LONGEST_CLUSTER = 8  # the family emoji in UTF-16 units
letter = st.builds(
    lambda base, marks: base + "".join(marks),
    st.sampled_from(["a", "e", "Đ", "ư", "o", "n", "g", "X"]),
    st.lists(st.sampled_from(MARKS), max_size=2),
)
token = st.one_of(
    letter,
    letter,
    letter,
    st.sampled_from(EMOJI),
    st.sampled_from([" ", " ", "  ", "\t", "\xa0"]),
    st.sampled_from(["\n", "\n\n", " \n", "\n \n"]),
    st.sampled_from([". ", "! ", "? ", "… ", ".” ", ","]),
)
# Texts start with a letter: a text that begins with a mark or with spaces has nothing to keep
# them with.
texts = st.builds(lambda first, rest: first + "".join(rest), letter, st.lists(token, max_size=300))
measures = st.sampled_from([len, utf16_units])
limits = st.integers(min_value=LONGEST_CLUSTER, max_value=120)


def joined_with_whitespace(text: str, pieces: list[str]) -> bool:
    """Whether `text` is pieces[0] + gap + pieces[1] + … + gap, every gap only whitespace."""
    at = 0
    for piece in pieces:
        start = text.find(piece, at)
        if start < 0 or text[at:start].strip():
            return False
        at = start + len(piece)
    return text[at:].strip() == ""


def starts_a_cluster(piece: str) -> bool:
    first = piece[0]
    return (
        unicodedata.combining(first) == 0
        and unicodedata.category(first) not in ("Mn", "Me", "Mc")
        and first != "\u200d"
        and not "\U0001f3fb" <= first <= "\U0001f3ff"
    )


@given(texts, limits, measures)
def test_pieces_give_back_the_text_within_the_limit(text: str, limit: int, measure) -> None:
    pieces = split_text(text, limit, measure)
    assert pieces and all(pieces)
    assert joined_with_whitespace(text, pieces)
    assert all(measure(p) <= limit for p in pieces), [measure(p) for p in pieces]
    assert all(starts_a_cluster(p) for p in pieces)
    # Whitespace at a cut is dropped on both sides of it.
    assert not any(p != p.rstrip() for p in pieces[:-1])
    assert not any(p != p.lstrip() for p in pieces[1:])


one_line = st.builds(
    lambda first, rest: first + "".join(rest),
    letter,
    st.lists(token.filter(lambda t: "\n" not in t), max_size=100),
)


@given(one_line, texts, measures, st.data())
def test_a_line_break_inside_the_limit_is_where_the_text_is_cut(
    line: str, more: str, measure, data: st.DataObject
) -> None:
    text = f"{line}\n{more}"
    limit = measure(line) + data.draw(st.integers(0, measure(more)), label="room after the line")
    limit = max(limit, LONGEST_CLUSTER)
    if measure(text) <= limit:
        return
    first = split_text(text, limit, measure)[0]
    assert text.startswith(first)
    gap = text[len(first) :]
    gap = gap[: len(gap) - len(gap.lstrip())]
    assert "\n" in gap, (first, text[len(first) : len(first) + 10])


@given(texts, measures)
def test_a_text_within_the_limit_is_one_piece(text: str, measure) -> None:
    assert split_text(text, measure(text), measure) == [text]


def test_sentence_ends_come_before_spaces_and_marks_stay_with_their_letter() -> None:
    text = "Một câu ngắn. " + "Câu thứ hai dài hơn nhiều và không có dấu chấm ở cuối " * 2
    pieces = split_text(text, 60)
    assert pieces[0] == "Một câu ngắn. Câu thứ hai dài hơn nhiều và không có dấu chấm"
    sentence = "Một câu khá dài, đủ dài để qua nửa khung. Rồi tiếp tục thêm vài từ nữa đây"
    assert split_text(sentence, 60)[0] == "Một câu khá dài, đủ dài để qua nửa khung."
    nfd = unicodedata.normalize("NFD", "Đường" * 40)
    assert all(starts_a_cluster(p) for p in split_text(nfd, 7))


def test_utf16_counts_an_emoji_twice_as_telegram_and_zalo_do() -> None:
    text = "🙂" * 3000
    pieces = split_text(text, 4096, utf16_units)
    assert [len(p) for p in pieces] == [2048, 952]
    assert [len(p) for p in split_text(text, 4096)] == [3000]


def test_a_flag_is_never_cut_in_half() -> None:
    flags = "🇻🇳" * 50
    pieces = split_text("x" + flags, 9)
    assert "".join(pieces) == "x" + flags
    assert all(len(p) % 2 == 0 for p in pieces[1:])
