"""What staff type in a Zalo OA group reaches the core only when Zalo signed it, recently, once,
and the sender is registered staff; the OA's own echoes and everyone else are ignored."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.app import Core, Runner, build_core, seed_demo
from storage import admin
from storage.models import InboundUpdate
from tests.conftest import make_settings
from tests.fake_zalo import OA_APP_ID, OA_APP_SECRET, OA_SECRET_KEY, FakeZalo
from tests.polls_helpers import person
from tests.telegram_harness import started

GROUP = "g-staff-001"
STAFF = "oa-staff-1"


@dataclass
class OAProduct:
    core: Core
    runner: Runner
    fake: FakeZalo

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.runner.web_port}/zalo/oa/webhook"

    async def send(self, event: dict, signature: str | None = None) -> int:
        status = await self.fake.deliver_oa_webhook(self.webhook, event, signature)
        await self.runner.zalo_groups.drain()
        return status

    def replies(self) -> list[str]:
        return self.fake.group_texts(GROUP)


@pytest.fixture
async def oa(tmp_path, sqlite_url, migrated_sqlite) -> AsyncIterator[OAProduct]:
    shutil.copyfile(migrated_sqlite, tmp_path / "test.db")
    fake = FakeZalo()
    await fake.start()
    seed = fake.issue_oa_tokens()
    core = await build_core(
        make_settings(
            tmp_path,
            sqlite_url,
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
        await admin.bind_chat(session, "staff", "zalo-oa", GROUP)
    await person(core, STAFF, "staff", "U001", name="Cán bộ Lan", channel="zalo-oa")
    await person(core, "oa-member-9", "member", "U001", name="Đoàn viên Chín", channel="zalo-oa")
    try:
        yield OAProduct(core, runner, fake)
    finally:
        await runner.stop()
        await core.close()
        await fake.stop()


async def claimed(core: Core) -> int:
    from sqlalchemy import func, select

    async with core.sessions() as session:
        stmt = select(func.count()).select_from(InboundUpdate)
        stmt = stmt.where(InboundUpdate.channel == "zalo-oa")
        return int((await session.execute(stmt)).scalar_one())


async def test_a_signed_staff_message_is_answered_in_the_group_once_even_when_replayed(oa):
    event = oa.fake.oa_group_event(STAFF, GROUP, "/cases")
    assert await oa.send(event) == 200
    assert len(oa.replies()) == 1  # the open-case list, in the group
    assert await oa.send(event) == 200  # Zalo's retry, or a replay inside the window
    assert len(oa.replies()) == 1 and await claimed(oa.core) == 1


async def test_forged_and_stale_events_are_refused(oa):
    event = oa.fake.oa_group_event(STAFF, GROUP, "/cases")
    assert await oa.send(event, signature="mac=" + "0" * 64) == 403
    assert await oa.send(event, signature="") == 403
    tampered = {**event, "sender": {"id": "someone-else"}}
    good = oa.fake.oa_signature(b"{}", event["timestamp"])
    assert await oa.send(tampered, signature=good) == 403
    hour_ago = int(time.time() * 1000) - 3_600_000
    stale = oa.fake.oa_group_event(STAFF, GROUP, "/cases", timestamp_ms=hour_ago)
    assert await oa.send(stale) == 403  # correctly signed, but captured and sent again later
    ahead = oa.fake.oa_group_event(STAFF, GROUP, "/cases", timestamp_ms=hour_ago + 7_200_000)
    assert await oa.send(ahead) == 403
    assert oa.replies() == [] and await claimed(oa.core) == 0


async def test_members_strangers_echoes_and_unbound_groups_are_ignored_silently(oa, caplog):
    for event in (
        oa.fake.oa_group_event("oa-member-9", GROUP, "/cases"),  # registered, but a member
        oa.fake.oa_group_event("stranger-77", GROUP, "Xin chào cả nhóm"),
        oa.fake.oa_group_event(STAFF, "g-unbound", "/cases"),
        oa.fake.oa_group_event(STAFF, GROUP, "/cases", event_name="oa_send_group_text"),
        oa.fake.oa_group_event("stranger-77", GROUP, event_name="user_send_group_image"),
    ):
        assert await oa.send(event) == 200
    assert oa.fake.oa_sent == [] and await claimed(oa.core) == 0
    logged = caplog.text
    assert "stranger-77" not in logged and "Xin chào" not in logged and "oa-member-9" not in logged


async def test_a_staff_photo_in_the_group_never_breaks_anything(oa):
    event = oa.fake.oa_group_event(
        STAFF, GROUP, event_name="user_send_group_image", image_url=oa.fake.file_url()
    )
    assert await oa.send(event) == 200
    assert await claimed(oa.core) == 1  # handled through the core: no flow runs in a group


async def test_a_staff_member_links_their_oa_account_with_a_code_typed_in_the_group(oa):
    """Registered on the Zalo bot, they ask for a code there and type it in the OA group; their
    existing messenger confirms (staff may use the web admin); then the group hears them."""
    from handlers.linking import LINK_MINUTES
    from storage.store import SqlStore

    lead = await person(oa.core, "zalo-lead-1", "staff", "U001", name="Cán bộ Hà", channel="zalo")
    async with oa.core.sessions() as session, session.begin():
        code = await SqlStore(session).create_link_code(lead.id, LINK_MINUTES)
    assert await oa.send(oa.fake.oa_group_event("oa-lead-1", GROUP, f"/link {code}")) == 200
    assert "confirm" in oa.replies()[-1].lower() or "xác nhận" in oa.replies()[-1].lower()
    async with oa.core.sessions() as session, session.begin():
        done = await SqlStore(session).decide_link(lead.id, None, True)
    assert done is not None and done.accepted
    async with oa.core.sessions() as session:
        from storage.bindings import acts_in_group

        assert await acts_in_group(session, "zalo-oa", GROUP, "oa-lead-1")
        assert not await acts_in_group(session, "zalo-oa", "g-unbound", "oa-lead-1")
