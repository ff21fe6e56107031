"""Vietnamese speaks with one voice (docs/style-vi.md): members, collaborators and staff are
"đồng chí"; the public feedback page, whose visitors may not be Party members, says "bạn" and
never "đồng chí"; a string both places show names nobody."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from handlers.forms import load_catalog
from handlers.i18n import LOCALE_DIR
from handlers.org import HOST_KINDS, UNIT_KINDS

ROOT = Path(__file__).resolve().parent.parent
COMRADE = re.compile(r"\bđồng chí\b", re.IGNORECASE)
YOU = re.compile(r"\bbạn\b", re.IGNORECASE)
OTHER_FORMS = re.compile(r"\b(quý vị|anh/chị|anh chị|ông/bà|các bạn)\b", re.IGNORECASE)
FEEDBACK = "bot/feedback/"


@pytest.fixture(scope="module")
def where_used(tmp_path_factory) -> dict[str, set[str]]:
    """Each message id in the code, with the files that show it."""
    pot = tmp_path_factory.mktemp("style") / "located.pot"
    subprocess.run(
        [
            *(sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg"),
            *("-k", "t", "-k", "n:1,2", "-k", "N_", "-o", str(pot), "handlers", "bot", "scheduler"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as fh:
        return {_id(m): {path for path, _ in m.locations} for m in read_po(fh) if m.id}


@pytest.fixture(scope="module")
def vietnamese() -> dict[str, str]:
    with (LOCALE_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="vi")
    return {_id(m): " ".join(_strings(m)) for m in catalog if m.id}


def _id(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def _strings(message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def test_members_and_staff_are_always_dong_chi(where_used, vietnamese):
    wrong = [
        (msgid, vietnamese[msgid])
        for msgid, files in where_used.items()
        if not all(f.startswith(FEEDBACK) for f in files) and YOU.search(vietnamese.get(msgid, ""))
    ]
    assert not wrong, f"chat and admin strings say “bạn” (use “đồng chí”): {wrong}"


def test_the_public_feedback_page_never_says_dong_chi(where_used, vietnamese):
    wrong = [
        (msgid, vietnamese[msgid])
        for msgid, files in where_used.items()
        if any(f.startswith(FEEDBACK) for f in files) and COMRADE.search(vietnamese.get(msgid, ""))
    ]
    assert not wrong, f"the feedback page addresses the public as “đồng chí”: {wrong}"


def test_a_string_shared_by_chat_and_the_feedback_page_names_nobody(where_used, vietnamese):
    shared = [
        msgid
        for msgid, files in where_used.items()
        if any(f.startswith(FEEDBACK) for f in files)
        and not all(f.startswith(FEEDBACK) for f in files)
    ]
    assert shared, "the feedback page shares some strings with the chat"
    wrong = [
        (m, vietnamese[m])
        for m in shared
        if YOU.search(vietnamese[m]) or COMRADE.search(vietnamese[m])
    ]
    assert not wrong, f"a shared string picks one form of address: {wrong}"


def test_no_string_mixes_forms_of_address(vietnamese):
    mixed = [s for s in vietnamese.values() if YOU.search(s) and COMRADE.search(s)]
    assert not mixed, mixed
    other = [s for s in vietnamese.values() if OTHER_FORMS.search(s)]
    assert not other, f"forms of address outside the two of docs/style-vi.md: {other}"


def test_labels_say_what_they_mean(vietnamese):
    kinds = {vietnamese[msgid] for msgid in (*UNIT_KINDS.values(), *HOST_KINDS.values())}
    assert "Doanh nghiệp có vốn nhà nước từ 50% vốn điều lệ trở xuống" in kinds
    assert not any(k.startswith("Doanh nghiệp nhà nước") and "trở xuống" in k for k in kinds)
    assert {"Đảng bộ cơ sở", "Chi bộ cơ sở"} <= kinds
    # The first event of a history says the report arrived, not when.
    assert vietnamese["Report received"] == "Đã tiếp nhận phản ánh"
    labels = [c.label("vi") for c in load_catalog().categories]
    assert all(not YOU.search(label) and not COMRADE.search(label) for label in labels)
    assert "Kỷ luật, kỷ cương; tham nhũng, lãng phí, tiêu cực" in labels
