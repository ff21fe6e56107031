"""Administration on the web: units and departments by CSV (preview, then confirm), people and
roles, invites, chat bindings, the rules pages, the monthly report and the audit log; who may do
what, CSRF, escaping, and that every change leaves an audit entry and nothing else behind."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import aiohttp
from docx import Document
from sqlalchemy import func, select

from storage.models import AuditEntry, ChatBinding, Department, Invite, OrgUnit, Person
from tests.admin_web import AdminBrowser, Page, admin_browser
from tests.test_admin_cases import signed_in
from tests.test_casework_rules import reporter_with_case

HEADER = "code,name,kind,host_kind,parent_code\n"
# U001 unchanged, U002 renamed, U900 new.
GOOD = (
    HEADER
    + "U001,Chi bộ Văn phòng Tỉnh ủy,cell,agency,\n"
    + "U002,Đảng bộ Ban Tổ chức (mới),party_committee,agency,\n"
    + "U900,Chi bộ Công ty Mới,cell,private_enterprise,U002\n"
)


async def upload(browser: AdminBrowser, path: str, content: bytes, csrf: str | None = None) -> Page:
    form = aiohttp.FormData()
    form.add_field("csrf", browser.csrf if csrf is None else csrf)
    form.add_field("file", content, filename="units.csv", content_type="text/csv")
    async with browser.client.post(path, data=form, allow_redirects=False) as resp:
        page = Page(resp.status, await resp.text(), dict(resp.headers))
    if 'name="csrf"' in page.text:
        browser.csrf = page.csrf
    return page


def hidden_data(page: Page) -> str:
    match = re.search(r'name="data" value="([^"]*)"', page.text)
    assert match, page.text
    return match.group(1)


async def count(core, model, *where) -> int:
    async with core.sessions() as session:
        stmt = select(func.count()).select_from(model).where(*where)
        return int((await session.execute(stmt)).scalar_one())


async def audit_actions(core) -> list[str]:
    async with core.sessions() as session:
        rows = await session.execute(select(AuditEntry.action).order_by(AuditEntry.id))
        return [a for (a,) in rows.all()]


async def unit_name(core, code: str) -> str | None:
    async with core.sessions() as session:
        stmt = select(OrgUnit.name).where(OrgUnit.code == code)
        return (await session.execute(stmt)).scalar_one_or_none()


async def test_unit_import_previews_then_imports_on_confirmation(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    units_before = await count(core, OrgUnit)
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        page = await browser.get("/admin/units")
        assert page.status == 200 and 'id="import-form"' in page.text
        preview = await upload(browser, "/admin/units/preview", GOOD.encode())
        assert preview.status == 200, preview.text
        assert "New: 1 (U900)" in preview.text
        assert "Updated: 1 (U002)" in preview.text
        assert "Unchanged: 1" in preview.text
        # Previewing changed nothing.
        assert await count(core, OrgUnit) == units_before
        assert await unit_name(core, "U002") == "Đảng bộ Ban Tổ chức Tỉnh ủy"
        assert await audit_actions(core) == []

        done = await browser.post("/admin/units/import", {"data": hidden_data(preview)})
        assert done.status == 303
        assert done.headers["Location"] == "/admin/units?created=1&updated=1&unchanged=1"
        page = await browser.get(done.headers["Location"])
        assert "Imported: 1 new, 1 updated, 1 unchanged." in page.text
        assert "Chi bộ Công ty Mới" in page.text
    assert await count(core, OrgUnit) == units_before + 1
    assert await unit_name(core, "U002") == "Đảng bộ Ban Tổ chức (mới)"
    assert any(u.code == "U900" for u in core.engine.units)  # the chat's picker knows it
    async with core.sessions() as session:
        entry = (await session.execute(select(AuditEntry))).scalar_one()
    assert entry.action == "units.import" and entry.actor_name == "admin 7000"
    assert entry.details == {"created": 1, "updated": 1, "unchanged": 1}


async def test_bad_rows_are_named_by_line_and_nothing_is_imported(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    before = await count(core, OrgUnit)
    bad = (
        HEADER
        + "U901,Tốt,cell,agency,\n"
        + "U902,,cell,agency,\n"
        + "U903,Sai loại,planet,agency,\n"
        + "U904,Cha lạ,cell,agency,NOPE\n"
    )
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        preview = await upload(browser, "/admin/units/preview", bad.encode())
        assert preview.status == 400
        assert "Nothing was imported" in preview.text
        assert "line 3: name must be 1-300 characters" in preview.text
        assert "line 4: kind &#39;planet&#39;" in preview.text
        assert "line 5: parent_code &#39;NOPE&#39; is not a known unit" in preview.text
        assert 'id="import-confirm"' not in preview.text
        # A forged confirmation of the same file imports nothing either.
        import base64

        forced = await browser.post(
            "/admin/units/import", {"data": base64.b64encode(bad.encode()).decode()}
        )
        assert forced.status == 400 and "Nothing was imported" in forced.text
    assert await count(core, OrgUnit) == before
    assert await audit_actions(core) == []


async def test_broken_encoding_and_columns_are_refused_with_a_clear_message(core):
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        latin1 = (HEADER + "U950,Chi bộ Đảng,cell,agency,\n").encode("cp1258", errors="replace")
        page = await upload(browser, "/admin/units/preview", latin1 + b"\xff\xfe")
        assert page.status == 400 and "not UTF-8" in page.text
        page = await upload(browser, "/admin/units/preview", b"code;name;kind\nU1;A;cell\n")
        assert page.status == 400 and "missing column" in page.text
        page = await upload(browser, "/admin/units/preview", b"")
        assert page.status == 400 and "Choose a CSV file" in page.text
        page = await upload(browser, "/admin/departments/preview", b"code,name\nX,Y\n")
        assert page.status == 400 and "missing column(s) kind" in page.text
    assert await count(core, OrgUnit, OrgUnit.code == "U950") == 0


async def test_department_import_and_names_are_escaped(core):
    csv = "code,name,kind\nXSS,<script>alert(1)</script>,external\nBTC,Ban Tổ chức Đảng ủy Khối,internal\n"
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        preview = await upload(browser, "/admin/departments/preview", csv.encode())
        assert "New: 1 (XSS)" in preview.text and "Unchanged: 1" in preview.text
        done = await browser.post("/admin/departments/import", {"data": hidden_data(preview)})
        assert done.status == 303
        page = await browser.get("/admin/departments")
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert await count(core, Department, Department.code == "XSS") == 1
    assert await audit_actions(core) == ["departments.import"]


async def test_who_may_see_and_change_the_set_up(core):
    admin_only_gets = ["/admin/invites", "/admin/audit"]
    staff_gets = [
        "/admin/manage",
        "/admin/units",
        "/admin/departments",
        "/admin/people",
        "/admin/bindings",
        "/admin/rules",
    ]
    posts = [
        ("/admin/units/import", {"data": "Y29kZQ=="}),
        ("/admin/departments/import", {"data": "Y29kZQ=="}),
        ("/admin/invites", {"role": "admin", "uses": "5"}),
        ("/admin/bindings", {"role": "staff", "channel": "telegram", "chat_id": "-100"}),
        ("/admin/people/1", {"role": "admin"}),
        ("/admin/invites/1/revoke", {}),
        ("/admin/bindings/1/remove", {}),
    ]
    for role, user in (("staff", "7001"), ("handler", "7002"), ("leader", "7003")):
        async with admin_browser(core) as browser:
            await signed_in(
                core, browser, role, user, **({"dept": "BTC"} if role == "handler" else {})
            )
            for path in admin_only_gets:
                assert (await browser.get(path)).status == 403, (role, path)
            for path in staff_gets:
                expected = 200 if role == "staff" else 403
                assert (await browser.get(path)).status == expected, (role, path)
            for path, data in posts:
                page = await browser.post(path, data)
                assert page.status == 403, (role, path)
                assert "You do not have permission" in page.text
            staff_page = await browser.get("/admin/units")
            if role == "staff":
                assert 'id="import-form"' not in staff_page.text
    assert await audit_actions(core) == []
    async with core.sessions() as session:
        roles = set((await session.execute(select(Person.role))).scalars())
    assert "admin" not in roles  # nobody promoted themselves


async def test_forged_csrf_is_refused_and_changes_nothing(core):
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        invites = await count(core, Invite)
        page = await upload(browser, "/admin/units/preview", GOOD.encode(), csrf="forged" * 5)
        assert page.status == 403 and "Form refused" in page.text
        for path, data in [
            ("/admin/invites", {"role": "member", "uses": "3"}),
            ("/admin/bindings", {"role": "staff", "channel": "telegram", "chat_id": "-1"}),
        ]:
            page = await browser.post(path, data, csrf="x" * 40)
            assert page.status == 403 and "Form refused" in page.text
    assert await count(core, ChatBinding) == 0
    assert await count(core, Invite) == invites
    assert await audit_actions(core) == []


async def test_people_roles_are_changed_and_logged_without_reports(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    await reporter_with_case(core, anonymity=1)  # PA-0001 by Đinh Thị Lan, confidential
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        page = await browser.get("/admin/people?q=Đinh")
        table = page.text.split('id="people"')[1]
        assert page.status == 200 and "Đinh Thị Lan" in table and "admin 7000" not in table
        assert '<td class="opt">web</td>' in table  # the messengers linked
        async with core.sessions() as session:
            lan = (
                await session.execute(select(Person).where(Person.display_name == "Đinh Thị Lan"))
            ).scalar_one()
            me = (
                await session.execute(select(Person).where(Person.display_name == "admin 7000"))
            ).scalar_one()
        page = await browser.get(f"/admin/people/{lan.id}")
        assert page.status == 200 and "PA-0001" not in page.text
        done = await browser.post(
            f"/admin/people/{lan.id}",
            {"role": "handler", "unit": "U007", "department": "", "can_reveal": "1"},
        )
        assert done.status == 400 and "needs a department" in done.text
        done = await browser.post(
            f"/admin/people/{lan.id}",
            {"role": "handler", "unit": "U024", "department": "BTC", "can_reveal": "1"},
        )
        assert done.status == 303
        assert "Saved." in (await browser.get(done.headers["Location"])).text
        mine = await browser.post(f"/admin/people/{me.id}", {"role": "member", "unit": ""})
        assert mine.status == 400 and "your own role" in mine.text
        assert (await browser.get("/admin/people/999999")).status == 404
    async with core.sessions() as session:
        lan = await session.get(Person, lan.id)
        entries = list((await session.execute(select(AuditEntry))).scalars())
    assert (lan.role, lan.can_reveal) == ("handler", True)
    assert len(entries) == 1 and entries[0].action == "person.update"
    assert entries[0].details == {
        "role": ["member", "handler"],
        "department": ["", "BTC"],
        "can_reveal": [False, True],
    }
    assert "PA-0001" not in str(entries[0].details)


async def test_invites_show_a_deep_link_and_qr_code_and_are_revoked(core):
    core.senders["telegram"] = SimpleNamespace(bot=SimpleNamespace(username="grassroots_bot"))
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        bad = await browser.post("/admin/invites", {"role": "member", "uses": "0"})
        assert bad.status == 400 and "whole number" in bad.text
        bad = await browser.post("/admin/invites", {"role": "handler", "uses": "1"})
        assert bad.status == 400 and "needs a department" in bad.text
        done = await browser.post(
            "/admin/invites", {"role": "collaborator", "unit": "U007", "uses": "25"}
        )
        assert done.status == 303
        code = done.headers["Location"].split("created=")[1]
        page = await browser.get("/admin/invites")
        assert f"https://t.me/grassroots_bot?start={code}" in page.text
        assert "<svg" in page.text  # the QR code, inline
        async with core.sessions() as session:
            invite = (await session.execute(select(Invite).where(Invite.code == code))).scalar_one()
        assert (invite.role, invite.uses_left) == ("collaborator", 25)
        done = await browser.post(f"/admin/invites/{invite.id}/revoke", {})
        assert done.status == 303
    async with core.sessions() as session:
        invite = await session.get(Invite, invite.id)
        entries = list((await session.execute(select(AuditEntry))).scalars())
    assert invite.uses_left == 0
    assert [e.action for e in entries] == ["invite.create", "invite.revoke"]
    assert all(code not in f"{e.target}{e.details}" for e in entries)  # no usable code logged


async def test_chat_bindings_follow_the_cli_rules(core):
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        bad = await browser.post(
            "/admin/bindings", {"role": "everyone", "channel": "telegram", "chat_id": "-1"}
        )
        assert bad.status == 400 and "from the list" in bad.text
        bad = await browser.post(
            "/admin/bindings", {"role": "staff", "channel": "telegram", "chat_id": "a b"}
        )
        assert bad.status == 400 and "without spaces" in bad.text
        for _ in range(2):  # twice: bound once
            done = await browser.post(
                "/admin/bindings",
                {"role": "department:BTC", "channel": "zalo-oa", "chat_id": "g-42"},
            )
            assert done.status == 303
        page = await browser.get("/admin/bindings")
        assert "department:BTC" in page.text and "g-42" in page.text
        async with core.sessions() as session:
            row = (await session.execute(select(ChatBinding))).scalar_one()
        assert (await browser.post(f"/admin/bindings/{row.id}/remove", {})).status == 303
        assert (await browser.post(f"/admin/bindings/{row.id}/remove", {})).status == 404
    assert await count(core, ChatBinding) == 0
    assert await audit_actions(core) == ["binding.add", "binding.remove"]


async def test_audit_log_filters_and_pages(core):
    from storage import audit

    async with core.sessions() as session, session.begin():
        for i in range(60):
            await audit.record(
                session, None, "cli", "units.import" if i % 2 else "binding.add", "", n=i
            )
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        page = await browser.get("/admin/audit")
        assert page.status == 200 and page.text.count("<code>units.import</code>") == 25
        assert "n: 59" in page.text and "n: 9" not in page.text
        match = re.search(r'id="next-page" href="([^"]+)"', page.text)
        assert match
        older = await browser.get(match.group(1).replace("&amp;", "&"))
        assert "n: 9" in older.text and "n: 59" not in older.text
        only = await browser.get("/admin/audit?action=binding.add")
        assert "<code>units.import</code>" not in only.text
        bad = await browser.get("/admin/audit?from=yesterday")
        assert bad.status == 200 and "Dates must look like" in bad.text


async def test_rules_page_and_monthly_report(core):
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        page = await browser.get("/admin/rules")
        assert page.status == 200 and "ORG_DIR" in page.text
        assert "<code>30 7 * * *</code>" in page.text and "Security, order and safety" in page.text
        form = await browser.get("/admin/reports/monthly")
        assert form.status == 200 and 'type="month"' in form.text
        bad = await browser.get("/admin/reports/monthly?month=last")
        assert bad.status == 400 and "Choose a month" in bad.text
        async with browser.client.get("/admin/reports/monthly?month=2026-11&lang=en") as resp:
            assert resp.status == 200
            assert "monthly-report-2026-11.docx" in resp.headers["Content-Disposition"]
            body = await resp.read()
    text = "\n".join(p.text for p in Document(io.BytesIO(body)).paragraphs)
    assert "Monthly report, November 2026" in text


def deadline_form(core, **changes: str) -> dict[str, str]:
    from bot.admin.deadlines import urgencies

    catalog = core.catalog
    form = {
        f"due:{c.code}:{u}": str(catalog.due_hours(c.code, u))
        for c in catalog.categories
        for u in urgencies(catalog)
    }
    form.update({f"due:{k.replace('__', ':')}": v for k, v in changes.items()})
    return form


async def test_admins_change_deadlines_in_the_org_dir_copy(core, tmp_path):
    from handlers.forms import load_catalog

    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        page = await browser.get("/admin/rules")
        assert 'id="deadlines-form"' not in page.text  # no ORG_DIR: nowhere to write
        refused = await browser.post("/admin/rules/deadlines", deadline_form(core))
        assert refused.status == 400 and "Set ORG_DIR" in refused.text

        org = tmp_path / "org"
        org.mkdir()
        core.settings.org_dir = org
        page = await browser.get("/admin/rules")
        assert 'name="due:security:hot" value="8"' in page.text
        bad = await browser.post("/admin/rules/deadlines", deadline_form(core, security__hot="0"))
        assert bad.status == 400 and "security · hot" in bad.text
        assert not (org / "categories.yaml").exists()

        done = await browser.post(
            "/admin/rules/deadlines",
            deadline_form(core, security__hot="6", workplace__normal="120"),
        )
        assert done.status == 303
        page = await browser.get("/admin/rules?saved=1")
        assert "Saved." in page.text and 'name="due:security:hot" value="6"' in page.text
    assert core.catalog.due_hours("security", "hot") == 6  # new cases, from now on
    assert core.catalog.due_hours("workplace", "normal") == 120
    assert core.catalog.due_hours("policy", "normal") == 168
    reloaded = load_catalog(org)  # and after a restart
    assert reloaded.due_hours("security", "hot") == 6
    assert reloaded.due_hours("workplace", "normal") == 120
    assert reloaded.category("security").label("vi") == "An ninh, trật tự, an toàn"
    async with core.sessions() as session:
        entry = (await session.execute(select(AuditEntry))).scalar_one()
    assert entry.action == "deadlines.update"
    assert entry.details == {"security.hot": [8, 6], "workplace.normal": [168, 120]}


async def test_staff_cannot_change_deadlines(core, tmp_path):
    core.settings.org_dir = tmp_path
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        page = await browser.get("/admin/rules")
        assert page.status == 200 and 'id="deadlines-form"' not in page.text
        refused = await browser.post("/admin/rules/deadlines", deadline_form(core))
        assert refused.status == 403
    assert not (tmp_path / "categories.yaml").exists()
