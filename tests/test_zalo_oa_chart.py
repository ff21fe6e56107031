"""The leaders' digest reaches a Zalo OA group with its chart, uploaded and posted as an image."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from scheduler.digest import daily_digest
from storage import admin
from tests.zalo_oa_harness import OAProduct, running_oa

LEADERS = "g-leaders-009"


@pytest.fixture
async def oa(tmp_path, sqlite_url, migrated_sqlite) -> AsyncIterator[OAProduct]:
    async with running_oa(tmp_path, sqlite_url, migrated_sqlite) as product:
        yield product


async def test_the_digest_chart_is_an_image_message_in_the_leaders_oa_group(oa):
    async with oa.core.sessions() as session, session.begin():
        await admin.bind_chat(session, "leaders", "zalo-oa", LEADERS)
    assert await daily_digest(oa.core) == 1
    await oa.fake.wait_for_group_messages(LEADERS, 2, timeout=10)
    text, chart = oa.fake.group_messages(LEADERS)[:2]
    assert "image" not in text and text["text"].strip()
    assert chart["image"] in oa.fake.oa_uploads
    assert oa.fake.oa_uploads[chart["image"]].startswith(b"\x89PNG")  # the chart itself
    assert chart["text"]  # with its caption
    charts = list((oa.core.settings.attachments_dir).rglob("*.png"))
    assert oa.fake.oa_uploads[chart["image"]] in [c.read_bytes() for c in charts]
