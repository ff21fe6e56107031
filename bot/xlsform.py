"""XLSForm spreadsheets (the Kobo / ODK standard: `survey`, `choices`, `settings` sheets) to our
poll definitions and back.

pyxform reads the workbook and interprets the standard (type and header aliases, translated
columns, yes/no spellings); we then map the small part of it a chat poll can ask, and refuse
everything else by sheet and row, listing every problem, so a form is imported whole or not at
all. Our own fields (audience, schedule, anonymity, kind, …) are extra `settings` columns named
by their path in the YAML file (`schedule.cron`, `audience.roles`).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from pydantic import ValidationError
from pyxform import aliases
from pyxform.errors import PyXFormError
from pyxform.xls2json import workbook_to_json
from pyxform.xls2json_backends import DefinitionData, get_xlsform

from handlers.polldefs import (
    Condition,
    LocalText,
    PollDef,
    PollDefError,
    Question,
    QuestionType,
)

LANGUAGES = {"vi": "Vietnamese (vi)", "en": "English (en)"}
# Our fields, as `settings` columns; lists are written space-separated in one cell.
SETTINGS_COLUMNS = (
    "kind",
    "anonymous",
    "audience.roles",
    "audience.units",
    "audience.unit_kinds",
    "schedule.once",
    "schedule.cron",
    "schedule.window_hours",
    "schedule.open_day",
    "schedule.due_day",
    "schedule.open_time",
    "schedule.due_time",
    "reminders_hours",
    "escalation.secretary_after_hours",
    "escalation.staff_after_hours",
    "case.question",
    "case.category",
    "case.urgency",
    "free_text_shown",
)
LIST_COLUMNS = {"audience.roles", "audience.units", "audience.unit_kinds", "reminders_hours"}
# Standard settings we read (title, id) or that carry nothing for us (Kobo writes a version).
STANDARD_SETTINGS = {"title", "id_string", "version", "default_language", "intro"}
# Timestamps Kobo adds to every new form; they ask nothing, so they are dropped, not refused.
NEEDS_VI = f"a Vietnamese text is needed (a plain column, or ::{LANGUAGES['vi']})"
IGNORED_TYPES = {"start", "end", "today"}
SCALE_PARAMETERS = {"start": "1", "end": "5", "step": "1"}  # our scale questions are 1 to 5
TYPES = {
    "select one": QuestionType.SINGLE,
    "select all that apply": QuestionType.MULTI,
    "integer": QuestionType.NUMBER,
    "decimal": QuestionType.NUMBER,
    "range": QuestionType.SCALE,
    "text": QuestionType.TEXT,
}
QUESTION_KEYS = {"type", "name", "label", "bind", "choices", "itemset", "list_name", "parameters"}
BIND_NAMES = {  # pyxform's bind attributes, by the column name a form author wrote
    "jr:constraintMsg": "constraint_message",
    "jr:requiredMsg": "required_message",
    "calculate": "calculation",
    "readonly": "read_only",
}


SHEETS = ["", "settings", "survey", "choices"]  # the order problems are listed in


@dataclass(frozen=True)
class FormProblem:
    """One reason a form is refused; `row` is the spreadsheet's row number (1 is the header)."""

    sheet: str  # "survey", "choices", "settings", or "" for the whole file
    row: int | None
    reason: str

    def __str__(self) -> str:
        where = self.sheet or "file"
        return f"{where} row {self.row}: {self.reason}" if self.row else f"{where}: {self.reason}"


class XLSFormError(PollDefError):
    """The form is refused; nothing of it is imported. The message lists every problem."""

    def __init__(self, source: str, problems: list[FormProblem]) -> None:
        unique = dict.fromkeys(problems)  # two questions may share a list of choices
        self.problems = sorted(unique, key=lambda p: (SHEETS.index(p.sheet), p.row or 0))
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: not imported, {len(self.problems)} problem(s):\n{lines}")


