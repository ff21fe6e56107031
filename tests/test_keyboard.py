"""Keyboard use and focus order (WCAG 2.1 AA 2.1.1, 2.1.2, 2.4.3, 2.4.7) in a real Chromium: the
web chat, the public feedback page and the admin case page walked with the Tab key at 360 px and
at 1280 px. Every control is reached, in the order it is seen, shows a focus mark, and the walk
leaves the page (no trap); menus and buttons work with Enter and Space."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_cli
from tests.test_admin_browser import register, tap
from tests.test_browser import FLAGS, chromium_path  # noqa: F401  (the fixture)
from tests.test_restart import Member, free_port, start_server

# Snapshots, before the walk, every control a keyboard user must reach (radio groups count once:
# Tab enters a group, arrows move in it), with where it is drawn and how it looks unfocused.
CONTROLS = """() => {
  const words = e => e.textContent.replace(/^[^\\p{L}\\p{N}]+/u, '').trim().slice(0, 40);
  const key = e => e.type === 'radio' ? 'radio:' + e.name
    : e.id ? '#' + e.id
    : e.tagName.toLowerCase() + ':' + (e.dataset.cmd || words(e) || e.name);
  const look = e => { const s = getComputedStyle(e);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join(' '); };
  if (document.activeElement) document.activeElement.blur();  // the chat focuses its box
  window.__key = key; window.__look = look; window.__rest = new Map();
  const found = {};
  for (const e of document.querySelectorAll(
      'a[href], button, input, select, textarea, summary, [tabindex]')) {
    if (e.disabled || e.tabIndex < 0 || e.type === 'hidden') continue;
    if (!e.checkVisibility({visibilityProperty: true})) continue;
    const r = e.getBoundingClientRect();
    window.__rest.set(e, look(e));
    if (!(key(e) in found)) found[key(e)] = {top: r.top, bottom: r.bottom, left: r.left};
  }
  return found;
}"""

# Where the focus is now: the control's key, whether it is on screen, and whether it looks
# different from its unfocused self (outline or shadow).
FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const r = e.getBoundingClientRect();
  return {key: window.__key(e), marked: window.__look(e) !== window.__rest.get(e),
          shown: r.width > 0 && r.height > 0 && r.right > 0 && r.left < innerWidth
                 && r.bottom > 0 && r.top < innerHeight};
}"""


@dataclass
class Walk:
    order: list[str]  # the keys of the controls focused, in Tab order
    controls: dict[str, dict[str, float]]


async def walk(page: Any, limit: int = 120) -> Walk:
    """Tab from the top of the page until the focus leaves it; fails on a trap, a control never
    reached, a stop out of sight or without a focus mark, or an order unlike the visual one."""
    controls = await page.evaluate(CONTROLS)
    await page.mouse.click(1, 1)  # Tab starts from the top (the header, not a control)
    order: list[str] = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        here = await page.evaluate(FOCUSED)
        if here is None or (order and here["key"] == order[0]):
            break
        assert here["shown"], f"focus on something not on screen: {here['key']}"
        assert here["marked"], f"no visible focus mark on {here['key']}"
        if not order or order[-1] != here["key"]:
            order.append(here["key"])
    else:
        pytest.fail(f"focus trapped: {order[-5:]}")
    missed = set(controls) - set(order)
    assert not missed, f"never reached with Tab: {missed} (order: {order})"
    for a, b in pairwise(order):
        above, below = controls[a], controls[b]
        same_row = below["top"] < above["bottom"] and above["top"] < below["bottom"]
        # The next stop is on a later line, or further right on the same line.
        later = below["top"] >= above["bottom"] - 4 or (same_row and below["left"] >= above["left"])
        assert later, f"{b} {below} comes after {a} {above} (order: {order})"
    return Walk(order, controls)


async def focus(page: Any, key: str, limit: int = 120) -> None:
    """Tab from the top to the control `key`."""
    await page.evaluate(CONTROLS)
    await page.mouse.click(1, 1)
    for _ in range(limit):
        await page.keyboard.press("Tab")
        here = await page.evaluate(FOCUSED)
        if here is not None and here["key"] == key:
            return
    pytest.fail(f"{key} not reached with Tab")


async def chat_by_keyboard(page: Any, base: str) -> None:
    """A visitor uses the web chat with the keyboard only: Tab order, a chip pressed with
    Space, a typed answer sent with Enter, and a choice button pressed with Enter."""
    from playwright.async_api import expect

    await page.goto(f"{base}/")
    bot = page.locator(".msg.bot")
    await expect(bot.first).to_be_visible(timeout=10_000)
    first = await walk(page)
    assert first.order[-1] == "#send" and "button:/help" in first.order
    count = await bot.count()
    await focus(page, "button:/help")
    await page.keyboard.press("Space")
    await expect(bot).not_to_have_count(count, timeout=10_000)
    for typed in ("Trịnh Công Sơn", "kho bac"):
        count = await bot.count()
        await focus(page, "#input")
        await page.keyboard.type(typed)
        await page.keyboard.press("Enter")
        await expect(bot).not_to_have_count(count, timeout=10_000)
    choices = page.locator(".choices button:not([disabled])")
    await expect(choices.first).to_be_visible()
    label = (await choices.first.inner_text()).strip()
    offered = await walk(page)  # the choice buttons come before the chips and the box
    assert offered.order.index(f"button:{label}") < offered.order.index("button:/report")
    count = await bot.count()
    await focus(page, f"button:{label}")
    await page.keyboard.press("Enter")
    await expect(bot).not_to_have_count(count, timeout=10_000)


