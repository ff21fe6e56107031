"""Emerging topics in the leaders' digest, and the themes of free-text answers."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from bot.app import build_core, seed_demo
from handlers.ports import PersonView
from reports.digest import build
from reports.topics import themes_of
from storage.models import Person
from storage.store import SqlStore
from tests.conftest import make_settings
from tests.test_digest import GOLDEN

NOW = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)  # 07:30 in Asia/Ho_Chi_Minh
# One matter from four units, written five ways; then other matters, one of them from the same
# units (a different matter must not join the topic).
REPORTS = [
    ("U001", 30, "Công ty may Hòa Thọ chậm trả lương tháng 10 cho công nhân hơn hai tuần."),
    ("U030", 50, "Cty may Hoa Tho cham tra luong thang 10, cong nhan phai vay muon."),
    ("U050", 70, "Công nhân may Hòa Thọ chưa được trả lương tháng 10, quá hạn 2 tuần."),
    ("U070", 90, "Hòa Thọ chậm trả lương T10 cho cn, nhiều người bức xúc."),
    ("U070", 100, "Ở Hòa Thọ vẫn chậm trả lương tháng 10, công nhân rất khó khăn."),
    ("U001", 40, "Quán karaoke đường Âu Cơ hát tới 2 giờ sáng, cả xóm mất ngủ."),
    ("U030", 60, "Đường Nguyễn Lương Bằng gần chợ Hòa Khánh ngập sâu sau mưa."),
    ("U050", 20, "Bệnh viện tỉnh quá tải, ba cháu nằm chung một giường."),
    ("U090", 24 * 9, "Hòa Thọ chậm trả lương tháng 9 cho công nhân."),  # before the week
]


async def seed(core) -> None:
    async with core.sessions() as session, session.begin():
        row = Person(display_name="Đinh Thị Lan", role="member")
        session.add(row)
        await session.flush()
        assert row.id is not None
        someone = PersonView(row.id, row.display_name, "member", "U007", "vi")
        store = SqlStore(session)
        for unit, hours_ago, text in REPORTS:
            with time_machine.travel(NOW - timedelta(hours=hours_ago), tick=False):
                answers = {
                    "unit": unit,
                    "category": "workplace",
                    "urgency": "normal",
                    "description": text,
                    "anonymity": "anonymous",
                }
                await store.submit_report(someone, answers, "telegram", "vi")


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_the_digest_names_a_matter_raised_from_many_units(tmp_path, lang):
    with time_machine.travel(NOW, tick=False):
        core = await build_core(
            make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", default_locale=lang)
        )
        try:
            await seed_demo(core)
            await seed(core)
            text, _chart = await build(core, NOW - timedelta(days=1), NOW)
        finally:
            await core.close()
    path = GOLDEN / f"digest_topics.{lang}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")
    heading = "Nhiều đơn vị cùng phản ánh" if lang == "vi" else "Reported from many units"
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(heading))
    assert "trả lương" in lines[at] and ("5" in lines[at] and "4" in lines[at])
    assert lines[at + 1] == "• PA-0001, PA-0002, PA-0003, PA-0004, PA-0005"
    assert sum(line.startswith(heading) for line in lines) == 1  # nothing else is a topic


def test_free_text_answers_are_grouped_into_named_themes():
    answers = [
        "Giá điện tăng quá cao",
        "gia dien tang cao qua, chi tieu kho khan",
        "Giá điện tăng, lương không đủ sống",
        "Cần sửa đường vào thôn",
        "Đường vào thôn hư hỏng nặng cần sửa",
        "Không có ý kiến",
    ]
    themes = themes_of(answers)
    assert [(th.count) for th in themes] == [3, 2]
    assert "điện" in themes[0].name and "đường" in themes[1].name


THEMED = [
    "Giá điện tăng quá cao",
    "gia dien tang cao qua, chi tieu kho khan",
    "Giá điện tăng, lương không đủ sống",
    "Cần sửa đường vào thôn",
    "Đường vào thôn hư hỏng nặng cần sửa",
    "Không có ý kiến",
]


def test_poll_results_show_the_main_themes_of_free_text_answers():
    from pathlib import Path

    from handlers.polldefs import parse_poll_bytes
    from reports.polls import render_results
    from storage.pollresults import QuestionResult, RoundResults

    source = Path(__file__).resolve().parent.parent / "handlers/data/polls/opinion-monthly.yaml"
    defn = parse_poll_bytes(source.read_bytes(), source.name)
    comment = defn.question("comment")
    assert comment is not None
    question = QuestionResult(
        "comment", comment.type, comment.text, len(THEMED), texts=THEMED[:2], all_texts=THEMED
    )
    results = RoundResults(1, 1, "2026-11", defn, 10, 6, [], [question], min_group_size=2)
    t = build_translator("en")
    text = render_results(t, results, NOW.tzinfo, NOW)  # type: ignore[arg-type]
    lines = text.splitlines()
    at = lines.index("  Main themes:")
    assert lines[at + 1].startswith("  • giá điện tăng") and lines[at + 1].endswith(": 3")
    assert lines[at + 2].endswith(": 2") and "đường" in lines[at + 2]
    # With groups of at least 3 required, the theme of two answers is not published.
    results = RoundResults(1, 1, "2026-11", defn, 10, 6, [], [question], min_group_size=3)
    assert ": 2" not in render_results(t, results, NOW.tzinfo, NOW)  # type: ignore[arg-type]


def build_translator(lang: str):
    from handlers.i18n import Translations  # the catalogs, as the application loads them

    return Translations(lang)(lang)


async def test_the_monthly_document_lists_the_main_themes(core):
    from reports.monthly import build_monthly_report
    from tests.test_monthly import sections

    async with core.sessions() as session, session.begin():
        row = Person(display_name="Đinh Thị Lan", role="member")
        session.add(row)
        await session.flush()
        assert row.id is not None
        someone = PersonView(row.id, row.display_name, "member", "U007", "vi")
        for unit, _hours, text in REPORTS[:5] + REPORTS[5:8]:
            with time_machine.travel(datetime(2026, 10, 10, 3, tzinfo=UTC), tick=False):
                answers = {"unit": unit, "category": "workplace", "urgency": "normal"}
                answers |= {"description": text, "anonymity": "anonymous"}
                await SqlStore(session).submit_report(someone, answers, "web", "vi")
    t = core.translations("vi")
    with time_machine.travel(datetime(2026, 11, 2, 3, tzinfo=UTC), tick=False):
        _title, tables, _text = sections(await build_monthly_report(core, "2026-10", "vi"))
    themes = tables[t("Main themes")]
    assert themes[0] == [t("Theme"), t("From"), t("Count")]
    assert themes[1:] == [["chậm trả lương", t("Reports"), "5"]]


async def test_the_dashboard_links_a_topics_codes_to_their_cases(core):
    from tests.admin_web import admin_browser  # the admin's browser helper, only for this test
    from tests.test_admin_cases import signed_in

    await seed(core)
    with time_machine.travel(NOW, tick=True):
        async with admin_browser(core) as browser:
            await signed_in(core, browser, "staff", "7001")
            page = await browser.get("/admin/")
    assert page.status == 200
    assert 'id="topics"' in page.text and "chậm trả lương (5 reports, 4 units)" in page.text
    for n in range(1, 6):
        assert f'<a href="/admin/cases/PA-000{n}">PA-000{n}</a>' in page.text
