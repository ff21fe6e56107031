"""The button codec: every kind round-trips, today's payloads read as before, and whatever a
client sends back is either understood or refused with InvalidCallback, never a crash."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.callbacks import (
    FORMAT_VERSION,
    MAX_BYTES,
    CallbackTooLong,
    CaseButton,
    InvalidCallback,
    Kind,
    LinkButton,
    PollAnswer,
    PollInvitation,
    PromptChoice,
    ReporterButton,
    edit_key,
    encode,
    kind_of,
    parse,
    step_of,
    unit_key,
    unit_of,
)
from handlers.casework import Action

ids = st.integers(min_value=0, max_value=10**9)
versions = st.integers(min_value=0, max_value=10**6)
# Text our own code puts in a field: no separator, no lone surrogate.
word = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=":"), max_size=12)
rest = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # a last field may hold ":"
nonces = st.text("0123456789abcdef", min_size=1, max_size=6)

buttons = st.one_of(
    st.builds(CaseButton, ids, st.sampled_from(list(Action)), versions, rest),
    st.builds(ReporterButton, ids, word, versions, rest),
    st.builds(LinkButton, ids, st.booleans()),
    st.builds(PollInvitation, ids),
    st.builds(PollAnswer, nonces, ids, word, rest),
    st.builds(PromptChoice, nonces, rest.filter(lambda k: k != "" and not k.startswith("pq:"))),
)


@given(buttons)
def test_every_button_reads_back_as_itself(button: object) -> None:
    try:
        data = encode(button)  # type: ignore[arg-type]
    except CallbackTooLong:
        return  # refused at build time: never sent
    assert len(data.encode()) <= MAX_BYTES
    assert parse(data) == button


@given(st.text(max_size=100))
def test_any_payload_is_understood_or_refused(data: str) -> None:
    try:
        button = parse(data)
    except InvalidCallback as invalid:
        assert invalid.kind in (kind_of(data), Kind.PROMPT)
        return
    assert (
        kind_of(data)
        == {
            CaseButton: Kind.CASE,
            ReporterButton: Kind.REPORTER,
            LinkButton: Kind.LINK,
            PollInvitation: Kind.POLL_INVITATION,
            PollAnswer: Kind.POLL_ANSWER,
            PromptChoice: Kind.PROMPT,
        }[type(button)]
    )


@given(st.sampled_from(["c:", "r:", "lk:", "poll:", "ab12cd:pq:"]), st.text(max_size=80))
def test_any_payload_with_a_known_prefix_is_understood_or_refused(prefix: str, tail: str) -> None:
    with contextlib.suppress(InvalidCallback):
        parse(prefix + tail)


@pytest.mark.parametrize(
    ("data", "button"),
    [
        ("c:1:ack:0", CaseButton(1, Action.ACKNOWLEDGE, 0)),
        ("c:1:assign:0:SCT", CaseButton(1, Action.ASSIGN, 0, "SCT")),
        ("c:12:due:3:24h", CaseButton(12, Action.SET_DUE, 3, "24h")),
        ("r:1:rate:4:5", ReporterButton(1, "rate", 4, "5")),
        ("r:1:nuke:0", ReporterButton(1, "nuke", 0)),  # the desk refuses it after the version
        ("lk:7:yes", LinkButton(7, accept=True)),
        ("lk:7:no", LinkButton(7, accept=False)),
        ("poll:3", PollInvitation(3)),
        ("a1b2c3:pq:3:mood:stable", PollAnswer("a1b2c3", 3, "mood", "stable")),
        ("x:pq:1", PollAnswer("x", 1)),  # the desk says the question is not valid
        ("a1b2c3:edit:description", PromptChoice("a1b2c3", "edit:description")),
        ("0:vi", PromptChoice("0", "vi")),
    ],
)
def test_todays_payloads_read_as_before(data: str, button: object) -> None:
    assert FORMAT_VERSION == 1
    assert parse(data) == button
    if data != "x:pq:1":
        assert encode(button) == data  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ("c:1", Kind.CASE),
        ("c:x:ack:0", Kind.CASE),
        ("c:1:nuke:0", Kind.CASE),
        ("c:1:ack:1234567890", Kind.CASE),
        ("c:1234567890123:ack:0", Kind.CASE),
        ("r:x:y", Kind.REPORTER),
        ("lk:²:yes", Kind.LINK),
        ("lk:1:maybe", Kind.LINK),
        ("lk::yes", Kind.LINK),
        ("lk:1:yes:extra", Kind.LINK),
        ("lk:99999999999999999999999:yes", Kind.LINK),
        ("poll:abc", Kind.POLL_INVITATION),
        ("poll:", Kind.POLL_INVITATION),
        ("x:pq:abc:q:v", Kind.POLL_ANSWER),
        ("forged", Kind.PROMPT),
        (":pq:1:q:v", Kind.PROMPT),
        ("abc:", Kind.PROMPT),
        ("x" * 80 + ":1", Kind.PROMPT),
        ("ab:pq:1:" + "q" * 70, Kind.PROMPT),  # oversize: refused before it is read as a poll
        ("c:1:assign:0:" + "é" * 30, Kind.CASE),  # 73 bytes
    ],
)
def test_anything_else_is_refused_as_the_kind_it_claims(data: str, kind: Kind) -> None:
    with pytest.raises(InvalidCallback) as refused:
        parse(data)
    assert refused.value.kind == kind


def test_a_button_over_the_limit_is_never_built() -> None:
    with pytest.raises(CallbackTooLong):
        encode(CaseButton(1, Action.ASSIGN, 0, "D" * 60))
    with pytest.raises(CallbackTooLong):
        encode(PromptChoice("a1b2c3", "u:" + "U" * 60))


@given(word)
def test_a_forms_own_keys_read_back(code: str) -> None:
    assert unit_of(unit_key(code)) == code and step_of(unit_key(code)) is None
    assert step_of(edit_key(code)) == code and unit_of(edit_key(code)) is None
    assert unit_of(None) is None and step_of("review") is None
