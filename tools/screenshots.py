"""README screenshots, made from the demo: `uv run python tools/screenshots.py [out_dir]`.

Starts `grassroots run --demo --empty` on a fresh database in a temporary folder, files one report
as a member would in the web chat, signs in to the web admin with the demo's sign-in link, and
saves one PNG per screen (default docs/img/); then starts `grassroots run --demo --history` (the
demo with its past month) for the dashboard. Needs Chromium (Debian's `chromium` package) and
Playwright's Python package (a dev dependency). One function per screenshot.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Browser, Page, async_playwright, expect

ROOT = Path(__file__).resolve().parent.parent
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 860}
# With GRASSROOTS_TEST_NOW=2026-06-09T10:00:00+07:00 the demo runs on that clock (the tests'
# runner), so the pictures show the same mid-month dashboard whatever the day they are made.
CLI = "tests.clocked" if os.environ.get("GRASSROOTS_TEST_NOW") else "bot.cli"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_demo(
    folder: Path, port: int, *flags: str
) -> tuple[asyncio.subprocess.Process, str]:
    """The demo server, and the admin sign-in link it prints."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'gr.db'}",
        "ATTACHMENTS_DIR": str(folder / "att"),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "TELEGRAM_BOT_TOKEN": "",
        "ZALO_BOT_TOKEN": "",
        "DEFAULT_LOCALE": "vi",
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", CLI, "run", "--demo", *flags,
        env=env, cwd=folder, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    printed = ""
    while (found := re.search(r"sign-in link: (\S+)", printed)) is None:
        line = await asyncio.wait_for(proc.stdout.readline(), 900)  # the history takes a while
        if not line:
            raise SystemExit(f"the demo did not start:\n{printed}")
        printed += line.decode()
    return proc, found.group(1)


async def file_a_report(base: str) -> str:
    """A member registers and sends one hot report through the web chat's own API; returns
    their chat cookie, so the browser shows that conversation."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        last: dict[str, Any] = {}

        async def say(text: str = "", button: str = "", index: int = 0) -> None:
            nonlocal last
            body: dict[str, Any] = {"id": str(uuid.uuid4())}
            choices = last.get("messages", [{}])[-1].get("choices", [])
            if index:
                body["callback"] = choices[index - 1]["data"]
            elif button:
                found = [c["data"] for c in choices if button in c["label"]]
                if not found:
                    raise SystemExit(f"no button {button!r} in: {last}")
                body["callback"] = found[0]
            else:
                body["text"] = text
            await asyncio.sleep(0.5)  # as a person types: the flood guard stays quiet
            async with http.post(f"{base}/api/chat/send", json=body) as resp:
                last = await resp.json()

        await http.get(f"{base}/")
        for step in ("/start", "Nguyễn Thị Mai", "kho bac"):
            await say(step)
        for label in ("Kho bạc", "đồng ý"):
            await say(button=label)
        # A few named reports in several categories first, so the dashboard's charts have bars
        # (small groups of hidden reports are left out of them), then the hot one shown.
        for category in (1, 2, 2, 3):
            await say("/report")
            await say(index=category)
            await say(button="Bình thường")
            await say(button="Đơn vị")
            await say("Đề nghị sửa lại lịch trực và bổ sung bình chữa cháy ở tầng hai.")
            await say("/skip")
            for label in ("Công khai tên", "Gửi"):
                await say(button=label)
        await say("/report")
        for label in ("An ninh", "Nóng", "Đơn vị"):
            await say(button=label)
        await say("Cổng sau kho tiền bị hỏng khóa từ tối qua, chưa có người trực.")
        await say("/skip")
        for label in ("Ẩn danh", "Gửi"):
            await say(button=label)
        return next(c.value for c in http.cookie_jar if c.key == "gr_chat")


async def webchat(browser: Browser, base: str, cookie: str, out: Path) -> None:
    """A member's web chat on a phone, with a report just sent."""
    context = await browser.new_context(viewport=PHONE, locale="vi-VN")
    await context.add_cookies([{"name": "gr_chat", "value": cookie, "url": base}])
    page = await context.new_page()
    await page.goto(f"{base}/")
    await expect(page.locator(".msg.bot", has_text="PA-0005").last).to_be_visible()
    await page.wait_for_timeout(500)
    await page.screenshot(path=str(out / "webchat.png"))
    await context.close()


async def sign_in(browser: Browser, link: str) -> Page:
    page = await browser.new_page(viewport=DESKTOP, locale="vi-VN")
    await page.goto(link)
    await page.click("#sign-in")
    await expect(page.locator("h1")).to_be_visible()
    return page


async def case_page(page: Page, base: str, out: Path) -> None:
    """The staff's case page at desktop width."""
    await page.goto(f"{base}/admin/cases/PA-0005")
    await expect(page.locator("#actions")).to_be_visible()
    await page.screenshot(path=str(out / "case.png"), full_page=True)


async def dashboard(page: Page, base: str, out: Path) -> None:
    """The dashboard of the demo with its past month, at desktop width, charts loaded."""
    await page.goto(f"{base}/admin/")
    await expect(page.locator("img").first).to_be_visible()
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(out / "dashboard.png"), full_page=True)


async def main(out: Path, only: str = "") -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
        with tempfile.TemporaryDirectory() as folder:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            if only == "dashboard":  # polish retakes the others: `screenshots.py DIR dashboard`
                return await dashboard_only(browser, out)
            proc, link = await start_demo(Path(folder), port, "--empty")
            try:
                cookie = await file_a_report(base)
                await webchat(browser, base, cookie, out)
                admin = await sign_in(browser, link)
                await case_page(admin, base, out)
            finally:
                proc.terminate()
                await proc.wait()
        await dashboard_only(browser, out)
        await browser.close()
    print(f"screenshots in {out}")


async def dashboard_only(browser: Browser, out: Path) -> None:
    """The demo with its history, started for the dashboard's picture."""
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        proc, link = await start_demo(Path(folder), port, "--history")
        try:
            await dashboard(await sign_in(browser, link), f"http://127.0.0.1:{port}", out)
        finally:
            proc.terminate()
            await proc.wait()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img"
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target, sys.argv[2] if len(sys.argv) > 2 else ""))
