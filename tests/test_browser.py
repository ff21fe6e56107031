"""The web chat in a real headless Chromium (Playwright driving Debian's chromium package)."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path
from typing import Any

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
            refused = watch_csp(page)
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
            await send(
                "Mất an toàn lao động tại công trường, xem https://example.org/tin?a=1. "
                "Đừng mở javascript:alert(1)"
            )
            await page.set_input_files(
                "#file", files=[{"name": "anh.png", "mimeType": "image/png", "buffer": _png()}]
            )
            await expect(bot.last).to_contain_text("1 of at most 10", timeout=10_000)
            await tap("Done")
            await tap("Anonymous")
            await tap("Send")
            await expect(bot.last).to_contain_text("PA-0001")
            # The review's link is clickable, http(s) only, opened without a referrer.
            links = page.locator(".msg.bot .bubble a")
            found = await links.evaluate_all("ls => ls.map(a => [a.href, a.rel, a.target])")
            assert {tuple(x) for x in found} == {
                ("https://example.org/tin?a=1", "noopener noreferrer", "_blank")
            }  # and "javascript:alert(1)" stays text

            # Old buttons are disabled, and a reload restores the conversation.
            assert await page.locator(".choices button:not([disabled])").count() == 0
            await page.reload()
            await expect(page.locator(".msg.bot").last).to_contain_text("PA-0001", timeout=10_000)
            await page.screenshot(path=str(tmp_path / "webchat.png"))
            assert await emoji_without_words(page) == []
            assert await axe_violations(page) == []
            # The same at desktop width: the link, the stale buttons, the words beside emoji.
            await page.set_viewport_size({"width": 1280, "height": 800})
            assert await links.evaluate_all("ls => ls.map(a => [a.href, a.rel])") == [
                ["https://example.org/tin?a=1", "noopener noreferrer"]
            ]
            assert await page.locator(".choices button:not([disabled])").count() == 0
            assert await page.locator(".choices button[disabled]").count() > 0
            assert await emoji_without_words(page) == []
            await page.set_viewport_size({"width": 360, "height": 740})
            # The check does find a broken rule: an unlabelled box.
            await page.evaluate("document.body.appendChild(document.createElement('input'))")
            assert any(v.startswith("label:") for v in await axe_violations(page))
            # ... and the emoji check finds a mark that has no word beside it.
            await page.evaluate("document.body.insertAdjacentHTML('beforeend', '<b>🔥</b>')")
            assert await emoji_without_words(page) == ["<b>🔥</b>"]
            assert refused == []  # the page's CSP lets everything it needs run
            await browser.close()
    finally:
        server.terminate()
        await server.wait()


async def axe_violations(page: Any) -> list[str]:
    """WCAG 2.1 A and AA rules axe-core finds broken on the page: "rule: element" lines."""
    from axe_playwright_python.async_playwright import Axe

    tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
    options = {"runOnly": {"type": "tag", "values": tags}, "resultTypes": ["violations"]}
    results = await Axe().run(page, options=options)
    return [f"{v['id']}: {n['target']}" for v in results.response["violations"] for n in v["nodes"]]


# Elements whose own text has an emoji (or a symbol drawn as one) but, without it, no word or
# number, and no aria-label: their meaning would be lost on a phone without an emoji font.
EMOJI_ONLY = """() => {
  const symbol = /[\\p{Extended_Pictographic}\\u2190-\\u21ff\\u2600-\\u27bf\\ufe0f\\u200d]/gu;
  const lost = [];
  for (const e of document.body.querySelectorAll('*')) {
    const own = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.data).join('');
    if (!own.match(symbol) || e.closest('[aria-hidden=true]')) continue;
    const words = e.textContent.replace(symbol, '');
    if (!/[\\p{L}\\p{N}]/u.test(words) && !e.getAttribute('aria-label')) lost.push(e.outerHTML);
  }
  return lost;
}"""


async def emoji_without_words(page: Any) -> list[str]:
    """Where the page relies on an emoji alone for its meaning (should be none)."""
    return list(await page.evaluate(EMOJI_ONLY))


# A slow 3G line: 400 ms round trips, 400 kbit/s each way.
SLOW_3G = {
    "offline": False,
    "latency": 400,
    "downloadThroughput": 50_000,
    "uploadThroughput": 50_000,
}


def watch_csp(page: Any) -> list[str]:
    """Console reports of anything the Content-Security-Policy blocked on `page`."""
    refused: list[str] = []
    page.on(
        "console",
        lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return refused


def _png() -> bytes:
    from tests.fake_telegram import tiny_png

    return tiny_png()


async def test_a_public_submission_on_a_phone_reaches_the_staff_chat_live(
    tmp_path: Path, chromium_path: str
):
    """The feedback form filled in Vietnamese on a phone-sized screen, without an account: the
    case's card appears in the staff's web chat within a second (pushed over the live stream,
    at 1280 px), in a second staff tab whose stream is blocked by polling instead (at 360 px),
    once in each; and the status page finds it."""
    import time

    from playwright.async_api import async_playwright, expect

    from bot.channels.webchat import COOKIE, session_key
    from storage import admin
    from storage.db import create_engine, session_factory

    port = free_port()
    server = await start_server(tmp_path, port)
    staff_token = "staff-browser-session-token-0001"
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'gr.db'}")
    async with session_factory(db)() as session, session.begin():
        await admin.bind_chat(session, "staff", "web", session_key(staff_token))
    await db.dispose()
    base = f"http://127.0.0.1:{port}"
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path, args=FLAGS)
            staff = await browser.new_context(viewport={"width": 1280, "height": 800})
            await staff.add_cookies([{"name": COOKIE, "value": staff_token, "url": base}])
            desk = await staff.new_page()
            streams: list[str] = []
            desk.on("request", lambda r: streams.append(r.url) if "/live" in r.url else None)
            await desk.goto(f"{base}/")
            await expect(desk.locator(".msg.bot").first).to_be_visible(timeout=10_000)
            # A second tab on a phone whose live stream fails: it falls back to polling.
            pocket = await staff.new_page()
            await pocket.set_viewport_size({"width": 360, "height": 740})
            await pocket.route("**/api/chat/live*", lambda route: route.abort())
            await pocket.goto(f"{base}/")
            await expect(pocket.locator(".msg.bot").first).to_be_visible(timeout=10_000)
            assert streams  # the first tab listens live

            # On a slow 3G profile the web chat and the feedback form are usable within 3 s.
            slow = await browser.new_page(viewport={"width": 360, "height": 740})
            cdp = await slow.context.new_cdp_session(slow)
            await cdp.send("Network.enable")
            await cdp.send("Network.emulateNetworkConditions", SLOW_3G)
            pages = (("/", ".msg.bot"), ("/feedback?lang=vi", "#description"))
            for width, (path, ready) in itertools.product((360, 1280), pages):
                await slow.set_viewport_size({"width": width, "height": 740})
                began = time.monotonic()
                await slow.goto(base + path)
                await expect(slow.locator(ready).first).to_be_visible(timeout=10_000)
                took = time.monotonic() - began
                assert took < 3.0, f"{path} at {width} px: {took:.1f} s on slow 3G"
            await slow.close()
            # Two more staff tabs the other way round: live on a phone, polling at desktop
            # width (opened after the timing above, so they do not slow it).
            hand = await staff.new_page()
            await hand.set_viewport_size({"width": 360, "height": 740})
            await hand.goto(f"{base}/")
            wall = await staff.new_page()
            await wall.route("**/api/chat/live*", lambda route: route.abort())
            await wall.goto(f"{base}/")
            for tab in (hand, wall):
                await expect(tab.locator(".msg.bot").first).to_be_visible(timeout=10_000)

            phone = await browser.new_page(viewport={"width": 360, "height": 740}, locale="vi-VN")
            refused = watch_csp(phone)
            await phone.goto(f"{base}/feedback?lang=vi")
            await expect(phone.locator("h1")).to_have_text("Gửi góp ý")
            assert await axe_violations(phone) == []
            assert await emoji_without_words(phone) == []
            # The inline style runs under the strict CSP (by its nonce): the header is red.
            header = phone.locator("header")
            await expect(header).to_have_css("background-color", "rgb(165, 15, 21)")
            await phone.select_option("#unit", label="Đảng bộ Kho bạc Nhà nước tỉnh")
            await phone.get_by_label("An ninh, trật tự, an toàn").check()
            await phone.get_by_label("Bình thường").check()
            await phone.fill(
                "#description", "Cổng sau của kho bị hỏng khóa ba ngày nay, chưa ai sửa."
            )
            await phone.set_input_files(
                "#files", files=[{"name": "cong.png", "mimeType": "image/png", "buffer": _png()}]
            )
            # A person takes a few seconds to fill the form; faster than that is refused.
            await phone.wait_for_timeout(3200)
            await phone.get_by_role("button", name="Gửi").click()
            await expect(phone.locator("h1")).to_have_text("Đã nhận góp ý", timeout=10_000)
            sent = time.monotonic()
            code = (await phone.locator("#code").inner_text()).strip()
            assert code == "PA-0001"
            card = desk.locator(".msg.bot", has_text="Cổng sau của kho")
            await expect(card.first).to_contain_text(code, timeout=5_000)
            small = hand.locator(".msg.bot", has_text="Cổng sau của kho")
            await expect(small.first).to_contain_text(code, timeout=5_000)
            took = time.monotonic() - sent
            assert took < 1.0, f"the card was not pushed within a second at both widths: {took}"
            for tab in (pocket, wall):  # by polling
                await expect(tab.locator(".msg.bot", has_text="Cổng sau")).to_have_count(
                    1, timeout=8_000
                )
            await desk.wait_for_timeout(500)
            for tab in (desk, hand, pocket, wall):  # stream and safety poll: shown once
                assert await tab.locator(".msg.bot", has_text="Cổng sau của kho").count() == 1
            await hand.close()
            await wall.close()
            # A typed message leaves the card's buttons usable (they are not stale).
            for tab, typed in ((pocket, "/help"), (desk, "/lang")):
                before = await tab.locator(".msg.bot").count()
                await tab.fill("#input", typed)
                await tab.click("#send")
                await expect(tab.locator(".msg.bot")).not_to_have_count(before, timeout=10_000)
                buttons = tab.locator(".msg.bot", has_text="Cổng sau của kho").locator("button")
                await expect(buttons.first).to_be_enabled()
                assert await buttons.count() > 0
                assert await buttons.evaluate_all("bs => bs.every(b => !b.disabled)")
            assert await axe_violations(desk) == []
            for tab in (desk, pocket):  # the staff's cards: every emoji has its word
                assert await emoji_without_words(tab) == []
            wide = await staff.new_page()  # the feedback page at desktop width
            await wide.goto(f"{base}/feedback?lang=vi")
            assert await axe_violations(wide) == []
            assert await emoji_without_words(wide) == []
            await wide.close()
            # A reload resumes from the transcript, still once.
            await desk.reload()
            await expect(card).to_have_count(1, timeout=10_000)

            secret = (await phone.locator("#secret").inner_text()).strip()
            await phone.get_by_role("link", name="Tra cứu tình trạng góp ý của bạn").first.click()
            await phone.fill("#code", code.lower())
            await phone.fill("#secret", secret)
            await phone.get_by_role("button", name="Tra cứu").click()
            await expect(phone.locator("#status")).to_have_text("Mới", timeout=10_000)
            await expect(phone.locator("#history")).to_contain_text("Đã tiếp nhận phản ánh")
            assert refused == []
            await browser.close()
    finally:
        server.terminate()
        await server.wait()
