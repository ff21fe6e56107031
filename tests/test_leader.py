"""One leader among instances (scheduler/leader.py over storage/leader.py): exactly one holds the
PostgreSQL lock, a leader whose connection dies steps down at once and another takes over, and
a job run by two instances during a handover does its work once."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy import func, insert, select

from bot.app import Runner, build_core
from scheduler.leader import Election, Leadership
from scheduler.polls import run_polls
from storage.db import create_engine, session_factory
from storage.leader import (
    LEADER_KEY,
    AdvisoryLock,
    SoleLeader,
    current_holder,
    holder_name,
    leader_lock,
)
from storage.models import Identity, OutboxMessage, Person, PollRound
from storage.outbox import counts as outbox_counts
from storage.outbox import enqueue
from tests.conftest import make_settings
from tests.polls_helpers import load_poll

postgres = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


class Office:
    """Records what an election made this instance do."""

    def __init__(self) -> None:
        self.elected = asyncio.Event()
        self.deposed = asyncio.Event()
        self.terms = 0

    async def take(self) -> None:
        self.terms += 1
        self.deposed.clear()
        self.elected.set()

    async def leave(self) -> None:
        self.elected.clear()
        self.deposed.set()


def election(url: str, office: Office, heartbeat: float = 60.0) -> tuple[Election, Leadership]:
    leadership = Leadership()
    # A long heartbeat: stepping down must come from the connection's end itself.
    run = Election(
        leader_lock(url), leadership, office.take, office.leave, 0.05, heartbeat_seconds=heartbeat
    )
    return run, leadership


async def kill_holder(url: str) -> None:
    """What kill -9 of the leader does to PostgreSQL: the lock's connection ends."""
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        ended = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' "
            "AND granted AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            LEADER_KEY,
        )
    finally:
        await conn.close()
    assert ended == 1


@postgres
async def test_one_instance_leads_and_another_takes_over_when_its_connection_dies(
    db_url: str,
) -> None:
    first, second = Office(), Office()
    run_a, lead_a = election(db_url, first)
    run_b, lead_b = election(db_url, second)
    try:
        await run_a.start()
        await run_b.start()
        assert lead_a.is_leader and first.terms == 1  # a lone instance leads before start returns
        await asyncio.sleep(0.3)  # the follower tried several times meanwhile
        assert not lead_b.is_leader and second.terms == 0

        started = time.monotonic()
        await kill_holder(db_url)
        await asyncio.wait_for(first.deposed.wait(), 2)
        assert not lead_a.is_leader  # stepped down without waiting for its heartbeat
        await asyncio.wait_for(second.elected.wait(), 5)
        print(f"\nsuccessor in office {time.monotonic() - started:.2f} s after the kill")
        assert lead_b.is_leader and second.terms == 1

        await asyncio.sleep(0.3)  # the deposed one keeps trying, and stays a follower
        assert not lead_a.is_leader and first.terms == 1
    finally:
        await run_b.stop()
        await run_a.stop()


@postgres
async def test_a_leader_that_stops_hands_over_and_names_itself_for_operators(
    db_url: str,
) -> None:
    first, second = Office(), Office()
    run_a, lead_a = election(db_url, first)
    run_b, lead_b = election(db_url, second)
    lock = AdvisoryLock(db_url)
    try:
        await run_a.start()
        await run_b.start()
        engine = create_engine(db_url)
        async with session_factory(engine)() as session:
            assert await current_holder(session) == holder_name()
        await engine.dispose()
        assert not await lock.try_acquire(lambda: None)  # a third party cannot take it either

        await run_a.stop()
        assert first.deposed.is_set() and not lead_a.is_leader
        await asyncio.wait_for(second.elected.wait(), 5)
        assert lead_b.is_leader
    finally:
        await lock.close()
        await run_b.stop()
        await run_a.stop()


async def test_on_sqlite_the_one_process_always_leads(sqlite_url: str) -> None:
    assert isinstance(leader_lock(sqlite_url), SoleLeader)
    office = Office()
    run, leadership = election(sqlite_url, office)
    await run.start()
    assert leadership.is_leader and office.terms == 1
    await run.stop()
    assert not leadership.is_leader and office.deposed.is_set()