# -- reading ---------------------------------------------------------------------------------------
@dataclass
class _Reading:
    """What we learn while walking one form: the rows to point at and the problems found."""

    survey_rows: dict[str, int]
    choice_rows: dict[tuple[str, str], int]
    problems: list[FormProblem] = field(default_factory=list)
    questions: dict[str, Question] = field(default_factory=dict)  # the valid ones, in order
    refused: set[str] = field(default_factory=set)  # questions with a problem listed
    row_of: dict[str, int] = field(default_factory=dict)  # question id -> survey row

    def refuse(self, sheet: str, row: int | None, reason: str) -> None:
        self.problems.append(FormProblem(sheet, row, reason))


def read_xlsform(data: bytes, source: str) -> PollDef:
    """An XLSForm workbook's bytes as a poll definition, or XLSFormError listing every problem."""
    raw, form = _parse(data, source)
    reading = _Reading(_survey_rows(raw), _choice_rows(raw))
    top = _read_settings(form, raw, reading)
    for child in form.get("children", []):
        _read_element(child, reading)
    if not reading.questions and not reading.problems:
        reading.refuse("survey", None, "the form has no question")
    try:
        defn = PollDef.model_validate({**top, "questions": list(reading.questions.values())})
    except ValidationError as exc:
        _poll_problems(exc, reading)
        defn = None
    if reading.problems or defn is None:
        raise XLSFormError(source, reading.problems)
    return defn


def _parse(data: bytes, source: str) -> tuple[DefinitionData, dict[str, Any]]:
    """pyxform's reading of the workbook: the raw rows (for row numbers) and the form."""
    try:
        raw = get_xlsform(data, file_type=".xlsx")
        return raw, workbook_to_json(raw, warnings=[])
    except PyXFormError as exc:
        raise XLSFormError(source, [_pyxform_problem(str(exc))]) from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        # pyxform assumes a well-formed sheet in places; an odd one must still be refused.
        raise XLSFormError(source, [FormProblem("", None, f"unreadable form ({exc})")]) from None


def _pyxform_problem(message: str) -> FormProblem:
    found = re.match(r"\s*\[row\s*:\s*(\d+)\]\s*(.*)", message, re.S)
    sheet = re.search(r"'(survey|choices|settings)' sheet", message)
    if found is None:
        return FormProblem(sheet.group(1) if sheet else "", None, message.strip())
    return FormProblem(sheet.group(1) if sheet else "survey", int(found[1]), found[2].strip())


def _survey_rows(raw: DefinitionData) -> dict[str, int]:
    rows: dict[str, int] = {}
    for n, row in enumerate(raw.survey or [], start=2):
        if row.get("name"):
            rows.setdefault(str(row["name"]), n)
    return rows


def _choice_rows(raw: DefinitionData) -> dict[tuple[str, str], int]:
    rows: dict[tuple[str, str], int] = {}
    for n, row in enumerate(raw.choices or [], start=2):
        list_name = row.get("list_name") or row.get("list name")
        name = row.get("name") or row.get("value")
        if list_name and name:
            rows.setdefault((str(list_name), str(name)), n)
    return rows


def _texts(value: Any, reading: _Reading, sheet: str, row: int | None, what: str) -> LocalText:
    """pyxform's label (a string, or a dict by language name) as our {locale: text}. A missing
    Vietnamese text is refused by the definition's own validation."""
    if value is None:
        value = {}
    if isinstance(value, str):
        value = {"default": value}
    texts: LocalText = {}
    for language, text in value.items():
        code = _language_code(language)
        if code is None:
            reading.refuse(sheet, row, f"{what}: language {language!r} is not supported (vi, en)")
        elif str(text).strip():
            texts[code] = str(text)
    return texts


def _language_code(language: str) -> str | None:
    if language == "default":  # a plain `label` column, with no default_language set
        return "vi"
    found = re.search(r"\((\w+)\)\s*$", language)
    code = found[1] if found else language.strip()
    return code if code in LANGUAGES else None


