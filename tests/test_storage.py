"""Storage behaviour, run on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from handlers.ports import InviteUnavailable, Registration
from storage import admin, outbox
from storage.conversations import (
    ConcurrentUpdate,
    claim_update,
    load_conversation,
    save_conversation,
)
from storage.db import create_engine, session_factory
from storage.migrate import downgrade_sync, upgrade, upgrade_sync
from storage.models import OrgUnit, OutboxMessage, Report, utcnow
from storage.orgimport import import_units
from storage.seal import Sealer, new_key
from storage.search import is_search_object
from storage.store import SqlStore

UNITS = (
    "code,name,kind,host_kind,parent_code\n"
    "DUK,Đảng bộ Khối,party_committee,agency,\n"
    "C01,Chi bộ Sở Y tế,cell,agency,DUK\n"
    "C02,Chi bộ Công ty CP Dược phẩm,cell,state_enterprise_minority,DUK\n"
).encode()

# The search index's tables and index have no model (storage/search.py).
SEARCH_SKIPPED = {"include_name": lambda name, type_, _parents: not is_search_object(name, type_)}


@pytest.fixture
async def sessions(db_url):
    await upgrade(db_url)
    engine = create_engine(db_url)
    yield session_factory(engine, Sealer([new_key()]))
    await engine.dispose()


async def test_migrations_upgrade_downgrade_upgrade(db_url):
    await asyncio.to_thread(upgrade_sync, db_url)
    await asyncio.to_thread(downgrade_sync, db_url, "base")
    await asyncio.to_thread(upgrade_sync, db_url)
    await asyncio.to_thread(upgrade_sync, db_url)  # running it twice is harmless
    engine = create_engine(db_url)
    async with session_factory(engine)() as session:
        assert (await session.execute(select(func.count()).select_from(Report))).scalar_one() == 0
    await engine.dispose()


async def test_the_migrations_build_exactly_the_models(db_url):
    """A model change without its migration (or the reverse) fails here, on both databases."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    await upgrade(db_url)
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts=SEARCH_SKIPPED), SQLModel.metadata
            )
        )
    await engine.dispose()
    assert diff == []


async def test_org_import_is_all_or_nothing_and_idempotent(sessions):
    async with sessions() as s, s.begin():
        result = await import_units(s, UNITS)
    assert (result.created, result.updated, result.errors) == (3, 0, [])
    async with sessions() as s, s.begin():
        again = await import_units(s, UNITS)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    bad = UNITS + b"C03,,cell,agency,DUK\nC04,Chi bo,cell,ministry,NOPE\nC01,dup,cell,agency,\n"
    async with sessions() as s, s.begin():
        failed = await import_units(s, bad)
        await s.rollback()
    assert [e.split(":")[0] for e in failed.errors] == ["line 5", "line 6", "line 7"]
    assert "parent_code" in failed.errors[1] or "ministry" in failed.errors[1]
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(OrgUnit))).scalar_one() == 3
        parent = (await s.execute(select(OrgUnit).where(OrgUnit.code == "C01"))).scalar_one()
        duk = (await s.execute(select(OrgUnit).where(OrgUnit.code == "DUK"))).scalar_one()
        assert parent.parent_id == duk.id


async def test_a_replayed_update_is_claimed_once(sessions):
    async with sessions() as s, s.begin():
        assert await claim_update(s, "telegram", "42")
        assert not await claim_update(s, "telegram", "42")
        assert await claim_update(s, "zalo", "42")  # keys are per channel


async def test_old_deduplication_keys_are_pruned(sessions):
    from datetime import timedelta

    from storage.conversations import prune_updates

    async with sessions() as s, s.begin():
        assert await claim_update(s, "telegram", "1")
    async with sessions() as s, s.begin():
        assert await prune_updates(s, utcnow() - timedelta(days=1)) == 0
        assert await prune_updates(s, utcnow() + timedelta(seconds=1)) == 1
    async with sessions() as s, s.begin():
        assert await claim_update(s, "telegram", "1")


