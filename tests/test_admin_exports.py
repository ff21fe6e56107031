"""Exports of the filtered case list, and the dashboard's figures and charts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.admin.dashboard import periods
from storage.models import Report
from tests.admin_web import admin_browser
from tests.test_admin_cases import signed_in, submit_reports
from tests.test_casework_rules import reporter_with_case


async def _download(browser, path: str) -> tuple[int, dict[str, str], bytes]:
    async with browser.client.get(path) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_csv_and_xlsx_match_the_database_and_hide_hidden_reporters(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    await submit_reports(core, 1, anonymity="named")  # PA-0001
    await submit_reports(core, 1, anonymity="confidential")  # PA-0002
    await submit_reports(core, 3, description='=HYPERLINK("http://x")')  # anonymous
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        status, headers, body = await _download(browser, "/admin/cases/export.csv")
        assert status == 200 and "attachment" in headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        header, data = rows[0], rows[1:]
        assert header[0] == "Code" and header[-2] == "Reporter"
        by_code = {r[0]: r for r in data}
        assert list(by_code) == ["PA-0005", "PA-0004", "PA-0003", "PA-0002", "PA-0001"]
        assert by_code["PA-0002"][header.index("Reporter")] == "Confidential"
        assert by_code["PA-0003"][header.index("Reporter")] == "Anonymous"
        assert by_code["PA-0003"][-1].startswith("'=HYPERLINK")  # never a formula
        assert by_code["PA-0001"][header.index("Reporter")] == "Đinh Thị Lan"
        assert body.decode("utf-8-sig").count("Đinh Thị Lan") == 1  # the named one only

        status, headers, body = await _download(browser, "/admin/cases/export.xlsx?urgency=normal")
        assert status == 200 and headers["Content-Type"].startswith("application/vnd.openxml")
        sheet = load_workbook(io.BytesIO(body), read_only=True).active
        cells = [[c.value for c in row] for row in sheet.iter_rows()]
        assert cells[0] == header
        async with core.sessions() as session:
            expected = (
                await session.execute(
                    select(Report.code, Report.description)
                    .where(Report.urgency == "normal")
                    .order_by(Report.id.desc())  # type: ignore[union-attr]
                )
            ).all()
        assert [(r[0], r[-1].lstrip("'")) for r in cells[1:]] == [tuple(e) for e in expected]


async def test_named_reporters_are_exported_and_hidden_ones_never(core):
    await reporter_with_case(core, anonymity=3)  # anonymous, by Đinh Thị Lan
    await submit_reports(core, 1, anonymity="named")
    await submit_reports(core, 1, anonymity="confidential")
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        for kind in ("csv", "xlsx"):
            _status, _headers, body = await _download(browser, f"/admin/cases/export.{kind}")
            if kind == "xlsx":
                sheet = load_workbook(io.BytesIO(body), read_only=True).active
                text = "\n".join(str(c.value) for row in sheet.iter_rows() for c in row)
            else:
                text = body.decode("utf-8-sig")
            assert text.count("Đinh Thị Lan") == 1, kind  # PA-0002 (named) only


async def test_exports_need_a_session(core):
    async with admin_browser(core) as browser:
        status, _headers, _body = await _download(browser, "/admin/cases/export.csv")
        assert status == 200  # the sign-in page, after the redirect
        assert b"Code" not in _body


def test_dashboard_periods_follow_the_organisations_time_zone():
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    # Sunday 29/11 18:30 UTC is already Monday 30/11 01:30 in Hà Nội.
    starts = periods(datetime(2026, 11, 29, 18, 30, tzinfo=UTC), tz)
    assert starts["today"] == datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
    assert starts["week"] == starts["today"]  # a Monday
    assert starts["month"] == datetime(2026, 10, 31, 17, 0, tzinfo=UTC)


async def test_dashboard_counts_lists_and_charts(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    await submit_reports(core, 4)
    await submit_reports(core, 2, urgency="hot", category="security")
    async with core.sessions() as session, session.begin():
        await session.execute(
            update(Report)
            .where(Report.code == "PA-0001")  # type: ignore[arg-type]
            .values(due_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        page = await browser.get("/admin/")
        assert page.status == 200
        assert 'id="count-today">6<' in page.text and 'id="count-month">6<' in page.text
        assert "PA-0005" in page.text and "PA-0006" in page.text  # hot
        assert "PA-0001" in page.text  # overdue
        for which in ("category", "unit-kind"):
            status, _headers, body = await _download(browser, f"/admin/charts/{which}.png")
            assert status == 200 and body.startswith(b"\x89PNG")
        status, _headers, _body = await _download(browser, "/admin/charts/other.png")
        assert status == 404
