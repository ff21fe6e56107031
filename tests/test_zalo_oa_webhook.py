"""What staff type in a Zalo OA group reaches the core only when Zalo signed it, recently, once,
and the sender is registered staff; the OA's own echoes and everyone else are ignored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.app import Core
from handlers.linking import LINK_MINUTES
from storage.bindings import acts_in_group
from storage.casecards import card_message
from storage.models import InboundUpdate, Report
from storage.store import SqlStore
from tests.polls_helpers import person
from tests.test_casework_rules import reporter_with_case
from tests.zalo_oa_harness import GROUP, STAFF, OAProduct, running_oa


@pytest.fixture
async def oa(tmp_path, sqlite_url, migrated_sqlite) -> AsyncIterator[OAProduct]:
    async with running_oa(tmp_path, sqlite_url, migrated_sqlite) as product:
        yield product


async def claimed(core: Core) -> int:
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
    lead = await person(oa.core, "zalo-lead-1", "staff", "U001", name="Cán bộ Hà", channel="zalo")
    async with oa.core.sessions() as session, session.begin():
        code = await SqlStore(session).create_link_code(lead.id, LINK_MINUTES)
    assert await oa.send(oa.fake.oa_group_event("oa-lead-1", GROUP, f"/link {code}")) == 200
    assert "confirm" in oa.replies()[-1].lower() or "xác nhận" in oa.replies()[-1].lower()
    async with oa.core.sessions() as session, session.begin():
        done = await SqlStore(session).decide_link(lead.id, None, True)
    assert done is not None and done.accepted
    async with oa.core.sessions() as session:
        assert await acts_in_group(session, "zalo-oa", GROUP, "oa-lead-1")
        assert not await acts_in_group(session, "zalo-oa", "g-unbound", "oa-lead-1")


async def test_a_reply_quoting_the_card_names_its_case(oa):
    await reporter_with_case(oa.core)
    posted = ""
    for _ in range(300):  # the running worker posts the card and remembers its message id
        async with oa.core.sessions() as session:
            posted = await card_message(session, 1, "zalo-oa", GROUP)
        if posted:
            break
        await asyncio.sleep(0.05)
    card = next(m for m in oa.fake.group_messages(GROUP) if "PA-0001 1" in m["text"])
    assert card["message_id"] == posted
    other = oa.fake.oa_group_event(STAFF, GROUP, "1", quote="not-a-card")
    assert await oa.send(other) == 200
    assert "PA-0042 1" in oa.replies()[-1]  # which case? (an example code)
    assert await oa.send(oa.fake.oa_group_event(STAFF, GROUP, "1", quote=card["message_id"])) == 200
    async with oa.core.sessions() as session:
        assert (await session.execute(select(Report.status))).scalar_one() == "acknowledged"
