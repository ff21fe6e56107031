"""One poll question at a time: which comes next, how it is asked, and reading the answer.

Pure functions over a definition and the answers so far, so the desk, the results and the
tests all agree on skip logic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from handlers.i18n import Translator
from handlers.polldefs import PollDef, Question, QuestionType, pick
from handlers.text import fold

SCALE = range(1, 6)
DONE = "done"


def visible(defn: PollDef, answers: dict[str, Any]) -> list[Question]:
    """The questions this person is asked, given their answers (skip logic applied)."""
    return [q for q in defn.questions if q.when is None or q.when.holds(answers)]


def next_question(defn: PollDef, answers: dict[str, Any], skipped: list[str]) -> Question | None:
    """The first visible question neither answered nor skipped."""
    for q in visible(defn, answers):
        if q.id not in answers and q.id not in skipped:
            return q
    return None


def prune(defn: PollDef, answers: dict[str, Any]) -> dict[str, Any]:
    """Drop answers to questions that a changed earlier answer now skips."""
    keep = {q.id for q in visible(defn, answers)}
    return {k: v for k, v in answers.items() if k in keep}


def display(q: Question, value: Any, t: Translator) -> str:
    """An answer as the person would recognise it."""
    if value is None:
        return "—"
    if q.type == QuestionType.SINGLE:
        opt = q.option(str(value))
        return pick(opt.text, t.locale) if opt else str(value)
    if q.type == QuestionType.MULTI:
        return ", ".join(
            pick(o.text, t.locale) for v in value if (o := q.option(str(v))) is not None
        )
    if q.type == QuestionType.NUMBER:
        return f"{value:g}" if isinstance(value, float) else str(value)
    return str(value)


@dataclass(frozen=True)
class Prompt:
    text: str
    choices: list[tuple[str, str]]  # (value, label) of the question's buttons


def prompt(
    defn: PollDef,
    q: Question,
    answers: dict[str, Any],
    picked: list[str],
    t: Translator,
    has_buttons: bool,
) -> Prompt:
    shown = visible(defn, answers)
    position = next((i for i, v in enumerate(shown, 1) if v.id == q.id), len(shown))
    lines = [
        t(
            "{title} · question {number} of {total}",
            title=pick(defn.title, t.locale),
            number=position,
            total=len(shown),
        ),
        "",
        pick(q.text, t.locale),
    ]
    choices: list[tuple[str, str]] = []
    if q.type == QuestionType.SINGLE:
        choices = [(o.value, pick(o.text, t.locale)) for o in q.options]
    elif q.type == QuestionType.MULTI:
        lines.append(
            t("Pick every option that applies, then Done.")
            if has_buttons
            else t("Send the numbers of every option that applies, for example: 1, 3")
        )
        choices = [
            (o.value, ("✓ " if o.value in picked else "") + pick(o.text, t.locale))
            for o in q.options
        ]
        if has_buttons:
            choices.append((DONE, t("Done")))
    elif q.type == QuestionType.SCALE:
        lines.append(t("From 1 (lowest) to 5 (highest)."))
        choices = [(str(n), str(n)) for n in SCALE]
    elif q.type == QuestionType.NUMBER:
        lines.append(number_hint(q, t))
    if not q.required:
        lines.append(t("(Optional: send /skip to leave it out.)"))
    if q.id in answers:
        lines.append(t("Your current answer: {answer}", answer=display(q, answers[q.id], t)))
    return Prompt("\n".join(lines), choices)


def number_hint(q: Question, t: Translator) -> str:
    if q.min is not None and q.max is not None:
        return t("Send a number from {min} to {max}.", min=f"{q.min:g}", max=f"{q.max:g}")
    if q.min is not None:
        return t("Send a number, at least {min}.", min=f"{q.min:g}")
    if q.max is not None:
        return t("Send a number, at most {max}.", max=f"{q.max:g}")
    return t("Send a number.")


class Invalid(Exception):
    """The typed answer does not fit the question; the message says why."""


NUMBER_RE = re.compile(r"^-?\d+(?:[.,]\d+)?$")


def read_typed(q: Question, text: str, t: Translator) -> Any:
    """A typed answer to the current question, or Invalid with a message in the user's words."""
    stripped = text.strip().rstrip(".")
    if q.type == QuestionType.SINGLE:
        value = _option_of(q, stripped)
        if value is None:
            raise Invalid(
                t("Please pick one of the options: a number from 1 to {n}.", n=len(q.options))
            )
        return value
    if q.type == QuestionType.MULTI:
        parts = [p for p in re.split(r"[,;\s]+", stripped) if p]
        values = [_option_of(q, p) for p in parts] if parts else []
        if not values or any(v is None for v in values):
            label = _option_of(q, stripped)  # a whole label typed, spaces and all
            if label is not None:
                return [label]
            raise Invalid(
                t(
                    "Please send the numbers of the options that apply, from 1 to {n}, for example: 1, 3",
                    n=len(q.options),
                )
            )
        return list(dict.fromkeys(v for v in values if v is not None))
    if q.type == QuestionType.SCALE:
        if not stripped.isdecimal() or int(stripped) not in SCALE:
            raise Invalid(t("Please send a whole number from 1 to 5."))
        return int(stripped)
    if q.type == QuestionType.NUMBER:
        if not NUMBER_RE.match(stripped):
            raise Invalid(number_hint(q, t))
        number = float(stripped.replace(",", "."))
        if (q.min is not None and number < q.min) or (q.max is not None and number > q.max):
            raise Invalid(number_hint(q, t))
        return int(number) if number.is_integer() else number
    if not text.strip():
        raise Invalid(t("Please type your answer."))
    if len(text) > q.max_length:
        raise Invalid(
            t(
                "Your answer is {length} characters long; the limit is {max}. Please shorten it and send it again.",
                length=len(text),
                max=q.max_length,
            )
        )
    return text.strip()


def read_button(q: Question, value: str) -> Any:
    """A button's value for this question, or None when it is not one of its options."""
    if q.type == QuestionType.SCALE:
        return int(value) if value.isdecimal() and int(value) in SCALE else None
    if q.type in (QuestionType.SINGLE, QuestionType.MULTI):
        return value if q.option(value) is not None else None
    return None


def _option_of(q: Question, typed: str) -> str | None:
    if typed.isdecimal():
        n = int(typed)
        return q.options[n - 1].value if 1 <= n <= len(q.options) else None
    folded = fold(typed)
    for o in q.options:
        if folded and (folded == o.value or any(folded == fold(x) for x in o.text.values())):
            return o.value
    return None
