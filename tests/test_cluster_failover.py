"""Two `grassroots run` instances on one PostgreSQL database; kill -9 the leader while a poll
round's invitations go out. Another instance takes over within 15 s, everyone is invited, no
round opens twice, the platform's rate limit holds across the instances, and a message arrives
twice only if its row was on the wire at the kill and is flagged in doubt.

The leader is the instance whose lock connection PostgreSQL shows (storage/leader.py names the
connection after its process). The fake Bot API answers each send a little after recording it,
so sends are on the wire at the kill, and refuses (429) any send beyond its rate.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from bot.app import build_core
from storage.db import create_engine, session_factory
from storage.leader import current_holder
from storage.models import Identity, Person
from tests.cli import spawn_run, stop_run
from tests.conftest import make_settings
from tests.polls_helpers import load_poll
from tests.test_outbox_kill import SlowAnswers, wait_until
from tests.test_poll_kill import invitations, rows

TOKEN = "123456:FAILOVER"
INSTANCES = 2  # a third would only cost CPU: the lock lets one of any number through
COLLABORATORS = 600
RATE = 150  # sends per second, for the bot token as a whole: the fake refuses more
KILL_AFTER = 150
FIRST_CHAT = 900_000
TAKEOVER_LIMIT = 15.0


async def seed(tmp_path: Path, db_url: str) -> None:
    """A migrated database with the collaborators and a poll that opens now: the first
    leader's polls job opens the round and queues the invitations."""
    core = await build_core(make_settings(tmp_path, db_url))
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
    await core.close()


async def leader_pid(db_url: str) -> int | None:
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            holder = await current_holder(session)
    finally:
        await engine.dispose()
    return int(holder.rsplit(" ", 1)[1]) if holder else None


async def wait_for_leader(db_url: str, seconds: float, other_than: int | None = None) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pid = await leader_pid(db_url)
        if pid is not None and pid != other_than:
            return pid
        await asyncio.sleep(0.1)
    raise AssertionError(f"no instance took the lead within {seconds} s")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_kill_minus_nine_of_the_leader_mid_invitations_hands_over_within_15_s(
    tmp_path: Path, migrated_db_url: str
) -> None:
    db_url = migrated_db_url  # a copy of the worker's migrated database: no migrating here
    await seed(tmp_path, db_url)
    fake = SlowAnswers(rate_limit=RATE)
    await fake.start()
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
        # Paced a tenth under the fake's limit, as a deployment would be: sends paced exactly
        # at it reach the fake bunched up when CI loads both cores (one 429 seen so).
        "TELEGRAM_RATE_PER_SECOND": str(RATE * 0.9),
        "ZALO_BOT_TOKEN": "",
    }
    procs = [await spawn_run(env, tmp_path) for _ in range(INSTANCES)]
    try:
        await wait_until(
            lambda: len(invitations(fake)) >= KILL_AFTER, 120, f"{KILL_AFTER} invitations"
        )
        first = await wait_for_leader(db_url, 5)
        [leader] = [p for p in procs if p.pid == first]
        leader.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await leader.wait()
        before = invitations(fake)
        successor = await wait_for_leader(db_url, TAKEOVER_LIMIT + 5, other_than=first)
        takeover = time.monotonic() - killed
        # Generous: on CI this test shares two cores with the three-instance test; what is
        # asserted is that everyone is invited at all (the takeover time is asserted apart).
        await wait_until(
            lambda: len(invitations(fake)) == COLLABORATORS, 180, "every invitation delivered"
        )
        await asyncio.sleep(1.0)  # let a resent in-doubt row, if any, land too
        survivors = [p for p in procs if p is not leader]
        assert all(p.returncode is None for p in survivors)
        assert await leader_pid(db_url) == successor  # still the one leader, no flapping
    finally:
        await asyncio.gather(*(stop_run(proc) for proc in procs))
        await fake.stop()

    counts = invitations(fake)
    outbox, rounds, invites = await rows(db_url)
    in_doubt = {r.chat_id for r in outbox if r.in_doubt}
    twice = {chat for chat, n in counts.items() if n > 1}
    print(
        f"\n{sum(before.values())} invitations before the kill; instance {successor} led "
        f"{takeover:.1f} s after it; {len(counts)}/{COLLABORATORS} invited, {len(twice)} twice, "
        f"{len(in_doubt)} rows in doubt, {fake.calls['429']} sends refused (429)"
    )
    assert 0 < sum(before.values()) < COLLABORATORS, "the kill did not land mid-invitations"
    assert takeover < TAKEOVER_LIMIT
    assert set(counts) == {str(FIRST_CHAT + i) for i in range(COLLABORATORS)}
    assert rounds == 1 and invites == COLLABORATORS  # the new leader opened no second round
    assert len(outbox) == COLLABORATORS  # and queued no second invitation
    assert twice <= in_doubt & set(before)  # only rows on the wire at the kill, flagged
    assert max(counts.values()) <= 2
    assert fake.calls["429"] == 0  # the rate held across the instances, through the handover
