"""kill -9 a real `grassroots run` while it handles photos it has fetched and acknowledged:
after a restart every one of them is handled, and nothing handled before the kill is handled
again."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from sqlalchemy import select

from storage.db import create_engine, session_factory
from storage.models import InboxUpdate
from tests.cli import spawn_run, stop_run
from tests.fake_telegram import FakeTelegram
from tests.test_outbox_kill import wait_until

TOKEN = "123456:INBOX-KILL"
EARLY = 7300  # answered before the kill
PHOTOS = [7301, 7302, 7303, 7304]  # fetched, acknowledged, still downloading at the kill
LATE = 7305  # sends a photo after the restart: what each photo should get


async def inbox_rows(database_url: str) -> list[dict]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            return [row.payload for row in (await session.execute(select(InboxUpdate))).scalars()]
    finally:
        await engine.dispose()


async def test_kill_minus_nine_after_updates_were_acknowledged_loses_none_of_them(
    tmp_path: Path, sqlite_url: str
) -> None:
    fake = FakeTelegram()
    await fake.start()
    env = {
        **os.environ,
        "DATABASE_URL": sqlite_url,
        "DATA_DIR": str(tmp_path),
        "ATTACHMENTS_DIR": str(tmp_path / "att"),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": "0",
        "WEB_CHAT": "false",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": fake.url,
        "ZALO_BOT_TOKEN": "",
    }
    proc = await spawn_run(env, tmp_path, "--demo", "--empty")
    try:
        fake.user_text(EARLY, "/start")
        await fake.wait_for_messages(EARLY, 2, timeout=60)  # a welcome and the first question
        await asyncio.sleep(0.5)
        early = len(fake.messages_to(EARLY))
        fake.delay_next("getFile", 120, times=len(PHOTOS))  # downloads hang until the kill
        last = 0
        for user in PHOTOS:
            last = fake.user_photo(user)["update_id"]
        await wait_until(
            lambda: fake.confirmed_offset > last and fake.calls["getFile"] == len(PHOTOS),
            60,
            "the photos acknowledged and in hand",
        )
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        assert all(fake.messages_to(user) == [] for user in PHOTOS)
        kept = await inbox_rows(sqlite_url)
        assert len(kept) == len(PHOTOS)
        assert all(set(payload) == {"sealed"} for payload in kept)  # who sent what: sealed

        proc = await spawn_run(env, tmp_path, "--demo", "--empty")
        fake.user_photo(LATE)
        for user in [*PHOTOS, LATE]:
            await fake.wait_for_messages(user, 1, timeout=60)
        await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
    finally:
        await stop_run(proc)
        await fake.stop()

    expected = fake.texts_to(LATE)
    for user in PHOTOS:
        assert fake.texts_to(user) == expected  # each handled, once
    assert len(fake.messages_to(EARLY)) == early  # not handled again after the restart
    assert not fake.pending_updates
