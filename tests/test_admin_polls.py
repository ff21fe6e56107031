"""Polls and situation reports in the web admin: uploading a poll file (checked as the CLI
checks it), rounds with live response rates, results and downloads, re-sending, compliance, the
dashboard panels, anonymity and who may do what."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import aiohttp
import time_machine
import yaml
from openpyxl import load_workbook
from sqlmodel import select

from storage.models import AuditEntry, Poll, PollRound
from tests.admin_web import AdminBrowser, Page, admin_browser
from tests.chat import Chat
from tests.polls_helpers import POLLS, definition, load_poll, outbox, person
from tests.test_admin_cases import signed_in
from tests.test_sitreps import UNITS, at, file

OPENS = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 08:00 on the 25th in Hanoi


async def upload_yaml(browser: AdminBrowser, content: bytes, name: str = "poll.yaml") -> Page:
    form = aiohttp.FormData()
    form.add_field("csrf", browser.csrf)
    form.add_field("file", content, filename=name, content_type="application/yaml")
    async with browser.client.post("/admin/polls/import", data=form, allow_redirects=False) as r:
        page = Page(r.status, await r.text(), dict(r.headers))
    if 'name="csrf"' in page.text:
        browser.csrf = page.csrf
    return page


async def download(browser: AdminBrowser, path: str) -> tuple[int, bytes]:
    async with browser.client.get(path) as resp:
        return resp.status, await resp.read()


async def test_poll_upload_is_checked_like_the_cli_and_logged(pg_or_sqlite_core):
    core = pg_or_sqlite_core
    good = (POLLS / "opinion-monthly.yaml").read_bytes()
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "admin", "7000")
        done = await upload_yaml(browser, good, "opinion-monthly.yaml")
        assert done.status == 303, done.text
        page = await browser.get(done.headers["Location"])
        assert "Poll opinion-monthly imported." in page.text
        assert "No rounds yet." in page.text and "Schedule:" in page.text
        again = await upload_yaml(browser, good)
        assert "already up to date" in (await browser.get(again.headers["Location"])).text

        broken = definition("opinion-monthly")
        broken["questions"][0]["type"] = "essay"
        page = await upload_yaml(browser, yaml.safe_dump(broken).encode(), "bad.yaml")
        assert (
            page.status == 400
            and "The poll was not imported: bad.yaml: questions.0.type" in page.text
        )
        wrong_role = definition("opinion-monthly", audience={"roles": ["wizard"]})
        page = await upload_yaml(browser, yaml.safe_dump(wrong_role).encode(), "r.yaml")
        assert (
            page.status == 400
            and "r.yaml: audience.roles: unknown role &#39;wizard&#39;" in page.text
        )
        page = await upload_yaml(browser, b"\xff\xfe title: [", "x.yaml")
        assert page.status == 400 and "not UTF-8" in page.text
        page = await upload_yaml(browser, b"id: [unclosed", "y.yaml")
        assert page.status == 400 and "not valid YAML" in page.text
    async with core.sessions() as session:
        polls = list((await session.execute(select(Poll))).scalars())
        entries = list((await session.execute(select(AuditEntry))).scalars())
    assert [p.key for p in polls] == ["opinion-monthly"] and polls[0].version == 1
    assert [(e.action, e.target, e.details) for e in entries] == [
        ("poll.import", "opinion-monthly", {"outcome": "created", "version": 1})
    ]


async def test_round_results_downloads_and_resend(core):
    await person(core, "c1", "collaborator", "U001", name="Trần Thị Bình")
    await person(core, "c2", "collaborator", "U002", name="Lê Văn Nam")
    with time_machine.travel(OPENS, tick=False):
        from scheduler.polls import run_polls

        await load_poll(core, "opinion-monthly")
        await run_polls(core)
        chat = Chat(core, user_id="c2")
        await chat.say("/poll")
        for step in ("1", "2, 3", "5"):
            await chat.say(step)
        await chat.press("Không")
        await chat.say("Không có ý kiến gì thêm.")
        async with admin_browser(core) as browser:
            await signed_in(core, browser, "admin", "7000")
            page = await browser.get("/admin/polls")
            assert "1/2 (50%)" in page.text
            page = await browser.get("/admin/polls/opinion-monthly/1")
            assert page.status == 200
            assert 'id="responded">1/2<' in page.text and "U002 · " in page.text
            assert "Responses: 1 of 2 (50%)." in page.text  # the results message's own text
            status, body = await download(browser, "/admin/polls/opinion-monthly/1/results.csv")
            rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
            assert status == 200 and rows[0][:3] == ["name", "unit", "submitted_at"]
            assert rows[1][0] == "Lê Văn Nam" and rows[1][1] == "U002"
            status, body = await download(browser, "/admin/polls/opinion-monthly/1/results.xlsx")
            sheet = load_workbook(io.BytesIO(body), read_only=True).active
            assert [c.value for c in next(sheet.iter_rows())][:2] == ["name", "unit"]
            before = len(await outbox(core, "c1"))
            done = await browser.post("/admin/polls/opinion-monthly/1/resend", {})
            assert done.status == 303 and done.headers["Location"].endswith("?resent=0-1")
            assert len(await outbox(core, "c1")) == before + 1
            assert len(await outbox(core, "c2")) == 1  # answered: not asked again
            assert (await browser.get("/admin/polls/opinion-monthly/9")).status == 404
            assert (
                await browser.get("/admin/polls/opinion-monthly/1/compliance.csv")
            ).status == 404
    async with core.sessions() as session:
        entry = (await session.execute(select(AuditEntry))).scalar_one()
    assert (entry.action, entry.target) == ("poll.resend", "opinion-monthly #1")
    assert entry.details == {"newly_invited": 0, "queued": 1}


async def test_anonymous_poll_shows_and_exports_nobody(core):
    await person(core, "c1", "collaborator", "U001", name="Trần Thị Bình")
    await person(core, "c2", "collaborator", "U001", name="Phạm Thu Hà")
    with time_machine.travel(OPENS, tick=False):
        from scheduler.polls import run_polls

        await load_poll(
            core, "pulse-anonymous", schedule={"once": "2026-11-25T08:00:00", "window_hours": 48}
        )
        await run_polls(core)
        chat = Chat(core, user_id="c1")
        await chat.say("/poll")
        for step in ("4", "30", "Thiếu người, việc nhiều."):
            await chat.say(step)
        async with admin_browser(core) as browser:
            await signed_in(core, browser, "staff", "7001")
            dash = await browser.get("/admin/")
            assert "Open polls: responses so far" in dash.text
            assert "Quick anonymous pulse" in dash.text and "1 of 2 (50%)" in dash.text
            page = await browser.get("/admin/polls/pulse-anonymous/1")
            # One answer of two invited: it would be that one person's, so it is withheld.
            assert "Anonymous poll" in page.text and "Thiếu người, việc nhiều." not in page.text
            assert "Fewer than 3 answers to show without singling anyone out." in page.text
            texts = [page.text]
            for kind in ("csv", "xlsx"):
                status, body = await download(
                    browser, f"/admin/polls/pulse-anonymous/1/results.{kind}"
                )
                assert status == 409 and b"are not exported" in body
                texts.append(body.decode("utf-8-sig"))
            for text in texts:
                assert "Trần Thị Bình" not in text and "Phạm Thu Hà" not in text
                assert "Thiếu người" not in text
            # Staff look but do not re-send.
            assert 'id="resend"' not in page.text
            refused = await browser.post("/admin/polls/pulse-anonymous/1/resend", {})
            assert refused.status == 403


async def test_sitrep_compliance_page_and_export(core):
    for i, unit in enumerate(UNITS[:3]):
        await person(core, f"k{i}", "contact", unit)
    with time_machine.travel(at(20, 8), tick=False) as clock:
        from scheduler.polls import run_polls

        await load_poll(core, "sitrep-monthly", audience={"roles": ["contact"], "units": UNITS})
        await run_polls(core)
        clock.move_to(at(22, 9))
        await file(core, "k0")
        clock.move_to(at(29, 9))
        await file(core, "k1")
        async with admin_browser(core) as browser:
            await signed_in(core, browser, "leader", "7003")
            dash = await browser.get("/admin/")
            assert "Situation reports: compliance" in dash.text
            assert "received 2 of 5 · on time 1 · late 1 · missing 3" in dash.text
            page = await browser.get("/admin/polls/sitrep-monthly/1")
            assert page.status == 200 and 'id="compliance"' in page.text
            assert "Monthly: opens on day 20 at 08:00, due on day 28 at 17:00" in page.text
            status, body = await download(browser, "/admin/polls/sitrep-monthly/1/compliance.csv")
            rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
            assert status == 200 and rows[0] == [
                "Unit code",
                "Unit",
                "Status",
                "Filed at",
                "Contact points",
            ]
            assert [(r[0], r[2]) for r in rows[1:]] == [
                ("U001", "on time"),
                ("U002", "late"),
                ("U003", "missing"),
                ("U004", "missing"),
                ("U005", "missing"),
            ]
            status, body = await download(browser, "/admin/polls/sitrep-monthly/1/compliance.xlsx")
            assert status == 200 and load_workbook(io.BytesIO(body), read_only=True).active
    async with core.sessions() as session:
        assert len(list((await session.execute(select(PollRound))).scalars())) == 1


async def test_department_handlers_see_no_polls(core):
    await load_poll(core, "opinion-monthly")
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "handler", "7002", dept="BTC")
        for path in (
            "/admin/polls",
            "/admin/polls/opinion-monthly/1",
            "/admin/polls/opinion-monthly/1/results.csv",
            "/admin/polls/opinion-monthly/1/compliance.xlsx",
        ):
            assert (await browser.get(path)).status == 403, path
        page = await upload_yaml(browser, (POLLS / "opinion-monthly.yaml").read_bytes())
        assert page.status == 403
