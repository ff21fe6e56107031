"""Every button's payload, built and parsed in one place.

A button carries a short string back to us when it is pressed (Telegram allows 64 bytes). Each
kind of button has a typed value here; `encode` turns it into that string and `parse` turns a
pressed string back into it, or raises `InvalidCallback` naming the kind the string claimed to
be, so the desk for that kind can refuse it the way it always has.

Wire format, version 1 (FORMAT_VERSION), which is what every message sent so far carries:

    c:<case>:<action>:<version>[:<arg>]      a staff or department action on a case card
    r:<case>:<choice>:<version>[:<arg>]      the reporter's side of their case
    lk:<code>:yes|no                         the owner confirms or refuses a /link
    poll:<round>                             "Answer now" on a poll invitation
    <nonce>:pq:<round>:<question>:<value>    an answer button of a poll question
    <nonce>:<key>                            a choice of the open prompt (forms, /my, /lang…)

A form's keys are the step's option values, and two of its own: `u:<unit code>` in the unit
picker and `edit:<step>` in the review's edit menu (`unit_key`, `edit_key` and their readers).

Buttons already sent stay pressable for months, so version 1 carries no marker and must always
be read as above. A future format must start with a marker version 1 can never produce (for
example "2~"), and `parse` must keep reading version 1 beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from handlers.casework import Action

ButtonT = TypeVar("ButtonT")
FORMAT_VERSION = 1
MAX_BYTES = 64  # Telegram's limit for callback_data
# Ids within what the database holds; longer digit strings are forged.
MAX_ID_DIGITS = 12
MAX_VERSION_DIGITS = 9
MAX_LINK_DIGITS = 9
POLL_ANSWER = "pq"


class Kind(StrEnum):
    """What a payload claims to be, read from its prefix alone."""

    CASE = "case"
    REPORTER = "reporter"
    LINK = "link"
    POLL_INVITATION = "poll invitation"
    POLL_ANSWER = "poll answer"
    PROMPT = "prompt"


class InvalidCallback(ValueError):
    """A payload we never built (or no longer understand); `kind` says which desk refuses it."""

    def __init__(self, kind: Kind, reason: str) -> None:
        super().__init__(f"{kind} button: {reason}")
        self.kind = kind


class CallbackTooLong(ValueError):
    """A button we were about to build would not fit the messenger's limit."""


@dataclass(frozen=True)
class CaseButton:
    case_id: int
    action: Action
    version: int  # the card's version: a press on an older card is refused
    arg: str = ""  # department code, due preset, "type"…


@dataclass(frozen=True)
class ReporterButton:
    case_id: int
    choice: str  # yes, no, rate, answer, addinfo: checked by the desk after the version
    version: int
    arg: str = ""


@dataclass(frozen=True)
class LinkButton:
    code_id: int
    accept: bool


@dataclass(frozen=True)
class PollInvitation:
    round_id: int


@dataclass(frozen=True)
class PollAnswer:
    """Names its round and question, so a button of an earlier question is still understood."""

    nonce: str
    round_id: int
    question: str = ""
    value: str = ""

    @property
    def key(self) -> str:
        """The prompt key, before the prompt's nonce is put in front of it."""
        return f"{POLL_ANSWER}:{self.round_id}:{self.question}:{self.value}"


@dataclass(frozen=True)
class PromptChoice:
    nonce: str  # the prompt's token: a button of an older prompt is out of date
    key: str


Callback = CaseButton | ReporterButton | LinkButton | PollInvitation | PollAnswer | PromptChoice

_PREFIXES = {"c": Kind.CASE, "r": Kind.REPORTER, "lk": Kind.LINK, "poll": Kind.POLL_INVITATION}


def kind_of(data: str) -> Kind:
    """The kind a payload claims to be, from its prefix alone; routing needs no more."""
    head, sep, rest = data.partition(":")
    if sep and head in _PREFIXES:
        return _PREFIXES[head]
    poll_answer = head and rest.startswith(f"{POLL_ANSWER}:")
    return Kind.POLL_ANSWER if poll_answer else Kind.PROMPT


# -- building --------------------------------------------------------------------------------------
def encode(button: Callback) -> str:
    """The payload of a button; CallbackTooLong if it would not fit."""
    data = _wire(button)
    if len(data.encode()) > MAX_BYTES:
        raise CallbackTooLong(f"{len(data.encode())} bytes: {data[:20]}…")
    return data


