"""An administrator imports units from CSV in a real headless Chromium, on a phone-sized
screen: the preview names what would change, and only the confirmation imports it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli import run_cli
from tests.test_admin_browser import register
from tests.test_browser import FLAGS, chromium_path  # noqa: F401  (the fixture)
from tests.test_restart import Member, free_port, start_server

UNITS = (
    "code,name,kind,host_kind,parent_code\n"
    "U001,Chi bộ Văn phòng Tỉnh ủy,cell,agency,\n"
    "U901,Chi bộ Công ty Sông Hồng <b>mới</b>,cell,private_enterprise,\n"
)


async def test_admin_previews_and_confirms_a_unit_import(
    tmp_path: Path,
    chromium_path: str,  # noqa: F811
):
    from playwright.async_api import async_playwright, expect

    port = free_port()
    server = await start_server(tmp_path, port)
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gr.db'}"}
    admin = Member(port)
    try:
        code = (await run_cli(["invite", "create", "--role", "admin"], **env)).split()[0]
        await register(admin, "Phạm Quốc Bảo", f"/start {code}")
        out = await admin.say("/weblogin")
        link = re.search(r"http://\S+/admin/login/\S+", out)
        assert link, out
        csv_file = tmp_path / "units.csv"
        csv_file.write_text(UNITS, encoding="utf-8")

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path, args=FLAGS)
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            page = await context.new_page()
            await page.goto(link.group(0))
            await page.click("#sign-in")
            await page.wait_for_url(re.compile(r".*/admin/$"), timeout=10_000)
            await page.goto(f"http://127.0.0.1:{port}/admin/units")
            await page.set_input_files("#import-file", str(csv_file))
            await page.click("#import-preview")
            await expect(page.locator("#count-new")).to_contain_text("U901", timeout=10_000)
            await expect(page.locator("#count-unchanged")).to_contain_text("1")
            # Nothing imported yet.
            listing = await context.request.get(f"http://127.0.0.1:{port}/admin/units")
            assert "U901" not in await listing.text()
            await page.click("#import-confirm")
            await expect(page.locator("#imported")).to_be_visible(timeout=10_000)
            row = page.locator("#units tr", has_text="U901")
            await expect(row).to_contain_text("Chi bộ Công ty Sông Hồng <b>mới</b>")
            await page.screenshot(path=str(tmp_path / "admin-units.png"), full_page=True)
            await browser.close()
    finally:
        await admin.http.close()
        server.terminate()
        await server.wait()
