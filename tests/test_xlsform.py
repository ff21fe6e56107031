"""XLSForm import and export: `grassroots poll import FORM.xlsx` and `poll export`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from openpyxl import Workbook

from bot.xlsform import SETTINGS_COLUMNS, XLSFormError, read_xlsform, write_xlsform
from handlers.polldefs import Condition, PollDef, QuestionType, load_poll_file
from tests.cli import run_cli
from tests.polls_helpers import POLLS

SURVEY = ["type", "name", "label::Vietnamese (vi)", "label::English (en)", "required"]
SURVEY += ["relevant", "constraint", "hint", "calculation", "parameters"]
CHOICES = ["list_name", "name", "label::Vietnamese (vi)", "label::English (en)"]


def workbook(
    survey: list[list[Any]],
    choices: list[list[Any]],
    settings: dict[str, Any],
    survey_header: list[str] = SURVEY,
) -> bytes:
    """An XLSForm workbook as a survey team writes it; rows shorter than the header are padded."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "survey"
    for row in [survey_header, *survey]:
        sheet.append(row)
    sheet = book.create_sheet("choices")
    for row in [CHOICES, *choices]:
        sheet.append(row)
    sheet = book.create_sheet("settings")
    sheet.append(list(settings))
    sheet.append(list(settings.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# Shaped like the ODK / Kobo examples: metadata rows first, lists on the choices sheet, both
# languages, skip logic with relevant, a constrained integer, free text.
OPINION_SURVEY = [
    ["start", "start"],
    ["end", "end"],
    ["select_one mood", "mood", "Tư tưởng chung của cán bộ, đảng viên?", "General mood?", "yes"],
    ["select_one yes_no", "issues", "Có vấn đề được quan tâm không?", "Any issues?", "yes"],
    [
        "select_multiple topics",
        "topics",
        "Vấn đề nào? (chọn nhiều)",
        "Which ones?",
        "yes",
        "${issues} = 'yes'",
    ],
    [
        "integer",
        "workers",
        "Số người lao động bị ảnh hưởng",
        "Workers affected",
        "no",
        "selected(${topics}, 'wages')",
        ". >= 0 and . <= 5000",
    ],
    ["text", "detail", "Mô tả ngắn gọn", "Describe briefly", "", "", "string-length(.) <= 500"],
]
OPINION_CHOICES = [
    ["mood", "stable", "Ổn định", "Stable"],
    ["mood", "worried", "Lo lắng", "Worried"],
    ["yes_no", "yes", "Có", "Yes"],
    ["yes_no", "no", "Không", "No"],
    ["topics", "wages", "Tiền lương chậm trả", "Late wages"],
    ["topics", "prices", "Giá cả", "Prices"],
    ["topics", "reform", "Sắp xếp bộ máy", "Restructuring"],
]
OPINION_SETTINGS = {
    "form_title": "Khảo sát dư luận tháng",
    "form_title::English (en)": "Monthly opinion survey",
    "form_id": "opinion-xls",
    "version": "2026110101",
    "kind": "poll",
    "anonymous": "yes",
    "audience.roles": "collaborator",
    "audience.unit_kinds": "agency, state_enterprise_majority",
    "schedule.cron": "0 8 25 * *",
    "schedule.window_hours": 72,
    "reminders_hours": "48 4",
}


def test_an_odk_shaped_vietnamese_poll_is_read_whole() -> None:
    defn = read_xlsform(workbook(OPINION_SURVEY, OPINION_CHOICES, OPINION_SETTINGS), "f.xlsx")
    assert defn.id == "opinion-xls" and defn.kind == "poll" and defn.anonymous
    assert defn.title == {"vi": "Khảo sát dư luận tháng", "en": "Monthly opinion survey"}
    assert defn.audience.unit_kinds == ["agency", "state_enterprise_majority"]
    assert defn.schedule.cron == "0 8 25 * *" and defn.reminders_hours == [48, 4]
    assert [q.id for q in defn.questions] == ["mood", "issues", "topics", "workers", "detail"]
    mood, _, topics, workers, detail = defn.questions
    assert mood.type == QuestionType.SINGLE and mood.required
    assert mood.option("worried") is not None and mood.options[1].text["en"] == "Worried"
    assert topics.type == QuestionType.MULTI
    assert topics.when == Condition(question="issues", equals="yes")
    assert workers.type == QuestionType.NUMBER and (workers.min, workers.max) == (0, 5000)
    assert workers.when == Condition(question="topics", equals="wages") and not workers.required
    assert detail.type == QuestionType.TEXT and detail.max_length == 500 and not detail.required


def test_plain_label_columns_are_vietnamese() -> None:
    header = ["type", "name", "label", "required"]
    survey = [["select_one yn", "hot", "Có nóng không?", "yes"], ["range", "sc", "Thang điểm"]]
    survey[1] += ["", "start=1 end=5 step=1"]
    data = workbook(
        survey,
        [["yn", "yes", "Có"], ["yn", "no", "Không"]],
        {"form_title": "Thử", "form_id": "plain", "schedule.once": "2026-12-01T08:00:00"},
        survey_header=[*header, "parameters"],
    )
    defn = read_xlsform(data, "plain.xlsx")
    assert defn.questions[0].text == {"vi": "Có nóng không?"}
    assert defn.questions[1].type == QuestionType.SCALE


BAD_SURVEY = [
    ["select_one yn", "hot", "Nóng?", "Hot?", "yes"],  # row 2: fine
    ["begin_group", "grp", "Nhóm"],  # row 3
    ["text", "inner", "Trong nhóm"],  # row 4: fine, but inside the group
    ["end_group"],  # row 5
    ["calculate", "total", "", "", "", "", "", "", "1 + 1"],  # row 6
    ["text", "why", "Vì sao?", "", "", "${hot} = 'yes' and ${hot} != 'no'"],  # row 7
    ["integer", "count", "", "How many?"],  # row 8: no Vietnamese label
    ["decimal", "share", "Tỉ lệ", "", "", "", ". > 0"],  # row 9
    ["text", "note1", "Ghi chú", "", "", "", "", "gợi ý"],  # row 10: a hint
    ["select_one bad", "pick", "Chọn", "Pick"],  # row 11
    ["geopoint", "where", "Ở đâu"],  # row 12
    ["select_multiple yn", "multi", "Nhiều"],  # row 13: fine
    ["text", "after", "Sau", "", "", "${multi} = 'yes'"],  # row 14
    ["text", "Bad_Name", "Tên sai"],  # row 15
    ["text", "later", "Sau nữa", "", "", "${count} = '3'"],  # row 16: count was refused
]
BAD_CHOICES = [
    ["yn", "yes", "Có", "Yes"],
    ["yn", "no", "Không", "No"],
    ["bad", "Way-Too-Long-Choice-Value", "Dài", "Long"],  # row 4
    ["bad", "ok", "", "Only English"],  # row 5
]
BAD_SETTINGS = {"form_title": "Sai", "form_id": "bad-form", "style": "pages"}


def test_every_problem_is_listed_with_its_sheet_and_row() -> None:
    with pytest.raises(XLSFormError) as caught:
        read_xlsform(workbook(BAD_SURVEY, BAD_CHOICES, BAD_SETTINGS), "bad.xlsx")
    text = str(caught.value)
    expected = [
        "survey row 3: grp: groups are not supported",
        "survey row 6: total: type 'calculate' is not supported",
        "survey row 7: why: relevant",
        "survey row 8: count: label: a Vietnamese text is needed",
        "survey row 9: share: constraint '. > 0'",
        "survey row 10: note1: 'hint' is not supported",
        "choices row 4: bad 'Way-Too-Long-Choice-Value': a choice name must be lower-case",
        "choices row 5: bad 'ok': label: a Vietnamese text is needed",
        "survey row 12: where: type 'geopoint' is not supported",
        "survey row 14: after: relevant on a select_multiple needs selected(${multi}, 'x')",
        "survey row 15: name 'Bad_Name' must start with a lower-case letter",
        "settings row 2: column 'style' is not supported",
    ]
    for line in expected:
        assert line in text, f"{line!r} missing from:\n{text}"
    assert "schedule" in text  # a poll needs `once` or `cron`: reported with the rest
    assert "survey row 4:" not in text and "survey row 16:" not in text  # none of their own
    assert text.count("Vietnamese text") == 2  # said once per row


def test_settings_columns_cover_every_poll_field() -> None:
    """Every field of a definition has a home in the spreadsheet, so export loses nothing."""
    ours = {c.split(".")[0] for c in SETTINGS_COLUMNS} | {"id", "title", "intro", "questions"}
    assert ours == set(PollDef.model_fields)


@pytest.mark.parametrize("path", sorted(POLLS.glob("*.yaml")), ids=lambda p: p.stem)
def test_round_trip_keeps_every_shipped_definition(path: Path) -> None:
    defn = load_poll_file(path)
    assert read_xlsform(write_xlsform(defn), "x.xlsx") == defn


def test_round_trip_keeps_formula_like_texts_and_conditions_on_several_values() -> None:
    yn = [{"value": "yes", "text": {"vi": "Có"}}, {"value": "no", "text": {"vi": "Không"}}]
    defn = PollDef.model_validate(
        {
            "id": "odd",
            "title": {"vi": "=1+2 không phải công thức", "en": "@not a formula"},
            "intro": {"vi": "Giới thiệu"},
            "schedule": {"once": "2026-12-01T08:00:00"},
            "questions": [
                {"id": "pick", "type": "multi", "text": {"vi": "Chọn"}, "options": yn},
                {"id": "say", "type": "text", "text": {"vi": "Nói"}, "required": False},
                {"id": "why", "type": "text", "text": {"vi": "Vì sao"}, "max_length": 40}
                | {"when": {"question": "pick", "equals": ["yes", "no"]}},
                {"id": "more", "type": "number", "text": {"vi": "Bao nhiêu"}, "min": -1.5}
                | {"when": {"question": "say", "equals": "it's"}},
            ],
        }
    )
    assert read_xlsform(write_xlsform(defn), "odd.xlsx") == defn


def test_an_empty_title_or_id_cell_is_refused() -> None:
    survey = [["text", "a", "Câu hỏi"]]
    settings = {"form_title": None, "form_id": "x", "schedule.cron": "0 8 * * *"}
    with pytest.raises(XLSFormError, match="form_title is needed"):
        read_xlsform(workbook(survey, [], settings), "t.xlsx")
    settings = {"form_title": "Tiêu đề", "form_id": None, "schedule.cron": "0 8 * * *"}
    with pytest.raises(XLSFormError, match="form_id is needed"):
        read_xlsform(workbook(survey, [], settings), "t.xlsx")


def test_not_a_workbook_is_refused() -> None:
    with pytest.raises(XLSFormError) as caught:
        read_xlsform(b"id: yaml, not a workbook", "wrong.xlsx")
    assert caught.value.problems and "wrong.xlsx: not imported" in str(caught.value)


async def test_import_through_the_cli_refuses_whole_and_round_trips(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(workbook(BAD_SURVEY, BAD_CHOICES, BAD_SETTINGS))
    out = await run_cli(["poll", "import", str(bad)], expect=1, **env)
    assert "survey row 6: total: type 'calculate' is not supported" in out
    assert "choices row 4:" in out and "settings row 2:" in out
    form = tmp_path / "form.xlsx"
    form.write_bytes(workbook(OPINION_SURVEY, OPINION_CHOICES, OPINION_SETTINGS))
    assert "opinion-xls: created (version 1)" in await run_cli(["poll", "import", str(form)], **env)
    out = await run_cli(["poll", "list"], **env)
    assert "opinion-xls  poll  version 1" in out and "bad-form" not in out  # nothing of bad.xlsx

    exported = tmp_path / "out.xlsx"
    out = await run_cli(
        ["poll", "export", "opinion-xls", "--format", "xlsform", "--out", str(exported)], **env
    )
    assert f"Wrote {exported}." in out
    original = read_xlsform(form.read_bytes(), "form.xlsx")
    assert read_xlsform(exported.read_bytes(), "out.xlsx") == original
    out = await run_cli(["poll", "import", str(exported)], **env)
    assert "opinion-xls: unchanged" in out  # what is stored is exactly what was exported


TOKENS = ["yes", "no", "a", "b", "yn", "Có", "start=1 end=5 step=1", "0 8 25 * *"]
TOKENS += [
    "2026-12-01T08:00:00",
    "${a} = 'yes'",
    "selected(${a}, 'no')",
    "${b} = 'x' or ${b} = 'y'",
]
TOKENS += [". >= 0 and . <= 10", ". <= 3", "string-length(.) <= 5", "select_one yn", "text"]
TYPES = ["select_one yn", "select_multiple yn", "select_one nope", "integer", "decimal", "text"]
TYPES += ["text", "integer", "range", "note", "begin_group", "end_group", "calculate", "start"]
anything = st.one_of(
    st.none(),
    st.sampled_from(TOKENS),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=12),
    st.integers(-5, 5000),
)


def column(*likely: Any, wild: bool) -> st.SearchStrategy[Any]:
    """A value that fits the column; in a wild form, sometimes anything."""
    fits = st.sampled_from(likely)
    return st.one_of(fits, fits, fits, anything) if wild else fits


def survey_rows(wild: bool) -> st.SearchStrategy[list[list[Any]]]:
    row = st.tuples(
        column(*TYPES, wild=wild),
        column("a", "b", "c", "d", wild=wild),
        column("Câu hỏi", "Ý kiến", wild=wild),
        column(None, "Question", wild=wild),
        column(None, "yes", "no", wild=wild),
        column(None, None, "${a} = 'yes'", "selected(${b}, 'no')", wild=wild),
        column(None, None, ". >= 0 and . <= 10", "string-length(.) <= 5", wild=wild),
        column(None, wild=wild),  # hint
        column(None, wild=wild),  # calculation
        column(None, "start=1 end=5 step=1", wild=wild),
    ).map(list)
    if not wild:  # parameters only where they belong
        row = row.map(lambda r: [*r[:9], "start=1 end=5 step=1" if r[0] == "range" else None])
    return st.lists(
        row, min_size=0 if wild else 1, max_size=6, unique_by=None if wild else (lambda r: r[1])
    )


def choice_rows(wild: bool) -> st.SearchStrategy[list[list[Any]]]:
    row = st.tuples(
        column("yn", "other", wild=wild),
        column("maybe", "x", wild=wild),
        column("Có lẽ", wild=wild),
        column(None, "Maybe", wild=wild),
    )
    return st.lists(row.map(list), max_size=2, unique_by=None if wild else (lambda r: r[1]))


def forms(wild: bool) -> st.SearchStrategy[tuple[Any, ...]]:
    settings = st.fixed_dictionaries(
        {
            "form_title": column("Thử", wild=wild),
            "form_id": column("fuzz", wild=wild),
            "schedule.cron": column("0 8 * * *", wild=wild),
        },
        optional={c: anything for c in ("kind", "anonymous", "schedule.once", "x")} if wild else {},
    )
    return st.tuples(survey_rows(wild), choice_rows(wild), settings)


@given(form=st.one_of(forms(wild=False), forms(wild=True)))
def test_random_spreadsheets_are_imported_or_refused_by_row(form: tuple[Any, ...]) -> None:
    survey, choices, settings = form
    choices = [["yn", "yes", "Có"], ["yn", "no", "Không"], *choices]
    try:
        defn = read_xlsform(workbook(survey, choices, settings), "fuzz.xlsx")
    except XLSFormError as exc:
        event("refused")
        assert exc.problems
        for problem in exc.problems:
            assert problem.sheet in ("", "survey", "choices", "settings") and problem.reason
            assert problem.row is None or problem.row >= 1
            assert str(problem).startswith(problem.sheet or "file")
    else:
        event("imported")
        assert read_xlsform(write_xlsform(defn), "again.xlsx") == defn
