"""kill -9 while a poll's invitations go out to 5,000 collaborators: after a restart everyone
has exactly one invitation, except messages that were on the wire at the kill (which the
outbox resends, marked in doubt), and the restarted scheduler opens no second round."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bot.app import build_core
from scheduler.polls import run_polls
from storage.db import create_engine, session_factory
from storage.models import Identity, OutboxMessage, Person, PollInvite, PollRound
from tests.cli import spawn_run, stop_run
from tests.conftest import make_settings
from tests.polls_helpers import load_poll
from tests.test_outbox_kill import SlowAnswers, wait_until

TOKEN = "123456:POLL-KILL"
COLLABORATORS = 5000
KILL_AFTER = 1500
FIRST_CHAT = 800_000


def invitations(fake: SlowAnswers) -> Counter[str]:
    return Counter(
        str(m["chat_id"])
        for m in fake.sent
        if m["method"] == "sendMessage" and "📊" in m.get("text", "")
    )


async def rows(database_url: str) -> tuple[list[OutboxMessage], int, int]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            outbox = list((await session.execute(select(OutboxMessage))).scalars())
            rounds = (
                await session.execute(select(func.count()).select_from(PollRound))
            ).scalar_one()
            invites = (
                await session.execute(select(func.count()).select_from(PollInvite))
            ).scalar_one()
    finally:
        await engine.dispose()
    return outbox, rounds, invites


async def test_kill_while_inviting_5000_resumes_without_duplicates(
    tmp_path: Path, sqlite_url: str
) -> None:
    core = await build_core(make_settings(tmp_path, sqlite_url))
    now = datetime.now(UTC)
    async with core.sessions() as session, session.begin():
        await session.execute(
            insert(Person),
            [
                {"id": i + 1, "display_name": f"CTV {i}", "role": "collaborator", "created_at": now}
                for i in range(COLLABORATORS)
            ],
        )
        await session.execute(
            insert(Identity),
            [
                {
                    "person_id": i + 1,
                    "channel": "telegram",
                    "external_id": str(FIRST_CHAT + i),
                    "created_at": now,
                }
                for i in range(COLLABORATORS)
            ],
        )
    local = now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).replace(tzinfo=None, microsecond=0)
    await load_poll(
        core, "pulse-anonymous", schedule={"once": local.isoformat(), "window_hours": 48}
    )
    assert await run_polls(core) == COLLABORATORS  # one transaction: the round and 5,000 rows
    await core.close()

    fake = SlowAnswers()
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
        "TELEGRAM_RATE_PER_SECOND": "2000",
        "ZALO_BOT_TOKEN": "",
    }
    proc = await spawn_run(env, tmp_path)
    try:
        await wait_until(lambda: len(fake.sent) >= KILL_AFTER, 120, f"{KILL_AFTER} invitations")
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await asyncio.sleep(0.5)
        before = invitations(fake)
        outbox, _, _ = await rows(sqlite_url)
        in_flight = {r.chat_id for r in outbox if r.status == "sending"}
        assert 0 < sum(before.values()) < COLLABORATORS and max(before.values()) == 1

        proc = await spawn_run(env, tmp_path)
        await wait_until(  # counting 5,000 texts only once there can be as many: cheap polls
            lambda: len(fake.sent) >= COLLABORATORS and len(invitations(fake)) == COLLABORATORS,
            180,
            "every invitation delivered",
        )
        await asyncio.sleep(1.0)  # let a resent in-doubt row, if any, land too
    finally:
        await stop_run(proc)
        await fake.stop()

    counts = invitations(fake)
    outbox, rounds, invites = await rows(sqlite_url)
    twice = {chat for chat, n in counts.items() if n > 1}
    print(
        f"\n{sum(before.values())} invitations before the kill, {len(in_flight)} in flight; "
        f"after the restart {len(counts)}/{COLLABORATORS} collaborators invited, {len(twice)} twice"
    )
    assert set(counts) == {str(FIRST_CHAT + i) for i in range(COLLABORATORS)}
    assert rounds == 1 and invites == COLLABORATORS  # the restarted job opened nothing new
    assert len(outbox) == COLLABORATORS
    assert twice <= in_flight & set(before)  # only what was on the wire at the kill
    assert max(counts.values()) <= 2