def _read_settings(form: dict[str, Any], raw: DefinitionData, reading: _Reading) -> dict[str, Any]:
    """The definition's top level from the settings sheet, our columns included."""
    # The columns given a value: pyxform defaults an empty title to the id, for one.
    columns = {c.split("::")[0] for c in (raw.settings or [{}])[0]}
    top: dict[str, Any] = {"id": form.get("id_string")}
    for column in sorted(columns):
        name = aliases.settings_header.get(column, column)
        if name not in STANDARD_SETTINGS and name not in SETTINGS_COLUMNS:
            reading.refuse("settings", 2, f"column {column!r} is not supported")
    if not columns & {"form_id", "id_string", "set_form_id"}:
        reading.refuse(
            "settings", None, "form_id is needed: the poll's id, such as opinion-monthly"
        )
    if not columns & {"form_title", "title", "set_form_title"}:
        reading.refuse("settings", None, "form_title is needed: the poll's title in Vietnamese")
    else:
        top["title"] = _texts(form.get("title"), reading, "settings", 2, "form_title")
        if not top["title"].get("vi", "").strip():
            reading.refuse("settings", 2, f"form_title: {NEEDS_VI}")
    if "intro" in form:
        top["intro"] = _texts(form["intro"], reading, "settings", 2, "intro")
    for column in SETTINGS_COLUMNS:
        if column in form:
            value = str(form[column])
            _put(top, column, value.replace(",", " ").split() if column in LIST_COLUMNS else value)
    return top


