"""The web chat in a real headless Chromium (Playwright driving Debian's chromium package)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.test_restart import free_port, start_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium_path() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI must install it)")
        pytest.skip("chromium is not installed")
    return CHROMIUM


async def test_a_member_files_a_report_in_a_real_browser(tmp_path: Path, chromium_path: str):
    from playwright.async_api import async_playwright, expect

    port = free_port()
    server = await start_server(tmp_path, port)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path, args=FLAGS)
            page = await browser.new_page(viewport={"width": 360, "height": 740}, locale="vi-VN")
            await page.goto(f"http://127.0.0.1:{port}/")
            bot = page.locator(".msg.bot")
            await expect(bot.last).to_contain_text("full name", timeout=10_000)

            async def send(text: str) -> None:
                count = await bot.count()
                await page.fill("#input", text)
                await page.click("#send")
                await expect(bot).not_to_have_count(count, timeout=10_000)

            async def tap(label: str) -> None:
                count = await bot.count()
                await page.locator(".choices button:not([disabled])", has_text=label).first.click()
                await expect(bot).not_to_have_count(count, timeout=10_000)

            await send("Trịnh Công Sơn")
            await send("kho bac")
            await tap("Kho bạc")
            await tap("I agree")
            await send("/report")
            await tap("Security")
            await tap("Hot")
            await tap("My unit")
            await send("Mất an toàn lao động tại công trường, một công nhân bị thương nhẹ.")
            await page.set_input_files(
                "#file", files=[{"name": "anh.png", "mimeType": "image/png", "buffer": _png()}]
            )
            await expect(bot.last).to_contain_text("1 of at most 10", timeout=10_000)
            await tap("Done")
            await tap("Anonymous")
            await tap("Send")
            await expect(bot.last).to_contain_text("PA-0001")

            # Old buttons are disabled, and a reload restores the conversation.
            assert await page.locator(".choices button:not([disabled])").count() == 0
            await page.reload()
            await expect(page.locator(".msg.bot").last).to_contain_text("PA-0001", timeout=10_000)
            await page.screenshot(path=str(tmp_path / "webchat.png"))
            await browser.close()
    finally:
        server.terminate()
        await server.wait()


def _png() -> bytes:
    from tests.fake_telegram import tiny_png

    return tiny_png()
