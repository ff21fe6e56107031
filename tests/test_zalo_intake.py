"""Zalo intake: an idle server that ignores `timeout`, a crash with updates received but not
handled, and an outage while replying."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.channels.context import ChannelContext
from bot.channels.zalo import ZaloChannel
from bot.channels.zalo_client import ZaloBotClient
from storage.models import InboxUpdate
from tests import test_zalo_e2e
from tests.test_zalo_e2e import UPLOAD_LIMIT, Rig

rig = test_zalo_e2e.rig  # the fixture, shared


async def test_an_idle_bot_does_not_spin_against_a_server_that_ignores_the_poll_timeout(
    rig: Rig,
) -> None:
    rig.fake.ignore_timeout = True
    await rig.channel.start_polling()
    await asyncio.sleep(0.2)
    before = len(rig.fake.poll_answers)
    await asyncio.sleep(3)
    polls = len(rig.fake.poll_answers) - before
    assert polls <= 10, f"{polls} getUpdates calls in 3 s of idling"
    out = await rig.say("zi-1", "/start")  # and it still answers
    assert out


async def test_an_update_received_but_not_handled_at_a_crash_is_handled_after_the_restart(
    rig: Rig,
) -> None:
    fake, core = rig.fake, rig.core
    fake.delay_next("file", 60)  # the photo download hangs until the "crash"
    await rig.channel.start_polling()
    fake.user_image("zi-2")
    for _ in range(500):
        if await rig.count(InboxUpdate) == 1 and fake.poll_answers:
            break
        await asyncio.sleep(0.02)
    assert await rig.count(InboxUpdate) == 1
    async with core.sessions() as session:  # kept sealed: it says who wrote what
        kept = (await session.execute(select(InboxUpdate))).scalar_one()
    assert set(kept.payload) == {"sealed"}
    # The process dies: nothing gets to finish or clean up.
    for task in [rig.channel._poller, *rig.channel.inflight.tasks]:
        assert task is not None
        task.cancel()
    await asyncio.gather(rig.channel._poller, *rig.channel.inflight.tasks, return_exceptions=True)
    rig.channel._poller = None
    assert fake.messages_to("zi-2") == []

    client = ZaloBotClient(token=fake.bot_token, api_url=fake.url, request_timeout=5)
    again = ZaloChannel(
        client,
        ChannelContext(
            core.dispatcher, core.translations, core.settings.attachments_dir, UPLOAD_LIMIT
        ),
    )
    try:
        await again.start_polling()
        await fake.wait_for_messages("zi-2", 1, timeout=10)
        await again.drain()
        before = len(fake.messages_to("zi-2"))
        fake.user_image("zi-3")  # the same photo from someone else, for comparison
        await fake.wait_for_messages("zi-3", 1, timeout=10)
        await again.drain()
    finally:
        await again.stop()
    assert len(fake.messages_to("zi-2")) == before == len(fake.messages_to("zi-3"))
    async with core.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(InboxUpdate))).scalar() == 0


async def test_a_reply_during_an_outage_arrives_after_recovery(rig: Rig) -> None:
    fake, core = rig.fake, rig.core
    assert core.delivery is not None
    worker = asyncio.create_task(core.delivery.run())
    try:
        await rig.channel.start_polling()
        fake.fail_next("sendMessage", 502, times=3)  # every try of the direct reply
        fake.user_text("zi-4", "/help")
        await fake.wait_for_messages("zi-4", 1, timeout=20)
    finally:
        core.delivery.stop()
        await asyncio.gather(worker, return_exceptions=True)
    assert "/report" in fake.texts_to("zi-4")[0]
