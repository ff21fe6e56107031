"""kill -9 a real `grassroots run` while it delivers 1,000 outbox messages; after a restart every
message is delivered, in order per chat, and only the messages on the wire at the kill can have
arrived twice.

Telegram has no idempotency key and no way to ask what a bot has sent, so a message whose
request reached the server but whose "sent" mark was not yet committed is ambiguous: the
restarted worker cannot know whether it arrived. The worker marks a row "sending" (committed)
before its request goes out and "sent" right after the answer, so the ambiguous rows are
exactly those still "sending" in the database at the kill. It sends them again, marked in doubt
(at-least-once: an alert that arrives twice beats one that never does). The fake server here
answers each send a little after recording it, so that window is open at the kill and the test
sees real duplicates, and checks they are exactly the in-doubt rows that had been delivered.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import build_core
from storage.db import create_engine, session_factory
from storage.models import OutboxMessage
from storage.outbox import enqueue, status_summary
from tests.cli import spawn_run, stop_run
from tests.conftest import make_settings
from tests.fake_telegram import FakeTelegram

TOKEN = "123456:KILL-TEST"
CHATS = [str(700_000 + i) for i in range(20)]
PER_CHAT = 50  # 20 chats × 50 = 1,000 messages
KILL_AFTER = 300  # deliveries recorded by the server before the kill
ANSWER_DELAY = 0.03  # between recording a send and answering it: the ambiguous window


class SlowAnswers(FakeTelegram):
    """Records a send at once but answers it a little later, like a distant server."""

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        message = await super()._api_sendMessage(params)
        await asyncio.sleep(ANSWER_DELAY)
        return message


def text(chat: str, n: int) -> str:
    return f"{chat} #{n}"


def deliveries(fake: FakeTelegram) -> Counter[str]:
    return Counter(m["text"] for m in fake.sent if m["method"] == "sendMessage")


async def statuses(database_url: str) -> tuple[dict[str, OutboxMessage], dict[str, Any]]:
    """Every outbox row by its text, and what `grassroots outbox status` reports."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = (await session.execute(select(OutboxMessage))).scalars().all()
            summary = await status_summary(session)
    finally:
        await engine.dispose()
    return {row.payload["text"]: row for row in rows}, summary


async def wait_until(condition: Any, seconds: float, what: str) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_kill_minus_nine_mid_delivery_loses_nothing_and_repeats_only_what_was_in_flight(
    tmp_path: Path, migrated_db_url: str
) -> None:
    db_url = migrated_db_url  # a copy of the worker's migrated database: no migrating here
    fake = SlowAnswers()
    await fake.start()
    core = await build_core(make_settings(tmp_path, db_url))
    async with core.sessions() as session, session.begin():
        for n in range(PER_CHAT):
            for chat in CHATS:
                await enqueue(
                    session, f"kill:{chat}:{n}", "telegram", chat, {"text": text(chat, n)}
                )
    await core.close()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DATA_DIR": str(tmp_path),
        "ATTACHMENTS_DIR": str(tmp_path / "att"),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": "0",
        "WEB_CHAT": "false",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": fake.url,
        "TELEGRAM_RATE_PER_SECOND": "2000",
        "TELEGRAM_RATE_PER_CHAT_PER_SECOND": "2000",
        "ZALO_BOT_TOKEN": "",
    }
    total = len(CHATS) * PER_CHAT
    proc = await spawn_run(env, tmp_path)
    try:
        await wait_until(lambda: len(fake.sent) >= KILL_AFTER, 60, f"{KILL_AFTER} deliveries")
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await asyncio.sleep(0.5)  # a request already in the kernel may still land: let it

        before = deliveries(fake)
        rows, _ = await statuses(db_url)
        in_flight = {t for t, row in rows.items() if row.status == "sending"}
        assert 0 < sum(before.values()) < total, "the kill did not land mid-delivery"
        assert max(before.values()) == 1
        # The protocol: a delivered message is recorded sent, or was on the wire at the kill;
        # nothing recorded sent went undelivered; at most one row per delivery slot in flight.
        assert {t for t in before} <= {t for t, row in rows.items() if row.status == "sent"} | (
            in_flight
        )
        assert all(before[t] == 1 for t, row in rows.items() if row.status == "sent")
        assert len(in_flight) <= len(CHATS)  # one per chat at most: chats go in order

        proc = await spawn_run(env, tmp_path)
        await wait_until(  # counting the texts only once there can be as many: cheap polls
            lambda: len(fake.sent) >= total and len(deliveries(fake)) == total,
            60,
            "every message delivered",
        )
        for _ in range(500):  # the last "sent" marks are committed just after the answers
            final, summary = await statuses(db_url)
            if all(row.status == "sent" for row in final.values()):
                break
            await asyncio.sleep(0.02)
    finally:
        await stop_run(proc)
        await fake.stop()

    counts = deliveries(fake)
    ambiguous = in_flight & set(before)  # reached the server, not yet recorded as sent
    duplicated = {t for t, n in counts.items() if n > 1}
    print(
        f"\n{sum(before.values())} delivered before the kill, {len(in_flight)} rows in flight "
        f"({len(ambiguous)} of them had reached the server); after the restart "
        f"{len(counts)}/{total} delivered, {len(duplicated)} twice"
    )
    assert proc.returncode == 0  # the second run stopped cleanly
    assert set(counts) == {text(chat, n) for chat in CHATS for n in range(PER_CHAT)}
    assert all(row.status == "sent" for row in final.values())
    # Exactly the ambiguous messages arrived twice; nothing else did, nothing more than twice.
    assert duplicated == ambiguous
    assert max(counts.values()) <= 2
    assert {t for t, row in final.items() if row.in_doubt} == in_flight
    for chat in CHATS:  # in order per chat; a resent message follows its first copy directly
        numbers = [int(t.rsplit("#", 1)[1]) for t in fake.texts_to(chat)]
        assert numbers == sorted(numbers)
        assert sorted(set(numbers)) == list(range(PER_CHAT))
    assert summary["sent"] == total and summary["in_doubt"] == len(in_flight)
