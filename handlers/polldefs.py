"""Poll and situation-report definitions: data (YAML), validated when imported.

Question texts are written in the file in both languages, because polls are written by staff
for one round, not translated through the gettext catalogs like the bot's own wording.
"""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from handlers.forms import Catalog
from handlers.org import ROLES

LocalText = dict[str, str]
SLUG = r"^[a-z0-9][a-z0-9_-]*$"


class PollDefError(Exception):
    """A poll file is invalid; the message names the file and the field."""


def pick(text: LocalText, locale: str) -> str:
    """The text in the reader's language, else Vietnamese, else whatever there is."""
    return text.get(locale) or text.get("vi") or next(iter(text.values()), "")


def _needs_vietnamese(text: LocalText) -> LocalText:
    if not text.get("vi", "").strip():
        raise ValueError("needs a Vietnamese text (vi)")
    return text


class QuestionType(StrEnum):
    SINGLE = "single"
    MULTI = "multi"
    SCALE = "scale"
    NUMBER = "number"
    TEXT = "text"


class PollOption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Short, because it travels in button payloads (64 bytes on Telegram).
    value: str = Field(pattern=SLUG, max_length=16)
    text: LocalText

    _vi = field_validator("text")(_needs_vietnamese)


class Condition(BaseModel):
    """Ask a question only if an earlier one was answered with one of these values."""

    model_config = ConfigDict(extra="forbid")
    question: str
    equals: str | list[str]

    def values(self) -> list[str]:
        return [self.equals] if isinstance(self.equals, str) else list(self.equals)

    def holds(self, answers: dict[str, Any]) -> bool:
        given = answers.get(self.question)
        wanted = set(self.values())
        if isinstance(given, list):
            return bool(wanted & {str(g) for g in given})
        return given is not None and str(given) in wanted


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=16)
    type: QuestionType
    text: LocalText
    options: list[PollOption] = []
    required: bool = True
    when: Condition | None = None
    min: float | None = None  # number questions
    max: float | None = None
    max_length: int = Field(default=2000, ge=1, le=4000)  # text questions

    _vi = field_validator("text")(_needs_vietnamese)

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        choice = self.type in (QuestionType.SINGLE, QuestionType.MULTI)
        if choice and len(self.options) < 2:
            raise ValueError(f"question {self.id!r} needs at least two options")
        if not choice and self.options:
            raise ValueError(f"question {self.id!r}: only single and multi questions have options")
        values = [o.value for o in self.options]
        if len(values) != len(set(values)):
            raise ValueError(f"question {self.id!r}: option values must be unique")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"question {self.id!r}: min is above max")
        return self

    def option(self, value: str) -> PollOption | None:
        return next((o for o in self.options if o.value == value), None)


class Audience(BaseModel):
    """Who is invited: people with these roles, optionally only in some units or unit kinds."""

    model_config = ConfigDict(extra="forbid")
    roles: list[str] = ["collaborator"]
    units: list[str] = []  # unit codes
    unit_kinds: list[str] = []  # host kinds: agency, state_enterprise_majority, ...


class Schedule(BaseModel):
    """A poll opens once (`once`) or on every firing of `cron`, and closes after the window.
    A situation report is monthly: it opens on `open_day` and is due on `due_day`."""

    model_config = ConfigDict(extra="forbid")
    once: datetime | None = None  # local time
    cron: str | None = None  # 5 fields, local time: "0 8 25 * *"
    window_hours: float = Field(default=72, gt=0, le=24 * 60)
    open_day: int = Field(default=20, ge=1, le=28)
    due_day: int = Field(default=28, ge=1, le=31)
    open_time: time = time(8, 0)
    due_time: time = time(17, 0)


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secretary_after_hours: float = 48  # after the due time: the unit's secretary
    staff_after_hours: float = 72  # then the staff chat and the leaders' digest


class CaseRule(BaseModel):
    """A situation report's answer that opens a case: the text of `question`, when filled."""

    model_config = ConfigDict(extra="forbid")
    question: str
    category: str
    urgency: Literal["normal", "hot"] = "hot"


class PollDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=SLUG, max_length=48)
    kind: Literal["poll", "sitrep"] = "poll"
    title: LocalText
    intro: LocalText = {}
    anonymous: bool = False
    audience: Audience = Audience()
    schedule: Schedule = Schedule()
    # Polls: hours before the deadline. Situation reports: hours relative to the due time
    # (negative before it, 0 at it, positive after it).
    reminders_hours: list[float] = [48, 4]
    escalation: Escalation = Escalation()
    case: CaseRule | None = None
    free_text_shown: int = Field(default=5, ge=0, le=50)  # first N free-text answers in results
    questions: list[Question]

    _vi = field_validator("title")(_needs_vietnamese)

    @model_validator(mode="after")
    def _consistent(self) -> PollDef:
        if not self.questions:
            raise ValueError("a poll needs at least one question")
        seen: dict[str, Question] = {}
        for q in self.questions:
            if q.id in seen:
                raise ValueError(f"question id {q.id!r} is used twice")
            if q.when is not None:
                earlier = seen.get(q.when.question)
                if earlier is None:
                    raise ValueError(f"question {q.id!r}: `when` must refer to an earlier question")
                if earlier.options and not all(earlier.option(v) for v in q.when.values()):
                    raise ValueError(f"question {q.id!r}: `when` names an unknown option")
            seen[q.id] = q
        if self.kind == "poll" and (self.schedule.once is None) == (self.schedule.cron is None):
            raise ValueError("schedule: give exactly one of `once` or `cron`")
        if self.kind == "sitrep":
            if self.anonymous:
                raise ValueError("a situation report is filed by a unit, so it cannot be anonymous")
            if self.schedule.due_day < self.schedule.open_day:
                raise ValueError("schedule: due_day must not be before open_day")
        if self.case is not None:
            target = seen.get(self.case.question)
            if target is None or target.type != QuestionType.TEXT:
                raise ValueError("case.question must be the id of a text question")
        return self

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)


def parse_poll(raw: Any, source: str) -> PollDef:
    try:
        return PollDef.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        raise PollDefError(f"{source}: {where}: {err['msg']}") from None


def load_poll_file(path: Path) -> PollDef:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PollDefError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_poll_bytes(data, str(path.name))


def parse_poll_bytes(data: bytes, source: str) -> PollDef:
    """A poll file's contents (from disk or an upload), checked the same way."""
    try:
        raw = yaml.safe_load(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise PollDefError(f"{source}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise PollDefError(f"{source}: not valid YAML ({exc})") from None
    return parse_poll(raw, source)


def check_poll(defn: PollDef, catalog: Catalog, source: str) -> None:
    """What the schema alone cannot know: this organisation's roles and categories. Shared by
    `grassroots poll import` and the admin's poll upload; raises PollDefError."""
    unknown = [r for r in defn.audience.roles if r not in ROLES]
    if unknown:
        raise PollDefError(f"{source}: audience.roles: unknown role {unknown[0]!r}")
    if defn.case is not None and catalog.category(defn.case.category) is None:
        raise PollDefError(f"{source}: case.category: unknown category {defn.case.category!r}")
