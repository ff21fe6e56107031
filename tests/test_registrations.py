"""Many people registered at once (storage/registrations.py), on SQLite and PostgreSQL: each is
found by their messenger as after a registration of their own, and invites count every use."""

from __future__ import annotations

import pytest

from handlers.ports import InviteUnavailable, Registration
from storage import admin
from storage.deptimport import import_departments
from storage.orgimport import import_units
from storage.people import find_people
from storage.registrations import register_many
from storage.store import SqlStore
from tests import test_storage
from tests.test_storage import UNITS

sessions = test_storage.sessions  # the storage tests' fixture: a migrated database


def person(n: int, unit: str | None, role: str = "member", invite: str | None = None):
    return Registration("zalo", f"z{n}", "", f"Người {n}", unit, role, "vi", invite)


async def test_everyone_registered_at_once_is_found_by_their_messenger_in_order(sessions):
    async with sessions() as s, s.begin():
        await import_units(s, UNITS)
        await import_departments(s, "code,name,kind\nBTC,Ban Tổ chức,internal\n".encode())
        invite = await admin.create_invite(s, "handler", None, 2, "BTC")
        people = [person(n, ("C01", "C02", None)[n % 3]) for n in range(30)]
        people += [person(100 + n, None, "handler", invite.code) for n in range(2)]
        ids = await register_many(s, people)
    assert len(set(ids)) == 32 and ids == sorted(ids)
    async with sessions() as s:
        store = SqlStore(s)
        for registration, pid in zip(people, ids, strict=True):
            found = await store.person_for("zalo", registration.external_id)
            assert found is not None and found.id == pid
            assert (found.display_name, found.unit_code) == (
                registration.display_name,
                registration.unit_code,
            )
        handler = await store.person_for("zalo", "z101")
        assert handler is not None and handler.role == "handler"
        handlers = await find_people(s, "", "", "handler", 0, 10)
        assert [(h.name, h.department) for h in handlers] == [
            ("Người 100", "Ban Tổ chức"),
            ("Người 101", "Ban Tổ chức"),
        ]


async def test_an_invite_with_too_few_uses_left_registers_nobody(sessions):
    async with sessions() as s, s.begin():
        await import_units(s, UNITS)
        invite = await admin.create_invite(s, "collaborator", "C01", 1)
    with pytest.raises(InviteUnavailable):
        async with sessions() as s, s.begin():
            await register_many(
                s,
                [
                    person(1, "C01"),
                    *(person(n, "C01", "collaborator", invite.code) for n in (2, 3)),
                ],
            )
    async with sessions() as s:
        assert await SqlStore(s).person_for("zalo", "z1") is None
    async with sessions() as s, s.begin():  # the invite's one use is still there
        await register_many(s, [person(2, "C01", "collaborator", invite.code)])
