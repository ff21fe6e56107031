"""Whatever a person types, the parsers of the conversation answer it or refuse it; never raise.

These are the functions every typed message passes through; hypothesis feeds them any Unicode,
including characters Python calls digits but `int()` cannot read (superscripts, circled numbers).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.casedesk import CaseDesk, typed_choice
from handlers.formrunner import FormRunner
from handlers.forms import load_catalog
from handlers.i18n import Translations
from handlers.polldefs import parse_poll
from handlers.pollquestions import Invalid, read_button, read_typed
from handlers.ports import UnitView
from tests.polls_helpers import definition

CATALOG = load_catalog(None)
T = Translations("en")("en")
UNITS = [UnitView(f"U{i:03d}", f"Chi bộ {i}", "cell", "agency") for i in range(1, 30)]
POLL = parse_poll(definition("opinion-monthly"), "opinion-monthly")
# What people type: anything, and numbers in every script and form Unicode knows.
typed = st.one_of(
    st.text(),
    st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=4),
    st.sampled_from(["²", "①", "١", "Ⅻ", " 3 ", "3.", "1, ²", "²/²/²⁰²⁶"]),
)


def _runner() -> FormRunner:
    return FormRunner(CATALOG, T, UNITS, None, "Lan", 4000, has_buttons=False)


@pytest.mark.parametrize("form_id", ["report", "onboarding"])
@given(text=typed)
def test_any_text_at_any_question_is_resolved_and_judged(form_id: str, text: str) -> None:
    form = CATALOG.forms[form_id]
    runner = _runner()
    for step in [*form.steps, None]:
        fs = {"answers": {}, "step": step.id if step else "review", "history": []}
        answer = runner.resolve(form, fs, text)
        runner.handle(form, fs, answer)


@given(text=typed)
def test_any_text_at_any_poll_question_is_read_or_refused(text: str) -> None:
    for question in POLL.questions:
        with contextlib.suppress(Invalid):
            read_typed(question, text, T)
        read_button(question, text)


@given(text=typed)
def test_any_typed_due_date_is_read_or_refused(text: str) -> None:
    CaseDesk(CATALOG, ZoneInfo("Asia/Ho_Chi_Minh")).parse_date(text)


@given(text=typed)
def test_any_text_typed_at_a_staff_choice_is_read_or_refused(text: str) -> None:
    assert typed_choice(text, [("a", "Sở Công Thương"), ("b", "Công an tỉnh")]) in ("a", "b", None)


def test_no_code_reads_numbers_with_isdigit() -> None:
    """`"²".isdigit()` is true but `int("²")` raises: use isdecimal(), which int() always reads."""
    root = Path(__file__).resolve().parent.parent
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for package in ("bot", "handlers", "storage", "scheduler")
        for path in (root / package).rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ".isdigit()" in line
    ]
    assert not offenders, offenders