async def feedback_by_keyboard(page: Any, base: str, send: bool) -> None:
    """The public feedback page: Tab order; with `send`, the whole form filled and sent from
    the keyboard (a unit found by typing its first letters, radios chosen with Space, the
    button pressed with Enter)."""
    from playwright.async_api import expect

    await page.goto(f"{base}/feedback?lang=vi")
    opened = time.monotonic()
    done = await walk(page)
    assert done.order.index("#unit") < done.order.index("radio:category")
    assert done.order.index("#description") < done.order.index("button:Gửi")
    if not send:
        return
    await focus(page, "#unit")
    await page.keyboard.type("Chi")  # a closed list jumps to what is typed
    unit = await page.locator("#unit").evaluate("s => s.selectedOptions[0].text")
    assert unit.startswith("Chi bộ"), unit
    for group in ("radio:category", "radio:urgency"):
        await page.keyboard.press("Tab")
        assert (await page.evaluate(FOCUSED))["key"] == group
        await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Cổng sau của kho bị hỏng khóa ba ngày nay, chưa ai sửa.")
    await focus(page, "button:Gửi")
    # A person takes seconds; a form sent within 3 s of opening is refused as a robot's. The
    # walk's own time varies with the machine's load, so wait for what is left of 3.5 s.
    await page.wait_for_timeout(max(0.0, 3.5 - (time.monotonic() - opened)) * 1000)
    await page.keyboard.press("Enter")
    await expect(page.locator("h1")).to_have_text("Đã nhận góp ý", timeout=10_000)
    await expect(page.locator("#code")).to_have_text("PA-0002")


async def case_by_keyboard(page: Any, base: str, phone: bool) -> None:
    """The admin case page: Tab order; on a phone the Menu opens with Enter; Reject's form opens
    with Space; Acknowledge is pressed with Enter (at desktop width, the last step)."""
    from playwright.async_api import expect

    await page.goto(f"{base}/admin/cases/PA-0002")
    await expect(page.locator("#source")).to_have_text("Public feedback page (web form)")
    seen = await walk(page)
    assert seen.order.index("summary:Reject") > seen.order.index("summary:Assign")
    if phone:
        assert "#menu-phone" not in seen.order  # the summary, not the details, is the stop
        summary = "summary:Menu"
        assert seen.order.index(summary) > seen.order.index("button:Sign out")
        await focus(page, summary)
        await page.keyboard.press("Enter")
        await expect(page.locator("#menu-phone")).to_have_attribute("open", "")
        await page.keyboard.press("Tab")
        assert (await page.evaluate(FOCUSED))["key"] == "a:Dashboard"
        opened = await walk(page)  # the menu's links are reached, in order, after it
        assert opened.order.index("a:Cases") == opened.order.index(summary) + 2
    await focus(page, "summary:Reject")
    await page.keyboard.press("Space")
    await expect(page.locator("#open-reject")).to_have_attribute("open", "")
    await page.keyboard.press("Tab")
    assert (await page.evaluate("document.activeElement.name")) == "text"
    if not phone:
        await focus(page, "button:Acknowledge")
        await page.keyboard.press("Enter")
        await expect(page.locator("#status")).to_have_text("Acknowledged", timeout=10_000)


async def test_every_page_works_from_the_keyboard_at_both_widths(
    tmp_path: Path,
    chromium_path: str,  # noqa: F811
):
    from playwright.async_api import async_playwright

    port = free_port()
    server = await start_server(tmp_path, port)
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gr.db'}"}
    reporter, staff = Member(port), Member(port)
    base = reporter.base
    try:
        await register(reporter, "Lê Thị Hoa")
        await reporter.say("/report")
        for label in ("Security", "Hot", "My unit"):
            await tap(reporter, label)
        await reporter.say("Kho hàng bị mất trộm đêm qua, cửa sau không khóa được.")
        await reporter.say("/skip")
        await tap(reporter, "Anonymous")
        assert "PA-0001" in await tap(reporter, "Send")
        code = (await run_cli(["invite", "create", "--role", "staff"], **env)).split()[0]
        await register(staff, "Trần Văn Cường", f"/start {code}")

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path, args=FLAGS)
            for width, height in ((360, 740), (1280, 800)):
                context = await browser.new_context(viewport={"width": width, "height": height})
                page = await context.new_page()
                await chat_by_keyboard(page, base)
                await feedback_by_keyboard(page, base, send=width < 600)
                link = re.search(r"http://\S+/admin/login/\S+", await staff.say("/weblogin"))
                assert link, staff.last
                await page.goto(link.group(0))
                await page.click("#sign-in")
                await page.wait_for_url(re.compile(r".*/admin/$"), timeout=10_000)
                await case_by_keyboard(page, base, phone=width < 600)
                await context.close()
            await browser.close()
    finally:
        await reporter.http.close()
        await staff.http.close()
        server.terminate()
        await server.wait()
