"""Leaders' Zalo group through the OA API: digests and alerts, with single-use token refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.app import Runner, build_core, seed_demo
from scheduler.digest import daily_digest
from storage import admin
from storage.models import OAToken
from tests.chat import Chat
from tests.conftest import make_settings
from tests.fake_zalo import OA_APP_ID, OA_APP_SECRET, FakeZalo

GROUP = "g-leaders-001"


async def test_hot_alert_and_digest_reach_a_zalo_group_and_tokens_refresh_once(
    tmp_path, sqlite_url
):
    fake = FakeZalo()
    await fake.start()
    seed = fake.issue_oa_tokens()
    core = await build_core(
        make_settings(
            tmp_path,
            sqlite_url,
            zalo_oa_app_id=OA_APP_ID,
            zalo_oa_app_secret=OA_APP_SECRET,
            zalo_oa_access_token=seed["access_token"],
            zalo_oa_refresh_token=seed["refresh_token"],
            zalo_oa_api_url=fake.url,
            zalo_oa_oauth_url=fake.url,
        )
    )
    await seed_demo(core)
    runner = Runner(core)
    await runner.start()
    try:
        async with core.sessions() as session, session.begin():
            await admin.bind_chat(session, "leaders", "zalo-oa", GROUP)
        member = Chat(core, user_id="w1")
        for step in (
            "/start",
            "Hà Văn Tư",
            "1",
            "1",
            "/report",
            "6",
            "2",
            "1",
            "Có tụ tập đông người trước cổng nhà máy sáng nay.",
            "/skip",
            "3",
            "1",
        ):
            await member.say(step)
        await fake.wait_for_group_messages(GROUP, 1, timeout=10)
        assert (
            "PA-0001" in fake.group_texts(GROUP)[0]
            and "Hà Văn Tư" not in fake.group_texts(GROUP)[0]
        )
        assert len(fake.refresh_calls) == 1  # the pasted token's age is unknown: refreshed first
        fake.expire_access_token()
        assert await daily_digest(core) == 1
        await fake.wait_for_group_messages(GROUP, 3, timeout=10)
        assert any("PA-0001" in t for t in fake.group_texts(GROUP)[1:])
        assert len(fake.refresh_calls) == 2  # an expired token: refreshed once, then sent
        async with core.sessions() as session:
            stored = (await session.execute(select(OAToken))).scalar_one()
        assert stored.refresh_token not in (seed["refresh_token"],)
        assert stored.expires_at.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(hours=1)
    finally:
        await runner.stop()
        await core.close()
        await fake.stop()
