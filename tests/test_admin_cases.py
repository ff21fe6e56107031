"""The admin's cases: list and filters, keyset pages, the detail page, actions through the case
machine (with the reporter notified), anonymity, reveal, attachments and who may see what."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from handlers.ports import PersonView
from storage.models import (
    Attachment,
    Department,
    OrgUnit,
    OutboxMessage,
    Person,
    Report,
    RevealLog,
)
from storage.store import SqlStore
from tests.admin_web import AdminBrowser, admin_browser
from tests.test_casework_actions import Recorder
from tests.test_casework_rules import person, reporter_with_case

CODES = re.compile(r'href="/admin/cases/(PA-\d+)"')


async def submit_reports(core, count: int, **answers: str) -> None:
    """Reports straight through the store, as a chat submission writes them."""
    async with core.sessions() as session, session.begin():
        store = SqlStore(session)
        row = Person(display_name="Đinh Thị Lan", role="member")
        session.add(row)
        await session.flush()
        assert row.id is not None
        someone = PersonView(row.id, row.display_name, "member", "U007", "vi")
        for i in range(count):
            values = {
                "unit": "U007",
                "category": "workplace",
                "urgency": "normal",
                "description": f"Báo cáo số {i}",
                "anonymity": "anonymous",
                **answers,
            }
            await store.submit_report(someone, values, "web", "vi")


async def signed_in(core, browser: AdminBrowser, role: str, user: str, **kw) -> None:
    chat = await person(core, user, role, **kw)
    page = await browser.sign_in_with_link(chat)
    assert page.status == 303, page.text
    await browser.get("/admin/cases")  # the session's own CSRF token from now on
    assert (await browser.post("/admin/lang", {"lang": "en", "next": "/admin/"})).status == 303


def codes(page) -> list[str]:
    return list(dict.fromkeys(CODES.findall(page.text)))


async def test_staff_acknowledge_on_the_web_and_the_reporter_hears_of_it(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    recorder = Recorder()
    core.senders["web"] = recorder
    reporter = await reporter_with_case(core, anonymity=3)
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        page = await browser.get("/admin/cases/PA-0001")
        assert page.status == 200
        assert "Tai nạn lao động" in page.text and "Anonymous" in page.text
        assert "Đinh Thị Lan" not in page.text  # an anonymous reporter is never shown
        assert 'id="act-reveal"' not in page.text
        done = await browser.post("/admin/cases/PA-0001/act", {"action": "ack", "version": "0"})
        assert done.status == 303 and done.headers["Location"] == "/admin/cases/PA-0001?done=ack"
        page = await browser.get("/admin/cases/PA-0001?done=ack")
        assert "Acknowledged" in page.text and "staff 7001" in page.text  # in the timeline
    async with core.sessions() as session:
        report = (await session.execute(select(Report))).scalar_one()
        notices = (
            # The anonymous reporter's notice names their report, not their chat.
            (
                await session.execute(
                    select(OutboxMessage).where(OutboxMessage.chat_id == "report:1")
                )
            )
            .scalars()
            .all()
        )
    assert report.status == "acknowledged" and report.due_at is not None
    assert [n.idempotency_key for n in notices] == ["notice:1:v1"]
    await core.delivery.run_once()
    assert any("PA-0001 đã được cán bộ" in text for text in recorder.texts(reporter.user_id))


async def test_an_out_of_date_form_changes_nothing(core):
    await reporter_with_case(core)
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        await browser.get("/admin/cases/PA-0001")
        first = await browser.post("/admin/cases/PA-0001/act", {"action": "ack", "version": "0"})
        assert first.status == 303
        again = await browser.post(
            "/admin/cases/PA-0001/act",
            {"action": "resolve", "version": "0", "text": "Đã xử lý"},
        )
        assert again.status == 409 and "out of date" in again.text
        empty = await browser.post(
            "/admin/cases/PA-0001/act", {"action": "resolve", "version": "1"}
        )
        assert empty.status == 400 and "Please write a note" in empty.text
    async with core.sessions() as session:
        assert (await session.execute(select(Report.status))).scalar_one() == "acknowledged"


async def test_reject_assign_duplicate_and_due_go_through_the_same_rules(core):
    await reporter_with_case(core)
    await submit_reports(core, 1)
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        await browser.get("/admin/cases/PA-0002")
        page = await browser.post(
            "/admin/cases/PA-0002/act", {"action": "dup", "version": "0", "text": "PA-0002"}
        )
        assert page.status == 400 and "no other case" in page.text
        page = await browser.post(
            "/admin/cases/PA-0002/act", {"action": "dup", "version": "0", "text": "pa-0001"}
        )
        assert page.status == 303
        page = await browser.post(
            "/admin/cases/PA-0001/act", {"action": "assign", "version": "0", "arg": "BTC"}
        )
        assert page.status == 303
        due = {"action": "due", "version": "1", "arg": "type", "reason": "Chờ ý kiến Sở"}
        page = await browser.post("/admin/cases/PA-0001/act", {**due, "text": "31/02/2027"})
        assert page.status == 400 and "dd/mm/yyyy" in page.text
        page = await browser.post(  # a due date is moved with a reason, logged in the history
            "/admin/cases/PA-0001/act", {**due, "text": "05/12/2027 09:30", "reason": " "}
        )
        assert page.status == 400 and "why the due date moves" in page.text
        page = await browser.post("/admin/cases/PA-0001/act", {**due, "text": "05/12/2027 09:30"})
        assert page.status == 303
        assert (
            "05/12/2027 09:30 · Chờ ý kiến Sở" in (await browser.get("/admin/cases/PA-0001")).text
        )
        page = await browser.post(
            "/admin/cases/PA-0001/act",
            {
                "action": "reject",
                "version": "2",
                "text": "Không thuộc thẩm quyền",
                "redirect": "UBND phường",
            },
        )
        assert page.status == 303
        page = await browser.get("/admin/cases/PA-0001")
        assert "please turn to: UBND phường" in page.text and "05/12/2027 09:30" in page.text
    async with core.sessions() as session:
        rows = {r.code: r for r in (await session.execute(select(Report))).scalars()}
    assert rows["PA-0002"].status == "duplicate" and rows["PA-0002"].duplicate_of_id == 1
    assert rows["PA-0001"].status == "rejected"


async def test_leaders_see_cases_but_cannot_act(core):
    await reporter_with_case(core)
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "leader", "7002")
        page = await browser.get("/admin/cases/PA-0001")
        assert page.status == 200 and 'id="actions"' not in page.text
        page = await browser.post("/admin/cases/PA-0001/act", {"action": "ack", "version": "0"})
        assert page.status == 400 and "Only staff may do this" in page.text
        assert (await browser.get("/admin/")).status == 200


async def test_departments_see_only_their_cases(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    await reporter_with_case(core)
    await submit_reports(core, 2)
    async with core.sessions() as session, session.begin():
        btc = (
            await session.execute(select(Department).where(Department.code == "BTC"))
        ).scalar_one()
        await session.execute(
            update(Report).where(Report.code == "PA-0002").values(department_id=btc.id)  # type: ignore[arg-type]
        )
        session.add(Attachment(report_id=3, kind="photo", channel="web", path="2026/11/x.jpg"))
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "handler", "7003", dept="BTC")
        home = await browser.get("/admin/")
        assert home.status == 303 and home.headers["Location"] == "/admin/cases"
        page = await browser.get("/admin/cases")
        assert codes(page) == ["PA-0002"]
        assert (await browser.get("/admin/cases/PA-0001")).status == 403
        assert (await browser.get("/admin/cases/PA-0003/files/1")).status == 403
        assert (await browser.get("/admin/charts/category.png")).status == 403
        csv_text = (await browser.get("/admin/cases/export.csv")).text
        assert "PA-0002" in csv_text and "PA-0001" not in csv_text and "PA-0003" not in csv_text
        page = await browser.get("/admin/cases/PA-0002")
        assert 'id="act-ack"' in page.text and 'id="act-assign"' not in page.text
        page = await browser.post("/admin/cases/PA-0001/act", {"action": "ack", "version": "0"})
        assert page.status == 403


async def test_reveal_only_with_the_permission_and_always_logged(core):
    await reporter_with_case(core, anonymity=2)  # confidential
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        page = await browser.get("/admin/cases/PA-0001")
        assert "Confidential" in page.text and 'id="act-reveal"' not in page.text
        page = await browser.post("/admin/cases/PA-0001/act", {"action": "reveal", "version": "0"})
        assert page.status == 400 and "Đinh Thị Lan" not in page.text
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7005", reveal=True)
        page = await browser.get("/admin/cases/PA-0001")
        assert 'id="act-reveal"' in page.text and "Đinh Thị Lan" not in page.text
        page = await browser.post("/admin/cases/PA-0001/act", {"action": "reveal", "version": "0"})
        assert page.status == 200 and "Đinh Thị Lan" in page.text and "logged" in page.text
        assert "Đinh Thị Lan" not in (await browser.get("/admin/cases/PA-0001")).text
    async with core.sessions() as session:
        logs = (await session.execute(select(RevealLog))).scalars().all()
    assert len(logs) == 1 and logs[0].report_id == 1


async def test_anonymous_reporters_cannot_be_revealed_on_the_web(core):
    await reporter_with_case(core, anonymity=3)
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7005", reveal=True)
        page = await browser.post("/admin/cases/PA-0001/act", {"action": "reveal", "version": "0"})
        assert page.status == 400 and "Nobody can see who sent an anonymous report" in page.text
        assert "Đinh Thị Lan" not in page.text


async def test_named_reporters_are_shown_like_on_the_card(core):
    await reporter_with_case(core, anonymity=1)
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        page = await browser.get("/admin/cases/PA-0001")
        assert "Đinh Thị Lan (@dinhthilan)" in page.text


async def test_filters_and_keyset_pages(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    await submit_reports(core, 120)
    await submit_reports(core, 3, category="security", urgency="hot", description="Mất trộm xe")
    async with core.sessions() as session, session.begin():
        await session.execute(
            update(Report)
            .where(Report.code == "PA-0121")  # type: ignore[arg-type]
            .values(due_at=datetime.now(UTC) - timedelta(hours=1))
        )
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        seen: list[str] = []
        page = await browser.get("/admin/cases")
        while True:
            seen += codes(page)
            older = re.search(r'href="/admin/cases\?([^"]*before=\d+)" id="older"', page.text)
            if not older:
                break
            page = await browser.get("/admin/cases?" + older.group(1).replace("&amp;", "&"))
        assert len(seen) == 123 and len(set(seen)) == 123 and seen[0] == "PA-0123"
        page = await browser.get("/admin/cases?category=security&urgency=hot")
        assert codes(page) == ["PA-0123", "PA-0122", "PA-0121"]
        page = await browser.get("/admin/cases?q=tr%E1%BB%99m+xe&overdue=1")
        assert codes(page) == ["PA-0121"]
        page = await browser.get("/admin/cases?q=pa-0007")
        assert codes(page) == ["PA-0007"]
        page = await browser.get("/admin/cases?status=resolved")
        assert codes(page) == [] and "No cases match" in page.text
        page = await browser.get("/admin/cases?unit=U001")
        assert codes(page) == []
        page = await browser.get("/admin/cases?unit_kind=agency&department=none&category=security")
        assert len(codes(page)) == 3
        page = await browser.get("/admin/cases?unit_kind=private_enterprise")
        assert codes(page) == []
        today = datetime.now(core.settings.tz).date()
        tomorrow = today + timedelta(days=1)
        page = await browser.get(f"/admin/cases?from={tomorrow.isoformat()}")
        assert codes(page) == []
        page = await browser.get(f"/admin/cases?from={today.isoformat()}&to={today.isoformat()}")
        assert len(codes(page)) == 50
        page = await browser.get("/admin/cases?from=31-12-2026&status=bogus&category=security")
        assert page.status == 200 and "could not be read" in page.text
        assert "Unknown status" in page.text and len(codes(page)) == 3


async def test_attachments_are_served_only_for_the_case_and_inside_the_store(core):
    await reporter_with_case(core, anonymity=3)
    folder = core.settings.attachments_dir / "2026" / "11"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("a" * 32 + ".png")).write_bytes(b"\x89PNG fake")
    async with core.sessions() as session, session.begin():
        session.add_all(
            [
                Attachment(
                    report_id=1,
                    kind="photo",
                    channel="web",
                    path=f"2026/11/{'a' * 32}.png",
                    mime="image/png",
                    name="Dinh Thi Lan - anh.png",
                ),
                Attachment(report_id=1, kind="document", channel="web", path="../../etc/passwd"),
            ]
        )
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        page = await browser.get("/admin/cases/PA-0001")
        assert "Dinh Thi Lan" not in page.text  # a hidden reporter's file name is not shown
        async with browser.client.get("/admin/cases/PA-0001/files/1") as resp:
            assert resp.status == 200 and await resp.read() == b"\x89PNG fake"
            assert "Dinh" not in resp.headers["Content-Disposition"]
        assert (await browser.get("/admin/cases/PA-0001/files/2")).status == 404
        assert (await browser.get("/admin/cases/PA-0009/files/1")).status == 404


async def test_markup_in_reports_and_unit_names_is_escaped_everywhere(core):
    attack = "<script>alert(1)</script>"
    async with core.sessions() as session, session.begin():
        await session.execute(
            update(OrgUnit)
            .where(OrgUnit.code == "U007")  # type: ignore[arg-type]
            .values(name='<img src=x onerror="alert(2)">')
        )
    await core.refresh_units()
    await submit_reports(core, 1, description=attack, urgency="hot")
    async with core.sessions() as session, session.begin():
        await session.execute(
            update(Report).values(due_at=datetime.now(UTC) - timedelta(days=1))  # overdue
        )
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        await browser.get("/admin/cases/PA-0001")
        await browser.post(
            "/admin/cases/PA-0001/act", {"action": "ack", "version": "0", "text": attack}
        )
        await browser.post(
            "/admin/cases/PA-0001/act", {"action": "ask", "version": "1", "text": attack}
        )
        for path in (
            "/admin/",
            "/admin/cases",
            "/admin/cases?q=%3Cscript%3E",
            "/admin/cases/PA-0001",
            "/admin/cases?from=%3Cscript%3E",
        ):
            page = await browser.get(path)
            assert page.status == 200, path
            assert "<script>" not in page.text and "<img src=x" not in page.text, path
        page = await browser.get("/admin/cases/PA-0001")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "&lt;img src=x onerror=" in page.text
