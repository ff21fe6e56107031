"""A committee with no Telegram at all runs the whole loop on Zalo, through the real HTTP adapters
against the fake Zalo servers (Bot platform and Official Account):

a member reports over the Zalo bot; the hot report's card reaches the staff's OA group; a staff
member types `PA-0001 1` there (a signed webhook event), the card is posted again with its new
state and the reporter hears of it; the case goes to a department's OA group, whose handler
resolves it; the reporter confirms; the leaders' digest reaches their OA group with its chart.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bot.app import Core, Runner, build_core, seed_demo
from scheduler.digest import daily_digest
from storage import admin
from storage.models import Report
from tests.conftest import make_settings
from tests.fake_zalo import OA_APP_ID, OA_APP_SECRET, OA_SECRET_KEY, FakeZalo
from tests.telegram_harness import started

STAFF_GROUP, DEPT_GROUP, LEADERS_GROUP = "g-staff", "g-btc", "g-leaders"
MEMBER = "za-member-01"


@dataclass
class ZaloOnly:
    core: Core
    runner: Runner
    fake: FakeZalo

    async def bot(self, user: str, text: str) -> list[str]:
        """`user` writes `text` to the Zalo bot; the bot's answers to it."""
        before = len(self.fake.messages_to(user))
        self.fake.user_text(user, text, display_name="Người dùng")
        await self.fake.wait_for_messages(user, before + 1, timeout=10)
        await self.runner.zalo.drain()
        return self.fake.texts_to(user)[before:]

    async def group(self, oa_user: str, group: str, text: str) -> list[str]:
        """`oa_user` types `text` in an OA group; what the bot answered there at once."""
        before = len(self.fake.group_texts(group))
        url = f"http://127.0.0.1:{self.runner.web_port}/zalo/oa/webhook"
        event = self.fake.oa_group_event(oa_user, group, text)
        assert await self.fake.deliver_oa_webhook(url, event) == 200
        await self.runner.zalo_groups.drain()
        return self.fake.group_texts(group)[before:]

    async def notices(self, user: str, count: int) -> list[str]:
        await self.fake.wait_for_messages(user, count, timeout=15)
        return self.fake.texts_to(user)

    async def status(self) -> str:
        async with self.core.sessions() as session:
            return (await session.execute(select(Report.status))).scalar_one()

    async def enrol(self, role: str, bot_user: str, oa_user: str, group: str, **kw: str) -> None:
        """Invited, registered on the Zalo bot, then linked in the OA group they work in."""
        async with self.core.sessions() as session, session.begin():
            invite = await admin.create_invite(session, role, "U007", 1, kw.get("dept"))
        await self.bot(bot_user, f"/start {invite.code}")
        await self.bot(bot_user, "1")
        await self.bot(bot_user, "1")
        code = re.search(r"/link (\S+)", (await self.bot(bot_user, "/link"))[-1])
        assert code is not None
        await self.group(oa_user, group, f"/link {code[1]}")
        posted = len(self.fake.group_texts(group))
        await self.bot(bot_user, "/link yes")  # their existing messenger confirms
        await until(lambda: len(self.fake.group_texts(group)) > posted)  # "linked", in the group


