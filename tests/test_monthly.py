"""The monthly report: generated for a seeded month on both databases, read back with
python-docx, and checked against a hand count of the seed, in Vietnamese and English."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from docx import Document
from docx.table import Table
from docx.text.paragraph import Paragraph
from sqlalchemy import select

from reports.monthly import build_monthly_report
from storage.models import OrgUnit, Person, Report
from tests.cli import run_cli

H = timedelta(hours=1)
# Local time is UTC+7: these are the month's edges as the committee sees them.
OCT_START = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # 1 Oct 00:00 local
NOV_START = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)  # 1 Nov 00:00 local

# code, category, urgency, unit, created, acknowledged after, resolved after, due, status
SEED = [
    ("workplace", "normal", "U001", OCT_START + 0.5 * H, None, None, None, "new"),
    ("workplace", "hot", "U070", OCT_START + 100 * H, 2, 26, None, "resolved"),
    ("discipline", "normal", "U050", OCT_START + 220 * H, 4, None, None, "acknowledged"),
    ("security", "hot", "U100", OCT_START + 460 * H, 1, None, OCT_START + 580 * H, "acknowledged"),
    ("ideology", "normal", "U030", NOV_START - 0.5 * H, None, None, None, "new"),
    ("workplace", "normal", "U090", OCT_START - 0.5 * H, None, None, None, "new"),  # September
    ("policy", "hot", "U010", NOV_START + 0.2 * H, None, None, None, "new"),  # November
]


async def seed(core) -> None:
    async with core.sessions() as session, session.begin():
        units = {u.code: u.id for u in (await session.execute(select(OrgUnit))).scalars()}
        person = Person(display_name="Nguyễn Văn Kín Tên", role="member")
        session.add(person)
        await session.flush()
        for i, (cat, urgency, unit, created, ack, resolved, due, status) in enumerate(SEED, 1):
            session.add(
                Report(
                    id=i,
                    code=f"PA-{i:04d}",
                    person_id=person.id,
                    category=cat,
                    urgency=urgency,
                    unit_id=units[unit],
                    description="Nội dung có tên Nguyễn Văn Kín Tên",
                    anonymity="anonymous" if i % 2 else "named",
                    channel="telegram",
                    status=status,
                    created_at=created,
                    acknowledged_at=created + ack * H if ack else None,
                    resolved_at=created + resolved * H if resolved else None,
                    due_at=due,
                )
            )


def sections(document: bytes) -> tuple[str, dict[str, list[list[str]]], str]:
    """The title, each heading's table as rows of cell texts, and all the text."""
    doc = Document(io.BytesIO(document))
    title, heading, tables, text = "", "", {}, []
    for block in doc.iter_inner_content():
        if isinstance(block, Paragraph):
            text.append(block.text)
            if block.style.name == "Title":
                title = block.text
            elif block.style.name.startswith("Heading"):
                heading = block.text
        elif isinstance(block, Table):
            rows = [[cell.text for cell in row.cells] for row in block.rows]
            tables[heading] = rows
            text += [" ".join(r) for r in rows]
    assert len(doc.inline_shapes) == 2  # the daily chart and the breakdown chart
    return title, tables, "\n".join(text)


EXPECTED = {
    "vi": {
        "title": "Báo cáo tháng 10/2026",
        "totals": [
            ["Phản ánh tiếp nhận", "5"],
            ["trong đó tin nóng", "2"],
            ["Đã giải quyết trong tháng", "1"],
            ["Đang mở", "6"],
            ["Thời gian tiếp nhận (trung vị)", "2,0 giờ"],
            ["Thời gian giải quyết (trung vị)", "26,0 giờ"],
        ],
        "security": ["An ninh, trật tự, an toàn", "1", "20,0%"],
        "kinds": [
            ["Doanh nghiệp ngoài khu vực nhà nước", "1", "20,0%"],
            ["Doanh nghiệp nhà nước (Nhà nước nắm giữ trên 50% vốn điều lệ)", "1", "20,0%"],
        ],
        "shares": {80: "80,0%", 60: "60,0%"},
        "hot": [
            [
                "PA-0002",
                "Việc làm, thu nhập, đời sống người lao động",
                "Đảng bộ Ngân hàng Nông nghiệp và PTNT Chi nhánh tỉnh",
                "Đã giải quyết",
            ],
            [
                "PA-0004",
                "An ninh, trật tự, an toàn",
                "Chi bộ Công ty CP Bê tông Ly tâm",
                "Đã tiếp nhận",
            ],
        ],
        "no_polls": "Chưa có kết quả thăm dò ý kiến nào trong tháng.",
    },
    "en": {
        "title": "Monthly report, October 2026",
        "totals": [
            ["Reports received", "5"],
            ["of which hot", "2"],
            ["Resolved during the month", "1"],
            ["Open now", "6"],
            ["Median time to acknowledge", "2.0 h"],
            ["Median time to resolve", "26.0 h"],
        ],
        "security": ["Security, order and safety", "1", "20.0%"],
        "kinds": [
            ["Private enterprise", "1", "20.0%"],
            [
                "State enterprise (the state holds over 50 percent of the charter capital)",
                "1",
                "20.0%",
            ],
        ],
        "shares": {80: "80.0%", 60: "60.0%"},
        "hot": [
            [
                "PA-0002",
                "Jobs, income and workers' livelihoods",
                "Đảng bộ Ngân hàng Nông nghiệp và PTNT Chi nhánh tỉnh",
                "Resolved",
            ],
            [
                "PA-0004",
                "Security, order and safety",
                "Chi bộ Công ty CP Bê tông Ly tâm",
                "Acknowledged",
            ],
        ],
        "no_polls": "No poll results for this month.",
    },
}


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_the_monthly_report_has_the_hand_counted_figures(pg_or_sqlite_core, lang):
    core = pg_or_sqlite_core
    await seed(core)
    t = core.translations(lang)
    expected = EXPECTED[lang]
    with time_machine.travel(NOV_START + 24 * H, tick=False):  # made on 2 November
        title, tables, text = sections(await build_monthly_report(core, "2026-10", lang))
    assert title == expected["title"]
    assert tables[t("Totals")][1:] == expected["totals"]
    by_category = tables[t("By category")]
    # Workplace (2, one anonymous), discipline and ideology (1 anonymous each) are small groups
    # of hidden reports: merged into "Other"; security's one named report is shown as it is.
    other = t("Other (small groups)")
    assert by_category[1:] == [expected["security"], [other, "4", expected["shares"][80]]]
    by_kind = tables[t("By kind of unit")]
    assert by_kind[1:] == [*expected["kinds"], [other, "3", expected["shares"][60]]]
    assert "“" in text and "3" in text  # the note saying why "Other" is there
    assert tables[t("Hot issues")][1:] == expected["hot"]  # PA-0007 is November's
    assert [row[0] for row in tables[t("Overdue cases")][1:]] == ["PA-0004"]
    assert expected["no_polls"] in text  # the polls hook returns nothing yet
    # September's and November's reports are not counted; nobody is named anywhere.
    assert "PA-0006" not in text and "PA-0007" not in text
    assert "Kín Tên" not in text


