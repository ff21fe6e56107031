"""The demo with a history (#14 §3): what a newcomer sees after `grassroots run --demo`, and
the leaders' chat page where a leader reads, on the web, what the bot posted to their group."""

from __future__ import annotations

from bot.channels.context import ChannelContext
from bot.channels.webchat import WebChat
from scheduler.digest import daily_digest
from storage import admin
from storage.transcripts import SqlTranscripts
from tests.admin_web import admin_browser
from tests.test_admin_cases import signed_in
from tests.test_digest import seed_reports

PNG = b"\x89PNG\r\n\x1a\n"


def web_chat(core) -> WebChat:
    context = ChannelContext(
        core.dispatcher,
        core.translations,
        core.settings.attachments_dir,
        core.settings.max_attachment_bytes,
        core.settings.public_url,
    )
    return WebChat(context, SqlTranscripts(core.sessions), secure_cookies=False)


async def test_a_leader_reads_the_digest_and_its_chart_in_the_leaders_chat_on_the_web(core):
    from datetime import UTC, datetime

    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "leaders", "web", "leaders-room")
    await seed_reports(core, datetime.now(UTC))
    core.senders["web"] = web_chat(core)
    assert await daily_digest(core) == 1
    assert await core.delivery.run_once() == 2  # the digest's text, then its chart
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "leader", "7002")
        menu = await browser.get("/admin/cases")
        assert 'href="/admin/chats/leaders"' in menu.text
        page = await browser.get("/admin/chats/leaders")
        assert page.status == 200, page.text
        assert "PA-0002" in page.text and "🔥" in page.text
        chart = page.text.split('<img src="')[1].split('"')[0]
        async with browser.client.get(chart) as resp:
            assert resp.status == 200 and (await resp.read()).startswith(PNG)
        async with browser.client.get("/admin/chats/charts/..%2Fgr.db") as resp:
            assert resp.status == 404


async def test_the_leaders_chat_is_not_for_departments_nor_for_anyone_signed_out(core):
    async with admin_browser(core) as browser:
        assert (await browser.get("/admin/chats/leaders")).status == 303
        await signed_in(core, browser, "handler", "7003", dept="BTC")
        page = await browser.get("/admin/chats/leaders")
        assert page.status == 403