async def until(condition: Callable[[], bool], seconds: float = 15) -> None:
    """Wait for something the delivery worker does in the background."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not reached in time")


@pytest.fixture
async def zalo_only(tmp_path, sqlite_url, migrated_sqlite) -> AsyncIterator[ZaloOnly]:
    shutil.copyfile(migrated_sqlite, tmp_path / "test.db")
    fake = FakeZalo()
    await fake.start()
    seed = fake.issue_oa_tokens()
    core = await build_core(
        make_settings(
            tmp_path,
            sqlite_url,
            zalo_bot_token=fake.bot_token,
            zalo_api_url=fake.url,
            zalo_oa_app_id=OA_APP_ID,
            zalo_oa_app_secret=OA_APP_SECRET,
            zalo_oa_secret_key=OA_SECRET_KEY,
            zalo_oa_access_token=seed["access_token"],
            zalo_oa_refresh_token=seed["refresh_token"],
            zalo_oa_api_url=fake.url,
            zalo_oa_oauth_url=fake.url,
            web_chat=False,
        )
    )
    await seed_demo(core)
    runner = Runner(core)
    await runner.start()
    await started(runner)
    async with core.sessions() as session, session.begin():
        for role, group in (
            ("staff", STAFF_GROUP),
            ("department:BTC", DEPT_GROUP),
            ("leaders", LEADERS_GROUP),
        ):
            await admin.bind_chat(session, role, "zalo-oa", group)
    try:
        yield ZaloOnly(core, runner, fake)
    finally:
        await runner.stop()
        await core.close()
        await fake.stop()


async def test_a_committee_on_zalo_alone_runs_the_whole_loop(zalo_only: ZaloOnly) -> None:
    z = zalo_only
    assert z.runner.telegram is None  # no Telegram anywhere
    await z.enrol("staff", "za-staff-01", "oa-staff-01", STAFF_GROUP)
    await z.enrol("handler", "za-handler-01", "oa-handler-01", DEPT_GROUP, dept="BTC")

    # A member reports over the Zalo bot: a hot report, named.
    for text in ("/start", "Hà Văn Tư", "1", "1", "/report", "6", "2", "1"):
        await z.bot(MEMBER, text)
    for text in ("Có tụ tập đông người trước cổng nhà máy sáng nay.", "/skip", "1"):
        await z.bot(MEMBER, text)
    assert "PA-0001" in (await z.bot(MEMBER, "1"))[-1]

    # Its card reaches the staff group, its actions listed as messages to type; leaders are alerted.
    await until(lambda: any("PA-0001 1" in t for t in z.fake.group_texts(STAFF_GROUP)))
    await until(lambda: any("PA-0001" in t for t in z.fake.group_texts(LEADERS_GROUP)))

    # A staff member types "PA-0001 1" in the group: acknowledged, the card posted anew (Zalo
    # cannot edit a message), the reporter told.
    heard = len(z.fake.texts_to(MEMBER))
    cards = sum("PA-0001 2" in t for t in z.fake.group_texts(STAFF_GROUP))
    assert "PA-0001" in (await z.group("oa-staff-01", STAFF_GROUP, "PA-0001 1"))[0]
    assert await z.status() == "acknowledged"
    assert "PA-0001" in (await z.notices(MEMBER, heard + 1))[heard]
    await until(lambda: sum("PA-0001 2" in t for t in z.fake.group_texts(STAFF_GROUP)) > cards)

    # Assigned to the department by typing; its group gets the card; its handler resolves it.
    listing = (await z.group("oa-staff-01", STAFF_GROUP, "PA-0001 2"))[0]
    number = re.search(r"(\d+)\. Ban Tổ chức", listing)
    assert number is not None, listing
    await z.group("oa-staff-01", STAFF_GROUP, number[1])
    assert await z.status() == "assigned"
    await until(lambda: any("PA-0001 5" in t for t in z.fake.group_texts(DEPT_GROUP)))
    await z.group("oa-handler-01", DEPT_GROUP, "PA-0001 5")
    await z.group("oa-handler-01", DEPT_GROUP, "Đã làm việc với doanh nghiệp, đã giải quyết.")
    assert await z.status() == "resolved"

    # The reporter hears of the resolution on Zalo, with its question numbered, and confirms.
    note = "Đã làm việc với doanh nghiệp"
    await until(lambda: any(note in t for t in z.fake.texts_to(MEMBER)))
    question = next(t for t in z.fake.texts_to(MEMBER) if note in t)
    assert "PA-0001" in question and "\n1. " in question
    await z.bot(MEMBER, "1")
    assert await z.status() == "closed"

    # The leaders' digest reaches their OA group: its text, then its chart as an image.
    seen = len(z.fake.group_messages(LEADERS_GROUP))
    assert await daily_digest(z.core) == 1
    await z.fake.wait_for_group_messages(LEADERS_GROUP, seen + 2, timeout=15)
    digest = z.fake.group_messages(LEADERS_GROUP)[seen:]
    assert digest[0]["text"] and "image" not in digest[0]
    assert digest[1]["image"] in z.fake.oa_uploads
