"""The SQLite driver (storage/sqlite_driver.py) runs each statement in one trip to aiosqlite's
thread and still behaves as SQLAlchemy's own: rows, row counts, new ids, errors, rollbacks."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage.db import create_engine


@pytest.fixture
async def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with db.begin() as conn:
        await conn.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield db
    await db.dispose()


async def test_rows_counts_and_ids_come_back(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        added = await conn.execute(text("INSERT INTO item (name) VALUES ('a')"))
        assert added.lastrowid == 1
        await conn.execute(text("INSERT INTO item (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}])
        back = await conn.execute(text("INSERT INTO item (name) VALUES ('d') RETURNING id"))
        assert back.scalar_one() == 4
        changed = await conn.execute(text("UPDATE item SET name = name || '!' WHERE id > 2"))
        assert changed.rowcount == 2
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, name FROM item ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
        assert (await conn.execute(text("SELECT name FROM item WHERE id = 9"))).first() is None


async def test_a_failed_statement_raises_and_rolls_back(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO item (name) VALUES ('x')"))
            await conn.execute(text("INSERT INTO item (name) VALUES ('x')"))
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM item"))).scalar_one()
    assert count == 0


async def test_one_trip_to_the_database_thread_per_statement(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # the connection is open and set up
        raw = (await conn.get_raw_connection()).driver_connection
        queue = raw._tx  # what aiosqlite's thread reads its work from
        trips = mock.Mock(put_nowait=mock.Mock(wraps=queue.put_nowait))
        with mock.patch.object(raw, "_tx", trips):
            for i in range(5):
                await conn.execute(text("SELECT id FROM item WHERE id = :i"), {"i": i})
            await conn.execute(text("INSERT INTO item (name) VALUES ('y')"))
        assert trips.put_nowait.call_count == 6


async def test_ending_a_transaction_costs_a_trip_only_when_sqlite_has_one_open(engine) -> None:  # type: ignore[no-untyped-def]
    """Reads alone open no transaction in SQLite, and a committed one is closed: ending either
    again (the pool's rollback of every connection handed back) is skipped. A write's
    rollback still goes to SQLite and undoes it."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        raw = (await conn.get_raw_connection()).driver_connection
        trips = mock.Mock(put_nowait=mock.Mock(wraps=raw._tx.put_nowait))
        with mock.patch.object(raw, "_tx", trips):
            await conn.execute(text("SELECT count(*) FROM item"))
            await conn.rollback()  # reads only: nothing to end
            assert trips.put_nowait.call_count == 1
            await conn.execute(text("INSERT INTO item (name) VALUES ('kept')"))
            await conn.commit()
            await conn.rollback()  # after the commit: nothing to end
            assert trips.put_nowait.call_count == 3
            await conn.execute(text("INSERT INTO item (name) VALUES ('undone')"))
            await conn.rollback()
            assert trips.put_nowait.call_count == 5
        names = (await conn.execute(text("SELECT name FROM item"))).scalars().all()
    assert names == ["kept"]
