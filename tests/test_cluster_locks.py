"""Several instances on one PostgreSQL: a person is handled by one instance at a time, and an
update reaching two instances is handled once. Two Dispatchers on one database stand for two
instances here (each has its own in-process locks); tests/test_cluster_instances.py runs real
processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy.exc import DBAPIError

from bot.app import Core, build_core, seed_demo
from bot.dispatcher import Dispatcher
from bot.feedback import FeedbackPage
from bot.feedback.guard import TokenProblem
from handlers.types import Inbound
from storage.conversations import claim_update, hold_person, load_conversation
from tests.conftest import make_settings

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
async def pg_core(tmp_path: Path, migrated_db_url: str) -> AsyncIterator[Core]:
    built = await build_core(make_settings(tmp_path, migrated_db_url))
    await seed_demo(built)
    yield built
    await built.close()


def instances(core: Core, mode: str = "advisory") -> list[Dispatcher]:
    d = core.dispatcher
    return [
        Dispatcher(d.sessions, d.engine, d.translations, d.effects, person_lock=mode)  # type: ignore[arg-type]
        for _ in range(2)
    ]


def text(user: str, key: str, body: str) -> Inbound:
    return Inbound(channel="telegram", update_key=key, user_id=user, chat_id=user, text=body)


async def test_a_person_held_by_one_transaction_waits_in_another(pg_core: Core) -> None:
    order: list[str] = []
    held = asyncio.Event()

    async def first() -> None:
        async with pg_core.sessions() as session, session.begin():
            await hold_person(session, "telegram", "42")
            held.set()
            await asyncio.sleep(0.3)
            order.append("first done")

    async def second() -> None:
        await held.wait()
        async with pg_core.sessions() as session, session.begin():
            await hold_person(session, "telegram", "42")
            order.append("second in")

    async def someone_else() -> None:
        await held.wait()
        async with pg_core.sessions() as session, session.begin():
            await hold_person(session, "telegram", "43")
            order.append("other in")

    await asyncio.gather(first(), second(), someone_else())
    assert order == ["other in", "first done", "second in"]


async def test_the_same_update_claimed_on_two_connections_at_once_counts_once(
    pg_core: Core,
) -> None:
    async def claim() -> bool:
        async with pg_core.sessions() as session, session.begin():
            won = await claim_update(session, "telegram", "dup-1")
            await asyncio.sleep(0.1)  # the loser's insert waits for this commit, then yields
            return won

    assert sorted(await asyncio.gather(claim(), claim(), claim())) == [False, False, True]


async def test_two_instances_handle_one_persons_events_one_after_the_other(
    pg_core: Core,
) -> None:
    """Each pair is the same person's next two events arriving at two instances at once, and
    the same update also reaching both: none is lost, none applied twice, no apology."""
    a, b = instances(pg_core)
    users = [str(900_000 + n) for n in range(6)]
    replies: list[object] = []

    async def person(user: str) -> None:
        for n in range(0, 6, 2):
            first = text(user, f"{user}:{n}", "/report")
            second = text(user, f"{user}:{n + 1}", "/cancel")
            replies.extend(await asyncio.gather(a.handle(first), b.handle(second), b.handle(first)))

    await asyncio.gather(*(person(u) for u in users))
    handled = [r for r in replies if r is not None]
    sorry = "Xin lỗi"  # the apology, in the default locale
    assert len(handled) == len(users) * 6  # each update once; its replay on b is None
    assert not any(sorry in m.text for r in handled for m in r.messages)  # type: ignore[attr-defined]
    async with pg_core.sessions() as session:
        for user in users:
            row, _state = await load_conversation(session, "telegram", user)
            assert row is not None and row.version >= 1


async def test_the_flood_budget_is_shared_by_the_instances_and_expires(pg_core: Core) -> None:
    """30 events in 10 s per person, counted across instances: a flooder alternating between
    two instances is stopped at the 31st, told once, and may write again after the window."""
    a, b = instances(pg_core)
    replies = [
        await (a if n % 2 else b).handle(text("777", f"f:{n}", "xin chào")) for n in range(34)
    ]
    told = [r for r in replies[30:] if r is not None and r.messages]
    assert len(told) == 1 and "quá nhiều tin nhắn" in told[0].messages[0].text.lower()
    assert all(r is not None and not r.messages for r in replies[31:])
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=11), tick=True):
        again = await a.handle(text("777", "f:after", "xin chào"))
    assert again is not None and again.messages
    assert "quá nhiều" not in again.messages[0].text.lower()


async def test_a_feedback_form_drawn_by_one_instance_is_accepted_by_another(
    pg_core: Core,
) -> None:
    drawn_by, sent_to = FeedbackPage.from_core(pg_core), FeedbackPage.from_core(pg_core)
    token = drawn_by.tokens.issue("browser-cookie")
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=30), tick=True):
        assert sent_to.tokens.check(token, "browser-cookie") is None
        assert sent_to.tokens.check(token, "another-browser") is TokenProblem.INVALID


class SlotsTaken(Exception):
    sqlstate = "53300"  # too_many_connections: every slot of the server is taken


class RefusedOnce:
    """A session factory whose first connection the server refuses for lack of slots (the
    instances' pools at their peak beside other clients), as asyncpg reports it."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions
        self.kw = sessions.kw  # what the dispatcher reads of its factory (bind, sealer)
        self.refused = 0

    def __call__(self) -> Any:
        if self.refused:
            return self.sessions()
        self.refused += 1
        return self

    async def __aenter__(self) -> Any:
        raise DBAPIError("connect", None, SlotsTaken("remaining connection slots are reserved"))

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_a_connection_refused_for_lack_of_slots_is_tried_again_not_apologised_for(
    pg_core: Core,
) -> None:
    d = pg_core.dispatcher
    sessions = RefusedOnce(d.sessions)
    dispatcher = Dispatcher(sessions, d.engine, d.translations, d.effects)  # type: ignore[arg-type]
    event = text("7501", "slots-1", "/start")
    reply = await dispatcher.handle(event)
    assert sessions.refused == 1
    assert reply is not None
    apology = dispatcher._apology(event)
    assert [m.text for m in reply.messages] != [m.text for m in apology.messages]