def _put(top: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        top = top.setdefault(part, {})
    top[last] = value


def _read_element(child: dict[str, Any], reading: _Reading) -> None:
    kind, name = str(child.get("type", "")), str(child.get("name", ""))
    row = reading.survey_rows.get(name)
    if kind == "group" and name == "meta" and child.get("control", {}).get("bodyless"):
        return  # pyxform's own metadata group (instanceID), added to every form
    if kind in ("group", "repeat"):
        reading.refuse(
            "survey", row, f"{name}: {kind}s are not supported; put the questions at the top level"
        )
        for inner in child.get("children", []):
            _read_element(inner, reading)
        return
    if kind in IGNORED_TYPES:
        return
    if kind not in TYPES:
        reading.refuse(
            "survey",
            row,
            f"{name}: type {kind!r} is not supported (select_one, select_multiple, integer, decimal, text, range)",
        )
        return
    raw = _read_question(child, TYPES[kind], row, reading)
    try:
        question = Question.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            reading.problems.append(_question_problem(err, raw, child, row, reading))
        reading.refused.add(name)
        return
    reading.questions[question.id] = question
    reading.row_of[question.id] = row or 0


def _read_question(
    child: dict[str, Any], qtype: QuestionType, row: int | None, reading: _Reading
) -> dict[str, Any]:
    name = str(child.get("name", ""))
    bind = child.get("bind", {})
    for key in sorted(set(child) - QUESTION_KEYS - {"control"}):
        reading.refuse("survey", row, f"{name}: {key!r} is not supported")
    for key in sorted(set(bind) - {"required", "relevant", "constraint"}):
        reading.refuse("survey", row, f"{name}: {BIND_NAMES.get(key, key)!r} is not supported")
    raw: dict[str, Any] = {
        "id": name,
        "type": qtype,
        "text": _texts(child.get("label"), reading, "survey", row, "label"),
        "required": _required(bind.get("required"), name, row, reading),
    }
    _read_parameters(child, qtype, name, row, reading)
    if "constraint" in bind:
        raw.update(_constraint(str(bind["constraint"]), qtype, name, row, reading))
    if "relevant" in bind:
        raw["when"] = _relevant(str(bind["relevant"]), name, row, reading)
    if qtype in (QuestionType.SINGLE, QuestionType.MULTI):
        raw["options"] = _options(child, reading)
    return raw


def _required(value: Any, name: str, row: int | None, reading: _Reading) -> bool:
    if value is None:
        return False  # the standard's default; our YAML's default (required) does not apply
    answer = aliases.yes_no.get(str(value).strip())
    if answer is None:
        reading.refuse("survey", row, f"{name}: required must be yes or no, not {value!r}")
    return bool(answer)


def _read_parameters(
    child: dict[str, Any], qtype: QuestionType, name: str, row: int | None, reading: _Reading
) -> None:
    given = child.get("parameters") or {}
    # pyxform splits `parameters` into a dict only for the types that take some.
    parameters = {k: str(v) for k, v in given.items()} if isinstance(given, dict) else {"": given}
    control = child.get("control") or {}
    if qtype == QuestionType.SCALE:
        if parameters != SCALE_PARAMETERS:
            reading.refuse(
                "survey",
                row,
                f"{name}: a range must be parameters start=1 end=5 step=1 (our 1 to 5 scale)",
            )
        control = {k: v for k, v in control.items() if k not in SCALE_PARAMETERS}
    elif parameters:
        reading.refuse("survey", row, f"{name}: parameters are not supported for this type")
    for key in sorted(control):
        reading.refuse("survey", row, f"{name}: {key!r} is not supported")


_NUMBER = r"(-?\d+(?:\.\d+)?)"
_BOUND = re.compile(rf"\.\s*(>=|<=)\s*{_NUMBER}")
_LENGTH = re.compile(r"string-length\(\s*\.\s*\)\s*<=\s*(\d+)")


def _constraint(
    text: str, qtype: QuestionType, name: str, row: int | None, reading: _Reading
) -> dict[str, Any]:
    """`. >= 0 and . <= 100` on numbers (min, max); `string-length(.) <= 500` on texts."""
    if qtype == QuestionType.TEXT and (found := _LENGTH.fullmatch(text.strip())):
        return {"max_length": int(found[1])}
    if qtype == QuestionType.NUMBER and (bounds := _bounds(text)) is not None:
        return bounds
    usage = {
        QuestionType.NUMBER: "only `. >= MIN and . <= MAX` is supported",
        QuestionType.TEXT: "only `string-length(.) <= N` is supported",
    }.get(qtype, "constraints are supported on integer, decimal and text only")
    reading.refuse("survey", row, f"{name}: constraint {text!r}: {usage}")
    return {}


def _bounds(text: str) -> dict[str, float] | None:
    bounds: dict[str, float] = {}
    for term in re.split(r"\s+and\s+", text.strip()):
        found = _BOUND.fullmatch(term.strip())
        if found is None:
            return None
        key = "min" if found[1] == ">=" else "max"
        if key in bounds:
            return None
        bounds[key] = float(found[2])
    return bounds


_VALUE = r"""(?:'([^']*)'|"([^"]*)")"""
_EQUALS = re.compile(rf"\$\{{(\w+)\}}\s*=\s*{_VALUE}")
_SELECTED = re.compile(rf"selected\(\s*\$\{{(\w+)\}}\s*,\s*{_VALUE}\s*\)")
_RELEVANT_USAGE = (
    "use ${q} = 'x' or selected(${q}, 'x'), or several of them on one question joined by `or`"
)


def _relevant(text: str, name: str, row: int | None, reading: _Reading) -> Condition | None:
    """`${q} = 'x'`, `selected(${q}, 'x')`, or several joined by `or` on the same question."""
    terms = _relevant_terms(text)
    if terms is None or len({target for target, _, _ in terms}) != 1:
        reading.refuse(
            "survey", row, f"{name}: relevant {text!r} is not supported; {_RELEVANT_USAGE}"
        )
        return None
    target = terms[0][0]
    earlier = reading.questions.get(target)
    if earlier is None and target in reading.refused:
        return None  # that question's own problem is listed
    if earlier is None:
        reading.refuse(
            "survey",
            row,
            f"{name}: relevant refers to ${{{target}}}, which is not an earlier question",
        )
        return None
    if earlier.type == QuestionType.MULTI and any(op == "=" for _, _, op in terms):
        reading.refuse(
            "survey",
            row,
            f"{name}: relevant on a select_multiple needs selected(${{{target}}}, 'x')",
        )
    values = [value for _, value, _ in terms]
    for value in values:
        if earlier.options and earlier.option(value) is None:
            reading.refuse(
                "survey", row, f"{name}: relevant: {value!r} is not a choice of ${{{target}}}"
            )
    return Condition(question=target, equals=values[0] if len(values) == 1 else values)


def _relevant_terms(text: str) -> list[tuple[str, str, str]] | None:
    """(question, value, "=" or "selected") for each term, or None if one is not understood."""
    terms = []
    for part in re.split(r"\s+or\s+", text.strip()):
        op, found = "=", _EQUALS.fullmatch(part.strip())
        if found is None:
            op, found = "selected", _SELECTED.fullmatch(part.strip())
        if found is None:
            return None
        terms.append((found[1], found[2] if found[2] is not None else found[3], op))
    return terms


def _options(child: dict[str, Any], reading: _Reading) -> list[dict[str, Any]]:
    list_name = str(child.get("list_name") or "")
    options = []
    for choice in child.get("choices") or []:
        value = str(choice.get("name", ""))
        row = reading.choice_rows.get((list_name, value))
        for key in sorted(set(choice) - {"name", "label"}):
            reading.refuse("choices", row, f"{list_name} {value}: {key!r} is not supported")
        text = _texts(choice.get("label"), reading, "choices", row, "label")
        options.append({"value": value, "text": text})
    return options


def _question_problem(
    err: Any, raw: dict[str, Any], child: dict[str, Any], row: int | None, reading: _Reading
) -> FormProblem:
    """A pydantic error on one question, pointed at its survey or choices row, said plainly."""
    loc, name = err["loc"], raw["id"]
    if loc[:1] == ("options",) and len(loc) > 2 and isinstance(loc[1], int):
        list_name, value = str(child.get("list_name") or ""), raw["options"][loc[1]]["value"]
        choice_row = reading.choice_rows.get((list_name, value))
        if loc[2] == "value":
            reason = "a choice name must be lower-case letters, digits, - or _, at most 16 characters (it travels in buttons)"
        elif loc[2] == "text":
            reason = f"label: {NEEDS_VI}"
        else:
            reason = _plain(err["msg"])
        return FormProblem("choices", choice_row, f"{list_name} {value!r}: {reason}")
    if loc == ("id",):
        reason = (
            "must start with a lower-case letter, then letters, digits or _, at most 16 characters"
        )
        return FormProblem("survey", row, f"name {name!r} {reason}")
    if loc == ("text",):
        return FormProblem("survey", row, f"{name}: label: {NEEDS_VI}")
    where = ".".join(str(p) for p in loc)
    return FormProblem(
        "survey", row, f"{name}: {where + ': ' if where else ''}{_plain(err['msg'])}"
    )


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")


def _poll_problems(exc: ValidationError, reading: _Reading) -> None:
    """Errors on the whole definition: our settings columns, or a rule across questions."""
    rows = list(reading.row_of.values())
    for err in exc.errors():
        loc, reason = err["loc"], _plain(err["msg"])
        if loc[:1] == ("questions",) and len(loc) > 1 and isinstance(loc[1], int):
            reading.refuse("survey", rows[loc[1]], reason)
        elif loc:
            column = {"title": "form_title", "id": "form_id"}.get(str(loc[0]), "")
            column = column or ".".join(str(p) for p in loc if not isinstance(p, int))
            reading.refuse("settings", 2, f"{column}: {reason}")
        elif not (reading.problems and "question" in reason):
            # A rule across questions (case.question, `when`) also fails when a question it
            # names was refused above: that problem is already listed.
            reading.refuse("settings" if "question" not in reason else "survey", None, reason)


# -- writing ---------------------------------------------------------------------------------------
SURVEY_HEADER = ["type", "name", "label", "label::English (en)", "required", "relevant"]
SURVEY_HEADER += ["constraint", "parameters"]
CHOICES_HEADER = ["list_name", "name", "label", "label::English (en)"]


def write_xlsform(defn: PollDef) -> bytes:
    """The definition as an XLSForm workbook that `read_xlsform` reads back to an equal one.
    Plain `label` columns are Vietnamese (settings: default_language)."""
    book = Workbook()
    survey = book.active
    assert survey is not None  # a new workbook has one sheet
    survey.title = "survey"
    _append(survey, SURVEY_HEADER)
    choices = book.create_sheet("choices")
    _append(choices, CHOICES_HEADER)
    for q in defn.questions:
        _append(survey, _question_row(q, defn))
        for option in q.options:
            _append(choices, [q.id, option.value, *_label_cells(option.text)])
    header, values = _settings_row(defn)
    settings = book.create_sheet("settings")
    _append(settings, header)
    _append(settings, values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _append(sheet: Any, values: list[Any]) -> None:
    """A row whose texts stay texts: openpyxl would store one starting with "=" as a formula."""
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def _label_cells(text: LocalText) -> list[str | None]:
    return [text.get("vi"), text.get("en")]


def _question_row(q: Question, defn: PollDef) -> list[Any]:
    kind = {
        QuestionType.SINGLE: f"select_one {q.id}",
        QuestionType.MULTI: f"select_multiple {q.id}",
        QuestionType.NUMBER: "decimal",
        QuestionType.SCALE: "range",
        QuestionType.TEXT: "text",
    }[q.type]
    constraint = None
    if q.type == QuestionType.NUMBER:
        bounds = [f". >= {q.min:g}" if q.min is not None else None]
        bounds.append(f". <= {q.max:g}" if q.max is not None else None)
        constraint = " and ".join(b for b in bounds if b) or None
    elif (
        q.type == QuestionType.TEXT and q.max_length != Question.model_fields["max_length"].default
    ):
        constraint = f"string-length(.) <= {q.max_length}"
    parameters = None
    if q.type == QuestionType.SCALE:
        parameters = " ".join(f"{k}={v}" for k, v in SCALE_PARAMETERS.items())
    relevant = _relevant_text(q.when, defn) if q.when else None
    required = "yes" if q.required else "no"
    return [kind, q.id, *_label_cells(q.text), required, relevant, constraint, parameters]


def _relevant_text(when: Condition, defn: PollDef) -> str:
    target = defn.question(when.question)
    multi = target is not None and target.type == QuestionType.MULTI
    quoted = [f'"{v}"' if "'" in v else f"'{v}'" for v in when.values()]
    ref = f"${{{when.question}}}"
    terms = [f"selected({ref}, {v})" if multi else f"{ref} = {v}" for v in quoted]
    return " or ".join(terms)


def _settings_row(defn: PollDef) -> tuple[list[str], list[Any]]:
    """Standard columns, then ours for every field that differs from its default."""
    cells: dict[str, Any] = {
        "form_id": defn.id,
        "form_title": defn.title.get("vi"),
        "form_title::English (en)": defn.title.get("en"),
        "default_language": LANGUAGES["vi"],
    }
    if defn.intro:
        cells["intro"] = defn.intro.get("vi")
        cells["intro::English (en)"] = defn.intro.get("en")
    data = defn.model_dump(mode="json", exclude_defaults=True)
    cells["kind"] = defn.kind
    for column in SETTINGS_COLUMNS:
        value: Any = data
        for part in column.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, list):
            value = " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        if value is not None and column != "kind":
            cells[column] = value
    cells = {k: v for k, v in cells.items() if v is not None}
    return list(cells), list(cells.values())
