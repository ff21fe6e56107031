"""An update an instance kept in the inbox (acknowledged) but never handled, because it died,
is handled by the leader within seconds, not when some instance next restarts; one kept a
moment ago (a live instance is handling it) is left alone."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot import app as app_module
from bot.channels.telegram import update_key
from storage.models import InboxUpdate, utcnow
from tests.telegram_harness import running_bot
from tests.test_restart import free_port

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


async def test_the_leader_handles_an_update_a_dead_instance_left_in_the_inbox(
    tmp_path, db_url, monkeypatch
):
    monkeypatch.setattr(app_module, "ORPHAN_CHECK_SECONDS", 0.05)
    port = free_port()
    async with running_bot(
        tmp_path,
        db_url,
        telegram_mode="webhook",
        telegram_webhook_secret="s3cr3t-webhook-token",
        web_port=port,
        public_url=f"http://127.0.0.1:{port}",
    ) as h:
        bot_id = h.runner.telegram.bot.id
        orphan = h.fake.user_text(7301, "/start")
        in_hand = h.fake.user_text(7302, "/start")
        dispatcher = h.core.dispatcher
        # Another instance acknowledged both and died; one of them only just now.
        await dispatcher.inbox_store("telegram", [(update_key(bot_id, orphan), orphan)])
        async with h.core.sessions() as session, session.begin():
            await session.execute(
                update(InboxUpdate).values(received_at=utcnow() - timedelta(minutes=2))
            )
        await dispatcher.inbox_store("telegram", [(update_key(bot_id, in_hand), in_hand)])

        out = await h.fake.wait_for_messages(7301, 1, timeout=10)
        assert "Grassroots" in out[0]["text"]
        assert h.fake.messages_to(7302) == []  # within the grace: its instance may be alive
        for _ in range(100):  # cleared once handled, just after the answer went out
            async with h.core.sessions() as session:
                left = (await session.execute(select(col(InboxUpdate.update_key)))).scalars().all()
            if len(left) == 1:
                break
            await asyncio.sleep(0.05)
        assert left == [update_key(bot_id, in_hand)]
