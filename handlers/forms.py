"""Forms and categories are data (YAML), validated when loaded.

A broken file stops start-up with one message that names the file and the field, instead of
failing later in the middle of somebody's report.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handlers.text import fold

DATA_DIR = Path(__file__).with_name("data")


class FormError(Exception):
    """A form or category file is invalid."""


class StepType(StrEnum):
    CHOICE = "choice"
    TEXT = "text"
    UNIT = "unit"
    MEDIA = "media"


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=32)
    label: str  # a gettext msgid
    summary: str = ""  # msgid shown in the review; defaults to the label


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Ids and codes travel in button payloads, which Telegram caps at 64 bytes.
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)
    type: StepType
    prompt: str  # a gettext msgid; may use {min} and {max}
    label: str = ""  # short msgid for the review and the edit menu
    optional: bool = False
    options: list[Option] = []
    source: str | None = None  # "categories": options come from the category file
    min_length: int = 1
    max_length: int = 4000
    max_items: int = 10
    must_be: str | None = None  # a choice that must be picked to go on (consent)
    refusal: str = ""  # msgid said when must_be is not picked
    suggest_profile_name: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Step:
        if self.type == StepType.CHOICE and not (self.options or self.source):
            raise ValueError(f"choice step {self.id!r} needs options or a source")
        if self.source not in (None, "categories"):
            raise ValueError(f"step {self.id!r}: unknown source {self.source!r}")
        if self.min_length > self.max_length:
            raise ValueError(f"step {self.id!r}: min_length is above max_length")
        if self.must_be and self.must_be not in {o.value for o in self.options}:
            raise ValueError(f"step {self.id!r}: must_be {self.must_be!r} is not an option")
        return self


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    steps: list[Step]
    review: bool = False
    on_complete: str  # "register" | "submit_report"

    @model_validator(mode="after")
    def _unique_steps(self) -> Form:
        ids = [s.id for s in self.steps]
        if len(ids) != len(set(ids)):
            raise ValueError("step ids must be unique")
        if not ids:
            raise ValueError("a form needs at least one step")
        if self.on_complete not in ("register", "submit_report"):
            raise ValueError(f"unknown on_complete {self.on_complete!r}")
        return self

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def index(self, step_id: str) -> int:
        return [s.id for s in self.steps].index(step_id)


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)
    name: dict[str, str]
    due_hours: dict[str, int] = {}  # per urgency; overrides the file's `deadlines`

    def label(self, locale: str) -> str:
        return self.name.get(locale) or self.name.get("vi") or next(iter(self.name.values()))


class Catalog(BaseModel):
    """Everything organisation-specific the flows read: forms, categories and word aliases."""

    forms: dict[str, Form]
    categories: list[Category]
    aliases: dict[str, str] = {}  # folded word -> command
    deadlines: dict[str, int] = {"normal": 168, "hot": 24}  # hours, per urgency

    def due_hours(self, category: str, urgency: str) -> int:
        """The default deadline: the category's own for this urgency, else the global one."""
        cat = self.category(category)
        if cat is not None and urgency in cat.due_hours:
            return cat.due_hours[urgency]
        return self.deadlines.get(urgency, self.deadlines.get("normal", 168))

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FormError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise FormError(f"{path}: not valid YAML ({exc})") from None


def _explain(path: Path, exc: ValidationError) -> FormError:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return FormError(f"{path}: {where}: {err['msg']}")


def load_catalog(data_dir: Path | None = None) -> Catalog:
    """Load forms/*.yaml and categories.yaml; a file in `data_dir` overrides the built-in one."""
    dirs = [DATA_DIR] if data_dir is None else [Path(data_dir), DATA_DIR]

    def find(name: str) -> Path:
        for d in dirs:
            if (d / name).exists():
                return d / name
        raise FormError(f"{name}: not found in {', '.join(str(d) for d in dirs)}")

    cat_path = find("categories.yaml")
    raw = _read_yaml(cat_path)
    try:
        categories = [Category.model_validate(c) for c in (raw or {}).get("categories", [])]
    except ValidationError as exc:
        raise _explain(cat_path, exc) from None
    if not categories:
        raise FormError(f"{cat_path}: no categories defined")
    forms: dict[str, Form] = {}
    for form_id in ("onboarding", "report"):
        path = find(f"forms/{form_id}.yaml")
        try:
            form = Form.model_validate(_read_yaml(path))
        except ValidationError as exc:
            raise _explain(path, exc) from None
        forms[form.id] = form
    deadlines = (raw or {}).get("deadlines") or {"normal": 168, "hot": 24}
    if not isinstance(deadlines, dict) or not all(
        isinstance(v, int) and v > 0 for v in deadlines.values()
    ):
        raise FormError(f"{cat_path}: deadlines must map urgency to a positive number of hours")
    aliases = _load_aliases(find("aliases.yaml"))
    return Catalog(forms=forms, categories=categories, deadlines=deadlines, aliases=aliases)


ALIAS_COMMANDS = ("report", "my", "cancel", "back", "skip", "help", "lang")


def _load_aliases(path: Path) -> dict[str, str]:
    raw = _read_yaml(path)
    table = (raw or {}).get("aliases") if isinstance(raw, dict) else None
    if not isinstance(table, dict):
        raise FormError(f"{path}: expected an `aliases:` mapping of command to a list of words")
    out: dict[str, str] = {}
    for command, words in table.items():
        if command not in ALIAS_COMMANDS:
            raise FormError(
                f"{path}: unknown command {command!r}; known: {', '.join(ALIAS_COMMANDS)}"
            )
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise FormError(f"{path}: {command}: expected a list of words")
        for word in words:
            out[fold(word)] = command
    return out