@postgres
async def test_two_instances_running_the_polls_job_at_once_open_one_round_and_invite_once(
    tmp_path: Path, migrated_db_url: str
) -> None:
    """A handover mid-run: the old leader's polls job still in its transaction while the new
    leader's starts. The unique round and the outbox keys make the work happen once."""
    a = await build_core(make_settings(tmp_path, migrated_db_url))
    b = await build_core(make_settings(tmp_path, migrated_db_url), migrate=False)
    try:
        now = datetime.now(UTC)
        people = 200
        async with a.sessions() as session, session.begin():
            await session.execute(
                insert(Person),
                [
                    {
                        "id": i + 1,
                        "display_name": f"CTV {i}",
                        "role": "collaborator",
                        "created_at": now,
                    }
                    for i in range(people)
                ],
            )
            await session.execute(
                insert(Identity),
                [
                    {
                        "person_id": i + 1,
                        "channel": "telegram",
                        "external_id": str(9000 + i),
                        "created_at": now,
                    }
                    for i in range(people)
                ],
            )
        local = now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).replace(tzinfo=None, microsecond=0)
        await load_poll(a, "pulse-anonymous", schedule={"once": local.isoformat()})
        opened = await asyncio.gather(run_polls(a), run_polls(b))
        assert sorted(opened) == [0, people]
        assert await run_polls(b) == 0  # and the next minute's run finds nothing to do
        async with a.sessions() as session:
            rounds = (await session.execute(select(func.count()).select_from(PollRound))).scalar()
            rows = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar()
        assert rounds == 1 and rows == people
    finally:
        await b.close()
        await a.close()


@postgres
async def test_a_message_queued_on_any_instance_wakes_the_leaders_delivery_at_once(
    tmp_path: Path, migrated_db_url: str
) -> None:
    """A follower's case card or hot alert does not wait for the leader's next idle poll."""
    core = await build_core(make_settings(tmp_path, migrated_db_url))
    woken = asyncio.Event()
    lock = AdvisoryLock(migrated_db_url, on_outbox=woken.set)
    try:
        assert await lock.try_acquire(lambda: None)
        async with core.sessions() as session, session.begin():
            await enqueue(session, "wake:1", "telegram", "42", {"text": "hi"})
            await asyncio.sleep(0.2)
            assert not woken.is_set()  # not before the row is committed
        await asyncio.wait_for(woken.wait(), 2)
    finally:
        await lock.close()
        await core.close()


@postgres
async def test_a_runner_that_loses_its_lock_stops_its_jobs_and_delivery_then_leads_again(
    tmp_path: Path, migrated_db_url: str
) -> None:
    """The leader's connection is cut (a network blip, an operator's pg_terminate_backend):
    it stops its scheduler and delivery worker at once and, being the only instance, takes
    office again a few seconds later with a fresh scheduler and a working worker."""
    core = await build_core(make_settings(tmp_path, migrated_db_url))
    runner = Runner(core)
    await runner.start()
    try:
        first_scheduler, first_delivery = runner.scheduler, runner._delivery
        assert core.leadership.is_leader and first_scheduler.running
        assert first_delivery is not None
        await kill_holder(migrated_db_url)
        for _ in range(100):
            if not first_scheduler.running and first_delivery.done():
                break
            await asyncio.sleep(0.02)
        assert not first_scheduler.running and first_delivery.done()

        for _ in range(300):
            if core.leadership.is_leader and runner.scheduler is not first_scheduler:
                break
            await asyncio.sleep(0.05)
        assert core.leadership.is_leader and runner.scheduler.running
        assert core.leadership.terms == 2
        async with core.sessions() as session, session.begin():
            await enqueue(session, "after:1", "web", "visitor", {"text": "still delivered"})
        for _ in range(200):
            async with core.sessions() as session:
                if (await outbox_counts(session)).get("sent") == 1:
                    break
            await asyncio.sleep(0.05)
        async with core.sessions() as session:
            assert await outbox_counts(session) == {"sent": 1}
    finally:
        await runner.stop()
        await core.close()