async def test_conversation_versions_refuse_a_lost_update(sessions):
    async with sessions() as s, s.begin():
        row, state = await load_conversation(s, "web", "u1")
        await save_conversation(s, row, "web", "u1", "u1", {"flow": "report", "n": 1})
    # Two processes read version 1; the first to write wins, the second must retry.
    async with sessions() as b, b.begin():
        row_b, _ = await load_conversation(b, "web", "u1")
    async with sessions() as a, a.begin():
        row_a, _ = await load_conversation(a, "web", "u1")
        await save_conversation(a, row_a, "web", "u1", "u1", {"n": 2})
    with pytest.raises(ConcurrentUpdate):
        async with sessions() as b, b.begin():
            await save_conversation(b, row_b, "web", "u1", "u1", {"n": 3})
    async with sessions() as s:
        _, state = await load_conversation(s, "web", "u1")
    assert state == {"n": 2}


async def test_an_events_last_save_commits_it_whole_or_refuses_it_whole(sessions):
    """`end_event` (on SQLite the save and the COMMIT in one trip): a save commits what the
    event wrote before it; a save refused for a lost update keeps none of the event."""
    from storage.event_start import end_event

    async with sessions() as s, s.begin():
        await claim_update(s, "web", "k1")
        await end_event(s, None, ("web", "u1", "c1"), {"n": 1})
    async with sessions() as s:
        row, state = await load_conversation(s, "web", "u1")
    assert state == {"n": 1}
    async with sessions() as s, s.begin():
        assert not await claim_update(s, "web", "k1")  # committed with the save
    # A first save for someone already saved, and a save of an outdated version: refused.
    for stale in (None, row._replace(version=row.version + 5)):
        with pytest.raises(ConcurrentUpdate):
            async with sessions() as s, s.begin():
                await claim_update(s, "web", "k2")
                await end_event(s, stale, ("web", "u1", "c1"), {"n": 2})
    async with sessions() as s, s.begin():
        _, state = await load_conversation(s, "web", "u1")
        assert state == {"n": 1}
        assert await claim_update(s, "web", "k2")  # rolled back with the refused save
    async with sessions() as s, s.begin():
        await end_event(s, row, ("web", "u1", "c1"), {"n": 3})
    async with sessions() as s:
        _, state = await load_conversation(s, "web", "u1")
    assert state == {"n": 3}


async def test_registration_consumes_invites_atomically(sessions):
    async with sessions() as s, s.begin():
        await import_units(s, UNITS)
        invite = await admin.create_invite(s, "collaborator", "C01", 1)
    reg = Registration(
        "telegram", "100", "an", "Nguyễn Văn An", "C01", "collaborator", "vi", invite.code
    )
    async with sessions() as s, s.begin():
        person = await SqlStore(s).register(reg)
    assert person.role == "collaborator" and person.unit_code == "C01"
    with pytest.raises(InviteUnavailable):
        async with sessions() as s, s.begin():
            await SqlStore(s).register(Registration(**{**reg.__dict__, "external_id": "101"}))
    async with sessions() as s:
        found = await SqlStore(s).person_for("telegram", "100")
        assert found is not None and found.display_name == "Nguyễn Văn An"
        assert await SqlStore(s).person_for("telegram", "101") is None


async def test_reports_get_sequential_codes_and_history(sessions):
    async with sessions() as s, s.begin():
        await import_units(s, UNITS)
        store = SqlStore(s)
        person = await store.register(
            Registration("web", "w1", "", "Bình", "C02", "member", "vi", None)
        )
        answers = {
            "category": "workplace",
            "urgency": "hot",
            "unit": "C02",
            "description": "Chậm trả lương tháng 10.",
            "anonymity": "anonymous",
            "attachments": [{"kind": "location", "latitude": 10.9, "longitude": 106.8}],
        }
        first = await store.submit_report(person, answers, "web", "vi")
        second = await store.submit_report(person, answers, "web", "vi")
    assert (first.code, second.code) == ("PA-0001", "PA-0002")
    async with sessions() as s:
        mine = await SqlStore(s).reports_of(person.id, 10)
        detail = await SqlStore(s).report_of(person.id, "PA-0001")
    assert [r.code for r in mine] == ["PA-0002", "PA-0001"]
    assert detail is not None and detail.attachment_count == 1
    assert [e.to_status for e in detail.events] == ["new"]


