"""The scoreboard where leaders read it: the weekly digest (not the daily), the dashboard as a
phone-readable table, and the monthly DOCX, in Vietnamese and English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import select

from reports.monthly import build_monthly_report
from reports.scoreboard import collect_scoreboard, digest_lines
from scheduler.digest import daily_digest, weekly_digest
from storage import admin
from storage.models import OrgUnit
from tests.admin_web import admin_browser
from tests.test_admin_cases import signed_in
from tests.test_monthly import sections
from tests.test_scoreboard import TZ, S, U, seed


class Recorder:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def deliver(self, chat_id: str, payload: dict) -> str | None:
        if payload.get("text"):
            self.texts.append(payload["text"])
        return None


async def test_the_weekly_digest_carries_the_scoreboard_and_the_daily_stays_short(core):
    names = await seed(core)
    recorder = Recorder()
    core.senders["web"] = recorder
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "leaders", "web", "leaders-room")
    with time_machine.travel(U, tick=False):  # Monday 07:00 local: the week [S, U)
        assert await weekly_digest(core) == 1
        assert await daily_digest(core) == 1
        await core.delivery.run_once()
    weekly = next(x for x in recorder.texts if x.startswith("📋 Tổng hợp tuần"))
    daily = next(x for x in recorder.texts if x.startswith("📋 Bản tin"))
    assert "📊 Ai xử lý đúng hạn, so với kỳ trước:" in weekly
    line = next(x for x in weekly.splitlines() if x.startswith(f"• {names['BTC']} · "))
    assert "Số vụ việc tiếp nhận: 4 (→ không đổi so với kỳ trước)" in line
    assert "Giải quyết đúng hạn: 33% (↓ giảm so với 67%)" in line
    assert "Người phản ánh đánh giá: 3.7/5 (3 lượt)" in line
    ubkt = next(x for x in weekly.splitlines() if x.startswith(f"• {names['UBKT']} · "))
    assert "Giải quyết đúng hạn: 1 trên 1" in ubkt  # too few for a rate
    assert "📊" not in daily
    # Newly overdue as the nudges count it: PA-0003 waits for its reporter, so it is on time.
    overdue = weekly.split("⏰ Mới quá hạn:", 1)[1].split("\n\n", 1)[0]
    assert "PA-0004" in overdue and "PA-0003" not in overdue
    async with core.sessions() as session:
        board = await collect_scoreboard(session, S, U, TZ, now=U)
    english = "\n".join(digest_lines(core.translations("en"), board))
    assert "Resolved on time: 33% (↓ down from 67%)" in english


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_the_dashboard_shows_the_scoreboard_as_a_labelled_table(core, lang):
    names = await seed(core)
    t = core.translations(lang)
    with time_machine.travel(U + timedelta(hours=1), tick=True):
        async with admin_browser(core) as browser:
            await signed_in(core, browser, "staff", "7001")
            await browser.post("/admin/lang", {"lang": lang, "next": "/admin/"})
            page = await browser.get("/admin/")
    assert page.status == 200
    html = page.text
    assert t("Who is on time this month") in html
    assert 'id="scoreboard-departments"' in html and names["BTC"] in html
    # On a phone each row becomes a card; every figure keeps its label.
    assert f'data-label="{t("Resolved on time")}"' in html
    assert t("{part} of {whole}", part=1, whole=1) in html  # UBKT: a count, not a rate
    assert 'id="scoreboard-units"' in html and "Chi bộ Văn phòng Tỉnh ủy" in html
    units = html.split('id="scoreboard-units"', 1)[1].split("</details>", 1)[0]
    assert "Chi bộ Văn phòng UBND tỉnh" not in units  # quiet: counted, not listed
    quiet = t(
        "{count} other units: no reports filed, no situation report late or missing", count=999
    )
    assert quiet.split("999")[1] in units
    # Overdue as the nudges count it: PA-0004 is, PA-0003 waits for its reporter and is not.
    overdue = html.split('id="overdue"', 1)[1].split("</section>", 1)[0]
    assert "PA-0004" in overdue and "PA-0003" not in overdue


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_the_monthly_docx_has_the_scoreboard(core, lang):
    names = await seed(core)
    t = core.translations(lang)
    async with core.sessions() as session:
        every_unit = (await session.execute(select(OrgUnit.name))).scalars().all()
    with time_machine.travel(datetime(2026, 12, 2, 3, 0, tzinfo=UTC), tick=False):
        _title, tables, text = sections(await build_monthly_report(core, "2026-11", lang))
    rows = {r[0]: r for r in tables[t("Who is on time")]}
    # November: eight of its cases; 3 of 6 resolved on time (case 1 thanks to the pause);
    # acknowledged in 1, 3, 1, 2, 1, 1, 1, 1 h; resolved in 59, 28, 150, 20, 38, 40 h.
    assert rows[names["BTC"]][1:] == [
        "8",
        "2",
        "1",
        "50%",
        t("{hours} h", hours="1.0"),
        t("{hours} h", hours="39.0"),
        "1",
        t("{mean}/5 ({count})", mean="3.7", count=3),
    ]
    units = {r[0]: r for r in tables[t("Units: reports, situation reports and polls")]}
    up_from_none = t("↑ up from {before}", before=0)
    assert units["Chi bộ Văn phòng Tỉnh ủy"][1] == f"7 ({up_from_none})"
    assert units["Đảng bộ Ban Tổ chức Tỉnh ủy"][1] == f"3 ({up_from_none})"  # 1 anonymous of 3
    # Only the units that need attention get a row; a quiet one is counted in one line.
    quiet = "Chi bộ Văn phòng UBND tỉnh"
    assert quiet in every_unit and quiet not in units
    order = [r[0] for r in tables[t("Units: reports, situation reports and polls")][1:]]
    assert order == [  # the units with reports, most first
        "Chi bộ Văn phòng Tỉnh ủy",
        "Đảng bộ Ban Tổ chức Tỉnh ủy",
        "Chi bộ Ban Tuyên giáo Tỉnh ủy",
    ]
    line = t(
        "{count} other units: no reports filed, no situation report late or missing",
        count=len(every_unit) - 3,
    )
    assert line in text
