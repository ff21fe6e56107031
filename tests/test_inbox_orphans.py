"""An update an instance kept in the inbox (acknowledged) but never handled, because it died,
is handled by the leader within seconds, not when some instance next restarts. A live
instance's rows are its own however long they wait (under load it is slow, not dead): the
leader asks PostgreSQL whether the row's owner still holds its lock (storage/liveness.py).
On SQLite one instance runs, and it never "adopts" its own queued rows."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot import app as app_module
from bot.channels.telegram import update_key
from storage.liveness import InstanceLock
from storage.models import InboxUpdate, utcnow
from tests.telegram_harness import running_bot
from tests.test_restart import free_port


async def _keep(h, user: int, owner: int | None) -> str:
    """A /start from `user`, kept two minutes ago by instance `owner`, not handled."""
    raw = h.fake.user_text(user, "/start")
    key = update_key(h.runner.telegram.bot.id, raw)
    dispatcher = h.core.dispatcher
    await dispatcher.inbox_store("telegram", [(key, raw)])
    async with h.core.sessions() as session, session.begin():
        await session.execute(
            update(InboxUpdate)
            .where(col(InboxUpdate.update_key) == key)
            .values(received_at=utcnow() - timedelta(minutes=2), owner=owner)
        )
    return key


def _webhook_bot(tmp_path, db_url):
    port = free_port()
    return running_bot(
        tmp_path,
        db_url,
        telegram_mode="webhook",
        telegram_webhook_secret="s3cr3t-webhook-token",
        web_port=port,
        public_url=f"http://127.0.0.1:{port}",
    )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_leader_adopts_a_dead_instances_updates_and_not_a_slow_ones(
    tmp_path, db_url, monkeypatch
):
    monkeypatch.setattr(app_module, "ORPHAN_CHECK_SECONDS", 0.05)
    slow, dead = InstanceLock(db_url), InstanceLock(db_url)
    slow_number = await slow.acquire()  # alive: it holds its lock, and is merely slow
    dead_number = await dead.acquire()
    await dead.close()  # its session ended: what kill -9 does
    try:
        async with _webhook_bot(tmp_path, db_url) as h:
            in_hand = await _keep(h, 7302, slow_number)
            await _keep(h, 7301, dead_number)

            out = await h.fake.wait_for_messages(7301, 1, timeout=10)
            assert "Grassroots" in out[0]["text"]
            for _ in range(100):  # cleared once handled, just after the answer went out
                async with h.core.sessions() as session:
                    left = (
                        (await session.execute(select(col(InboxUpdate.update_key)))).scalars().all()
                    )
                if len(left) == 1:
                    break
                await asyncio.sleep(0.05)
            assert left == [in_hand]  # the live instance's, two minutes old, left to it
            assert h.fake.messages_to(7302) == []
    finally:
        await slow.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_one_instance_on_sqlite_never_adopts_its_own_queued_updates(
    tmp_path, db_url, monkeypatch
):
    monkeypatch.setattr(app_module, "ORPHAN_CHECK_SECONDS", 0.01)
    async with _webhook_bot(tmp_path, db_url) as h:
        # Queued by this very instance (under load), not yet handled: not to be taken again.
        await _keep(h, 7303, None)
        await asyncio.sleep(0.3)  # thirty orphan checks' worth, were there any
        assert h.fake.messages_to(7303) == []
        async with h.core.sessions() as session:
            assert len((await session.execute(select(InboxUpdate))).all()) == 1