async def test_an_empty_month_still_makes_a_document(pg_or_sqlite_core):
    t = pg_or_sqlite_core.translations("vi")
    title, tables, text = sections(await build_monthly_report(pg_or_sqlite_core, "2026-02"))
    assert title == "Báo cáo tháng 02/2026"
    assert tables[t("Totals")][1] == [t("Reports received"), "0"]
    assert t("None this month.") in text


async def test_the_cli_writes_the_report(tmp_path: Path, core, sqlite_url):
    await seed(core)
    out = tmp_path / "thang-10.docx"
    env = {"DATABASE_URL": sqlite_url, "ATTACHMENTS_DIR": str(tmp_path / "att")}
    said = await run_cli(
        ["report", "monthly", "--month", "2026-10", "--lang", "en", "--out", str(out)], **env
    )
    assert "thang-10.docx" in said
    title, tables, _ = sections(out.read_bytes())
    assert title == "Monthly report, October 2026"
    assert tables["Totals"][1] == ["Reports received", "5"]
    said = await run_cli(
        ["report", "monthly", "--month", "October", "--out", str(out)], expect=1, **env
    )
    assert "--month must look like 2026-11" in said


async def test_this_months_report_lists_as_overdue_only_cases_already_due(core):
    """Made mid-month, the report must not call a case due next week overdue (the dashboard
    does not either)."""
    now = datetime(2026, 12, 15, 3, 0, tzinfo=UTC)  # 15 Dec, 10:00 in Hanoi
    async with core.sessions() as session, session.begin():
        for i, due in enumerate((now - 24 * H, now + 7 * 24 * H), 1):
            session.add(
                Report(
                    code=f"PA-{i:04d}",
                    category="workplace",
                    urgency="normal",
                    description="x",
                    anonymity="named",
                    channel="telegram",
                    status="assigned",
                    created_at=now - 10 * 24 * H,
                    due_at=due,
                )
            )
    with time_machine.travel(now, tick=False):
        _, tables, _ = sections(await build_monthly_report(core, "2026-12", "en"))
    assert [row[0] for row in tables["Overdue cases"][1:]] == ["PA-0001"]


async def test_the_report_is_a4_in_times_new_roman_with_page_numbers_and_its_date(core):
    from docx.oxml.ns import qn

    with time_machine.travel(datetime(2026, 11, 2, 2, 0, tzinfo=UTC), tick=False):
        document = await build_monthly_report(core, "2026-10", "vi")
    doc = Document(io.BytesIO(document))
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    fonts = list(doc.styles.element.iter(qn("w:rFonts")))
    assert fonts and all(f.get(qn("w:ascii")) == "Times New Roman" for f in fonts)
    assert not any(k.endswith("Theme") or k.endswith("theme") for f in fonts for k in f.attrib)
    assert doc.styles.element.find(qn("w:docDefaults")).find(f".//{qn('w:rFonts')}") is not None
    assert 'w:instr="PAGE"' in section.footer._element.xml
    # The letterhead of a committee's report (Hướng dẫn 36-HD/VPTW), then the title in capitals.
    left, right = ([p.text for p in cell.paragraphs] for cell in doc.tables[0].rows[0].cells)
    assert left == [
        "ĐẢNG BỘ TỈNH …",
        "ĐẢNG ỦY KHỐI CÁC CƠ QUAN VÀ DOANH NGHIỆP TỈNH",
        "*",
        "Số       -BC/ĐUK",
    ]
    assert right == ["ĐẢNG CỘNG SẢN VIỆT NAM", "…, ngày 02 tháng 11 năm 2026"]
    title = next(p for p in doc.paragraphs if p.style.name == "Title")
    assert title.text == "Báo cáo tháng 10/2026" and title.style.font.all_caps


def test_the_letterhead_names_the_configured_committee():
    from bot.config import Settings
    from reports.monthly import Letterhead

    settings = Settings(
        committee_parent="ĐẢNG BỘ TỈNH BẾN TRE", committee_place="Bến Tre", committee_short=""
    )
    head = Letterhead.of(settings)
    assert (head.parent, head.place) == ("ĐẢNG BỘ TỈNH BẾN TRE", "Bến Tre")
    assert (head.committee, head.short) == (Letterhead().committee, "ĐUK")  # unset: defaults
