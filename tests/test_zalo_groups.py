"""Leaders' Zalo group through the OA API: digests and alerts, with single-use token refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import Runner, build_core, seed_demo
from scheduler.digest import daily_digest
from storage import admin
from storage.models import OAToken
from tests.chat import Chat
from tests.conftest import make_settings
from tests.fake_zalo import OA_APP_ID, OA_APP_SECRET, FakeZalo
from tests.telegram_harness import started

GROUP = "g-leaders-001"


async def oa_product(tmp_path, sqlite_url, fake: FakeZalo, seed: dict) -> tuple:
    """The running product with the OA channel pointed at the fake, seeded with a token pair."""
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
    await started(runner)
    return core, runner


@pytest.mark.any_hour
async def test_hot_alert_and_digest_reach_a_zalo_group_and_tokens_refresh_once(
    tmp_path, sqlite_url
):
    fake = FakeZalo()
    await fake.start()
    seed = fake.issue_oa_tokens()
    core, runner = await oa_product(tmp_path, sqlite_url, fake, seed)
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


async def test_a_revoked_refresh_token_is_a_clear_operator_error_not_a_retry_loop(
    tmp_path, sqlite_url
):
    from storage.outbox import status_summary

    fake = FakeZalo()
    await fake.start()
    seed = fake.issue_oa_tokens()
    fake.revoke_refresh_token()
    core, runner = await oa_product(tmp_path, sqlite_url, fake, seed)
    try:
        core.delivery.stop()
        async with core.sessions() as session, session.begin():
            await admin.bind_chat(session, "leaders", "zalo-oa", GROUP)
        assert await daily_digest(core) == 1
        for _ in range(3):
            await core.delivery.run_once()
        async with core.sessions() as session:
            summary = await status_summary(session)
        assert summary["failed"] == 2 and summary["pending"] == 0  # the text and the chart
        assert any("authorisation" in error for error, _ in summary["errors"])
        assert len(fake.refresh_calls) <= 2  # tried, refused, not hammered
    finally:
        await runner.stop()
        await core.close()
        await fake.stop()


async def test_a_leader_gets_hot_alerts_privately_on_zalo(tmp_path, sqlite_url):
    fake = FakeZalo()
    await fake.start()
    core = await build_core(
        make_settings(
            tmp_path,
            sqlite_url,
            zalo_bot_token=fake.bot_token,
            zalo_api_url=fake.url,
            web_chat=False,
        )
    )
    await seed_demo(core)
    runner = Runner(core)
    await runner.start()
    await started(runner)
    try:
        async with core.sessions() as session, session.begin():
            await admin.bind_chat(session, "leaders", "zalo", "leader-zalo-id")
        member = Chat(core, user_id="w2")
        for step in (
            "/start",
            "Đào Văn Sáu",
            "1",
            "1",
            "/report",
            "3",
            "2",
            "1",
            "Phát hiện dấu hiệu gian lận trong chấm công tại xưởng.",
            "/skip",
            "3",
            "1",
        ):
            await member.say(step)
        messages = await fake.wait_for_messages("leader-zalo-id", 1, timeout=10)
        assert "PA-0001" in messages[0]["text"] and "Đào Văn Sáu" not in messages[0]["text"]
    finally:
        await runner.stop()
        await core.close()
        await fake.stop()