async def test_outbox_rows_are_unique_per_key_and_retry_later(sessions):
    async with sessions() as s, s.begin():
        await outbox.enqueue(s, "alert:1", "telegram", "-100", {"text": "một"})
        await outbox.enqueue(s, "alert:1", "telegram", "-100", {"text": "một"})  # a rerun
        await outbox.enqueue(s, "alert:2", "telegram", "-100", {"text": "hai"})
    async with sessions() as s:
        due = await outbox.due(s, utcnow(), 10)
    assert [m.payload["text"] for m in due] == ["một", "hai"]
    async with sessions() as s, s.begin():
        await outbox.mark_retry(s, due[0].id, "502 Bad Gateway", 60)
        await outbox.mark_failed(s, due[1].id, "Forbidden: bot was blocked by the user")
    async with sessions() as s:
        assert await outbox.due(s, utcnow(), 10) == []
        assert await outbox.counts(s) == {"pending": 1, "failed": 1}
        row = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.idempotency_key == "alert:1"))
        ).scalar_one()
        assert row.attempts == 1 and "502" in row.last_error


async def test_many_outbox_rows_at_once_are_each_queued_once(sessions):
    """A poll's invitations go in as one statement; a key already queued is skipped, as with
    one message at a time, so a rerun never sends anything twice."""
    button = [["poll:1", "Trả lời ngay"]]
    async with sessions() as s, s.begin():
        await outbox.enqueue(s, "poll:1:invite:1", "telegram", "1", {"text": "một"})
        await outbox.enqueue_many(
            s,
            [
                (f"poll:1:invite:{i}", "telegram", str(i), {"text": f"mời {i}", "choices": button})
                for i in range(1, 1502)
            ],
        )
    async with sessions() as s, s.begin():
        await outbox.enqueue_many(s, [("poll:1:invite:2", "telegram", "2", {"text": "lần nữa"})])
        await outbox.enqueue_many(s, [])
    async with sessions() as s:
        due = await outbox.due(s, utcnow(), 2000)
    assert len(due) == len({m.id for m in due}) == 1501
    assert due[0].payload == {"text": "một"}
    assert due[1].payload == {"text": "mời 2", "choices": button} and due[1].chat_id == "2"
    assert due[-1].chat_id == "1501" and due[-1].priority == outbox.BULK


async def test_the_whole_report_flow_runs_on_this_database(pg_or_sqlite_core):
    from tests.chat import Chat

    chat = Chat(pg_or_sqlite_core)
    for step in (
        "/start",
        "Phan Văn Đức",
        "so y te",
        "1",
        "1",
        "/report",
        "1",
        "2",
        "1",
        "Xuất hiện thông tin sai lệch trên mạng xã hội về đơn vị.",
        "/skip",
        "2",
        "1",
    ):
        await chat.say(step)
    assert "PA-0001" in chat.transcript[-1]
    await chat.say("/my")
    assert "PA-0001" in chat.transcript[-1]


async def test_database_errors_never_quote_the_values_they_failed_on(db_url):
    """Tracebacks end up in logs: a failed insert must not carry a reporter's name into them."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    await upgrade(db_url)
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            with pytest.raises(DBAPIError) as err:
                await session.execute(
                    text(
                        "INSERT INTO person (id, display_name, role, locale) VALUES (:i, :n, :r, :l)"
                    ),
                    [{"i": 1, "n": "Trịnh Bí Mật", "r": "member", "l": "vi"}] * 2,
                )
        assert "Trịnh Bí Mật" not in str(err.value)
    finally:
        await engine.dispose()