def _wire(button: Callback) -> str:
    match button:
        case CaseButton(case_id, action, version, arg):
            return _with_arg(f"c:{case_id}:{action.value}:{version}", arg)
        case ReporterButton(case_id, choice, version, arg):
            return _with_arg(f"r:{case_id}:{choice}:{version}", arg)
        case LinkButton(code_id, accept):
            return f"lk:{code_id}:{'yes' if accept else 'no'}"
        case PollInvitation(round_id):
            return f"poll:{round_id}"
        case PollAnswer():
            return prompt_data(button.nonce, button.key)
        case PromptChoice(nonce, key):
            return prompt_data(nonce, key)


def _with_arg(data: str, arg: str) -> str:
    return f"{data}:{arg}" if arg else data


def prompt_data(nonce: str, key: str) -> str:
    """A choice of the open prompt: the key, behind the prompt's token."""
    return f"{nonce}:{key}"


# -- parsing ---------------------------------------------------------------------------------------
def parse(data: str) -> Callback:
    """The button a pressed payload stands for; InvalidCallback for anything we never built."""
    kind = kind_of(data)
    if len(data.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        # A poll answer is a prompt choice first: an oversize one is refused as one.
        raise InvalidCallback(Kind.PROMPT if kind == Kind.POLL_ANSWER else kind, "too long")
    if kind in (Kind.CASE, Kind.REPORTER):
        return _case_or_reporter(kind, data)
    if kind == Kind.LINK:
        return _link(data)
    if kind == Kind.POLL_INVITATION:
        return PollInvitation(_number(kind, data.removeprefix("poll:"), MAX_ID_DIGITS))
    if kind == Kind.POLL_ANSWER:
        return _poll_answer(data)
    return _prompt(data)


def parse_as(data: str | None, kind: type[ButtonT]) -> ButtonT | None:
    """The button if it is of this kind, else None: for a desk that refuses anything else the
    same way, whether forged, stale or another desk's."""
    try:
        button = parse(data or "")
    except InvalidCallback:
        return None
    return button if isinstance(button, kind) else None


def _number(kind: Kind, text: str, digits: int) -> int:
    # isdecimal, not isdigit: int() reads every decimal digit but not "²".
    if not text.isdecimal() or len(text) > digits:
        raise InvalidCallback(kind, "not a number")
    return int(text)


def _case_or_reporter(kind: Kind, data: str) -> CaseButton | ReporterButton:
    parts = data.split(":", 4)
    if len(parts) < 4:
        raise InvalidCallback(kind, "too few fields")
    case_id = _number(kind, parts[1], MAX_ID_DIGITS)
    version = _number(kind, parts[3], MAX_VERSION_DIGITS)
    arg = parts[4] if len(parts) > 4 else ""
    if kind == Kind.REPORTER:
        return ReporterButton(case_id, parts[2], version, arg)
    try:
        action = Action(parts[2])
    except ValueError:
        raise InvalidCallback(kind, "unknown action") from None
    return CaseButton(case_id, action, version, arg)


def _link(data: str) -> LinkButton:
    parts = data.split(":")
    if len(parts) != 3 or parts[2] not in ("yes", "no"):
        raise InvalidCallback(Kind.LINK, "not yes or no")
    return LinkButton(_number(Kind.LINK, parts[1], MAX_LINK_DIGITS), parts[2] == "yes")


def _prompt(data: str) -> PromptChoice:
    nonce, _, key = data.partition(":")
    if not nonce or not key:
        raise InvalidCallback(Kind.PROMPT, "no token or no key")
    return PromptChoice(nonce, key)


def _poll_answer(data: str) -> PollAnswer:
    """Its nonce is not checked: the round and question say what it answers."""
    nonce, _, key = data.partition(":")
    # A missing question or value reads as empty: the desk refuses it and asks again.
    _, round_part, question, value = [*key.split(":", 3), "", ""][:4]
    return PollAnswer(nonce, _number(Kind.POLL_ANSWER, round_part, MAX_ID_DIGITS), question, value)


# -- a form's own prompt keys ----------------------------------------------------------------------
UNIT_KEY = "u:"
EDIT_KEY = "edit:"


def unit_key(code: str) -> str:
    return UNIT_KEY + code


def edit_key(step_id: str) -> str:
    return EDIT_KEY + step_id


def unit_of(key: str | None) -> str | None:
    """The unit code a unit picker's key names; None for any other key."""
    return key.removeprefix(UNIT_KEY) if key and key.startswith(UNIT_KEY) else None


def step_of(key: str | None) -> str | None:
    """The step an edit menu's key names; None for any other key."""
    return key.removeprefix(EDIT_KEY) if key and key.startswith(EDIT_KEY) else None
