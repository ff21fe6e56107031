"""The web admin in a real headless Chromium: a staffer asks the bot for a sign-in link in the
web chat, signs in, filters the cases, acknowledges one, exports XLSX, and the reporter hears of
it in their chat."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

from openpyxl import load_workbook

from tests.cli import clock_env, grassroots, run_cli
from tests.test_browser import (  # noqa: F401  (chromium_path is the fixture)
    FLAGS,
    axe_violations,
    chromium_path,
    emoji_without_words,
)
from tests.test_restart import Member, free_port, start_server


async def tap(member: Member, label: str) -> str:
    choices = member.last["messages"][-1]["choices"]
    number = next(i for i, c in enumerate(choices, 1) if label in c["label"])
    return await member.say(button=number)


async def register(member: Member, name: str, start: str = "/start") -> None:
    await member.say(start)
    await member.say(name)
    await member.say("kho bac")
    await tap(member, "Kho bạc")
    out = await tap(member, "I agree")
    assert "Welcome" in out or "registered" in out or "/report" in out, out


async def history(member: Member) -> str:
    async with member.http.get(f"{member.base}/api/chat/history") as resp:
        body = await resp.json()
    return "\n".join(m.get("text", "") for m in body["messages"])


async def test_staff_sign_in_from_chat_filter_acknowledge_and_export(
    tmp_path: Path,
    chromium_path: str,  # noqa: F811
):
    from playwright.async_api import async_playwright, expect

    port = free_port()
    server = await start_server(tmp_path, port)
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gr.db'}"}
    reporter, staff = Member(port), Member(port)
    try:
        await register(reporter, "Lê Thị Hoa")
        await reporter.say("/report")
        await tap(reporter, "Security")
        await tap(reporter, "Hot")
        await tap(reporter, "My unit")
        await reporter.say("Kho hàng bị mất trộm đêm qua, cửa sau không khóa được.")
        await reporter.say("/skip")
        await tap(reporter, "Anonymous")
        out = await tap(reporter, "Send")
        assert "PA-0001" in out

        code = (await run_cli(["invite", "create", "--role", "staff"], **env)).split()[0]
        await register(staff, "Trần Văn Cường", f"/start {code}")
        cookies = [
            {"name": c.key, "value": c.value, "url": staff.base} for c in staff.http.cookie_jar
        ]

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path, args=FLAGS)
            context = await browser.new_context(
                viewport={"width": 360, "height": 740}, accept_downloads=True
            )
            await context.add_cookies(cookies)  # type: ignore[arg-type]
            chat = await context.new_page()
            await chat.goto(f"{staff.base}/")
            await expect(chat.locator(".msg.bot").last).to_contain_text("/help", timeout=10_000)
            await chat.fill("#input", "/weblogin")
            await chat.click("#send")
            # The sign-in link in the chat is a real link, opened in a tab without a referrer.
            link = chat.locator(".msg.bot .bubble a[href*='/admin/login/']")
            await expect(link).to_have_attribute("rel", "noopener noreferrer", timeout=10_000)
            await chat.set_viewport_size({"width": 1280, "height": 800})  # a link at both widths
            await expect(link).to_be_visible()
            assert await link.evaluate("a => getComputedStyle(a).textDecorationLine") == "underline"
            await chat.set_viewport_size({"width": 360, "height": 740})
            async with context.expect_page() as opened:
                await link.click()
            page = await opened.value
            await page.click("#sign-in")
            await expect(page.locator("h1")).to_have_text("Dashboard", timeout=10_000)
            await expect(page.locator("#count-today")).to_have_text("1")
            # Its charts are drawn for the phone's width, so their labels are not shrunk.
            chart = page.locator(".charts img").first
            await expect(chart).to_have_js_property("complete", True)
            assert "size=phone" in await chart.evaluate("i => i.currentSrc")
            assert await chart.evaluate("i => i.naturalWidth") <= 360
            await page.screenshot(path=str(tmp_path / "admin-dashboard-360.png"), full_page=True)
            assert await axe_violations(page) == []
            # At 360 px the navigation folds into a menu.
            await expect(page.locator(".top > .menu")).to_be_hidden()
            await page.locator("#menu-phone summary").click()
            await page.locator("#menu-phone").get_by_role("link", name="Cases").click()
            # ... and the case list is cards: code, hot mark, status, unit, due, in the width.
            card = page.locator("#cases tbody tr").first
            await expect(card).to_contain_text("PA-0001")
            await expect(card.locator(".hot")).to_have_text("🔥 Hot")
            for label in ("Status", "Unit", "Due"):
                assert await card.locator(f"td[data-label='{label}']").is_visible()
            box = await card.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
            await page.screenshot(path=str(tmp_path / "admin-cases-360.png"), full_page=True)
            assert await axe_violations(page) == []
            assert await emoji_without_words(page) == []
            await page.select_option("select[name=urgency]", "hot")
            await page.fill("input[name=q]", "mất trộm")
            await page.click("#apply")
            await expect(page.locator("#cases tbody tr")).to_have_count(1)
            async with page.expect_download() as download_info:
                await page.click("#export-xlsx")
            download = await download_info.value
            data = await asyncio.to_thread(Path(await download.path()).read_bytes)
            sheet = load_workbook(io.BytesIO(data), read_only=True).active
            rows = [[c.value for c in row] for row in sheet.iter_rows()]
            assert rows[1][0] == "PA-0001" and "Lê Thị Hoa" not in str(rows)
            await page.get_by_role("link", name="PA-0001").click()
            await expect(page.locator("#reporter")).to_have_text("Anonymous")
            await expect(page.locator("#source")).to_have_text("Chat: web chat")
            # Rejecting stands apart and asks for a tick before it goes.
            await expect(page.locator(".action-row.danger #open-reject")).to_be_visible()
            await page.locator("#open-reject summary").click()
            await page.fill("#act-reject textarea", "Không thuộc phạm vi.")
            await page.locator("#act-reject button").click()
            await expect(page.locator("#status")).to_have_text("New")  # not sent: no tick
            await page.locator("#open-reject summary").click()
            await page.screenshot(path=str(tmp_path / "admin-case-360.png"), full_page=True)
            assert await axe_violations(page) == []
            assert await emoji_without_words(page) == []
            # At 1280 px the menu is a bar and the actions a compact row, no text areas open.
            await page.set_viewport_size({"width": 1280, "height": 800})
            await expect(page.locator(".top > .menu")).to_be_visible()
            await expect(page.locator("#menu-phone")).to_be_hidden()
            assert await page.locator("#actions textarea:visible").count() == 0
            actions = await page.locator("#actions").bounding_box()
            assert actions is not None and actions["height"] < 260, actions
            await page.screenshot(path=str(tmp_path / "admin-case-1280.png"), full_page=True)
            assert await axe_violations(page) == []
            assert await emoji_without_words(page) == []
            await expect(page.locator("#source")).to_have_text("Chat: web chat")
            # Rejecting stands apart at this width too, and still needs its tick.
            await expect(page.locator(".action-row.danger #open-reject")).to_be_visible()
            await page.locator("#open-reject summary").click()
            await page.locator("#act-reject button").click()
            await expect(page.locator("#status")).to_have_text("New")
            await page.locator("#open-reject summary").click()
            await page.locator("#act-ack button").click()
            await expect(page.locator("#status")).to_have_text("Acknowledged", timeout=10_000)
            await expect(page.locator("#timeline")).to_contain_text("Trần Văn Cường")
            await page.screenshot(path=str(tmp_path / "admin-case.png"), full_page=True)
            await page.goto(f"{staff.base}/admin/")
            await page.screenshot(path=str(tmp_path / "admin-dashboard-1280.png"), full_page=True)
            assert await axe_violations(page) == []
            chart = page.locator(".charts img").first  # drawn wide, not the phone's
            await expect(chart).to_have_js_property("complete", True)
            assert "size=phone" not in await chart.evaluate("i => i.currentSrc")
            assert await chart.evaluate("i => i.naturalWidth") > 360
            # At this width the case list is a table with its head row, not cards.
            await page.goto(f"{staff.base}/admin/cases")
            await expect(page.locator("#cases thead")).to_be_visible()
            row = page.locator("#cases tbody tr").first
            assert await row.evaluate("r => getComputedStyle(r).display") == "table-row"
            await expect(row.locator(".hot")).to_have_text("🔥 Hot")
            assert await axe_violations(page) == []
            assert await emoji_without_words(page) == []
            await browser.close()

        for _ in range(100):  # the delivery worker sends the notice through the outbox
            if "PA-0001 has been received" in await history(reporter):
                break
            await asyncio.sleep(0.1)
        assert "PA-0001 has been received by the committee's staff" in await history(reporter)
    finally:
        await reporter.http.close()
        await staff.http.close()
        server.terminate()
        await server.wait()


async def test_demo_prints_the_admin_address_and_a_working_sign_in_link(tmp_path: Path):
    import os

    import aiohttp

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gr.db'}",
        "ATTACHMENTS_DIR": str(tmp_path / "att"),
        "WEB_PORT": str(port),
        "TELEGRAM_BOT_TOKEN": "",
        "ZALO_BOT_TOKEN": "",
    }
    proc = await asyncio.create_subprocess_exec(
        *grassroots(),
        "run",
        "--demo",
        "--empty",
        env=clock_env(env),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        printed = ""
        while "Demo admin sign-in link" not in printed:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, printed
            printed += line.decode()
        assert f"Web admin: http://127.0.0.1:{port}/admin/" in printed
        link = re.search(r"Demo admin sign-in link: (\S+)", printed).group(1)  # type: ignore[union-attr]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(link) as resp:
                csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text()).group(1)  # type: ignore[union-attr]
            async with http.post(link, data={"csrf": csrf}) as resp:
                assert resp.status == 200 and resp.url.path == "/admin/"
                assert "Demo admin" in await resp.text()
    finally:
        proc.terminate()
        await proc.wait()
