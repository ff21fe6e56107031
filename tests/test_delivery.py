"""The outbox delivery worker against the fake Bot API: throttling, outages, flood limits."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from argparse import Namespace

import pytest
from sqlalchemy import select

from bot.cli import cmd_outbox
from scheduler.delivery import DeliveryWorker
from scheduler.ratelimit import Limits, RateLimiter
from storage import outbox
from storage.models import OutboxMessage, utcnow
from storage.outbox import enqueue
from tests.telegram_harness import running_bot


async def queue(core, chats: list[str], per_chat: int) -> None:
    async with core.sessions() as session, session.begin():
        for i in range(per_chat):
            for chat in chats:
                await enqueue(session, f"m:{chat}:{i}", "telegram", chat, {"text": f"{chat} #{i}"})


async def drain(core, rounds: int = 400) -> None:
    for _ in range(rounds):
        await core.delivery.run_once()
        async with core.sessions() as session:
            pending = (
                await session.execute(
                    select(OutboxMessage.id).where(OutboxMessage.status == "pending")
                )
            ).first()
        if pending is None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox did not drain")


def assert_in_order_once(fake, chats: list[str], per_chat: int) -> None:
    for chat in chats:
        texts = fake.texts_to(chat)
        assert texts == [f"{chat} #{i}" for i in range(per_chat)], texts


async def test_429_is_honoured_and_nothing_is_lost_or_repeated(tmp_path, sqlite_url):
    async with running_bot(tmp_path, sqlite_url) as h:
        h.core.delivery.stop()
        chats = [str(9000 + i) for i in range(5)]
        await queue(h.core, chats, 4)
        h.fake.fail_next("sendMessage", status=429, retry_after=1, times=3)
        await drain(h.core)
        assert_in_order_once(h.fake, chats, 4)
        assert h.fake.calls["sendMessage"] == 20 + 3
        # The flood waits went back to the worker, which rescheduled the rows through its own
        # pacer; the adapter did not sleep and resend beside it.
        async with h.core.sessions() as session:
            rows = (await session.execute(select(OutboxMessage))).scalars().all()
        flooded = [r for r in rows if "flood" in r.last_error.lower()]
        assert flooded and all(r.attempts >= 2 and r.status == "sent" for r in flooded)


async def test_an_outage_of_502s_and_timeouts_then_recovery_delivers_everything_in_order(
    tmp_path, sqlite_url
):
    async with running_bot(tmp_path, sqlite_url) as h:
        h.core.delivery.stop()
        chats = [str(9100 + i) for i in range(3)]
        await queue(h.core, chats, 3)
        h.fake.fail_next("sendMessage", status=502, times=6)
        # Backoff delays are minutes in production; pull them forward so the test is quick.
        for _ in range(40):
            await h.core.delivery.run_once()
            async with h.core.sessions() as session, session.begin():
                for row in (await session.execute(select(OutboxMessage))).scalars():
                    row.next_attempt_at = row.created_at
        await drain(h.core)
        assert_in_order_once(h.fake, chats, 3)


async def test_the_limiter_spaces_messages_to_one_chat_and_to_groups():
    limiter = RateLimiter(Limits(per_second=1000, per_chat_per_second=2, per_group_per_minute=60))
    assert limiter.delay_for("42") == 0
    await limiter.acquire("42")
    assert 0.4 < limiter.delay_for("42") <= 0.52  # 2 per second for a private chat, 2% under
    await limiter.acquire("-100")
    assert 0.9 < limiter.delay_for("-100") <= 1.03  # 60 per minute for a group
    assert limiter.delay_for("43") == 0  # other chats are not held up


async def test_a_chats_spacing_counts_from_when_its_messages_leave_not_from_the_queue():
    """A chat's message held behind others for a global send slot must not let the chat's next
    message follow it closely: the chat's second counts from when a message really leaves."""
    limiter = RateLimiter(Limits(per_second=10, per_chat_per_second=2, per_group_per_minute=60))
    left: dict[str, list[float]] = {}
    loop = asyncio.get_running_loop()

    async def send(chat: str) -> None:
        await limiter.acquire(chat)
        left.setdefault(chat, []).append(loop.time())

    # Five other chats take the first slots; chat 42's first message leaves about 0.5 s in,
    # when a token taken at the start would already have grown back.
    await asyncio.gather(*(send(str(100 + n)) for n in range(5)), send("42"))
    await asyncio.sleep(limiter.delay_for("42"))
    await send("42")
    first, second = left["42"]
    assert second - first >= 0.49  # 2 per second for chat 42, as it receives them


class EventClock:
    """Simulated seconds for concurrent senders: the earliest sleeper wakes once every task is
    waiting, so slots, hold-ups and answers interleave as they would in real time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self.order = itertools.count()

    def now(self) -> float:
        return self.seconds

    async def sleep(self, seconds: float) -> None:
        wake = self.seconds + max(0.0, seconds)
        if wake == self.seconds:  # a real sleep always takes some time
            wake = math.nextafter(wake, math.inf)
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self.sleepers, (wake, next(self.order), future))
        await future

    async def run(self, tasks: list[asyncio.Task[None]]) -> None:
        while not all(task.done() for task in tasks):
            for _ in range(20):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if self.sleepers:
                wake, _, future = heapq.heappop(self.sleepers)
                self.seconds = max(self.seconds, wake)
                future.set_result(None)


async def test_sends_held_up_on_their_way_never_put_a_second_over_the_limit():
    """The messenger counts sends as they arrive. A server that stalls for 0.3 s takes the
    sends of that time together, and the second that starts with that bunch holds more than
    the limit when the pace counts sends as they leave (12 of 10 here: a 429, which pauses
    all sending for a second). A send counts from when it leaves until a second after its
    answer, so no arriving second ever holds more than the limit, and the pace is kept."""
    clock = EventClock()
    limiter = RateLimiter(Limits(per_second=10, per_chat_per_second=1), clock)
    stall_from, stall_until = 1.0, 1.3
    arrived: list[float] = []

    async def send(chat: str) -> None:
        async with limiter.sending(chat):
            now = clock.now()
            arrival = stall_until if stall_from <= now < stall_until else now
            await clock.sleep(arrival - now + 0.001)  # the answer
            arrived.append(arrival)

    tasks = [asyncio.create_task(send(str(i))) for i in range(60)]
    await clock.run(tasks)
    most = max(sum(1 for b in arrived if a - 1 < b <= a) for a in arrived)
    assert most <= 10
    assert clock.now() < 60 / 9.8 + 0.3  # no longer than the pace and the stall


async def test_a_slow_network_round_trip_does_not_slow_the_pace():
    """Every send spends the same 0.3 s on the way to a distant server and back: that is no
    hold-up, so the pace stays at the limit (counting each send until a second after its
    answer would have cut 10/s to under 8/s), and no arriving second holds more than 10."""
    clock = EventClock()
    limiter = RateLimiter(Limits(per_second=10, per_chat_per_second=1), clock)
    arrived: list[float] = []

    async def send(chat: str) -> None:
        async with limiter.sending(chat):
            arrived.append(clock.now() + 0.15)
            await clock.sleep(0.3)

    await clock.run([asyncio.create_task(send(str(i))) for i in range(60)])
    most = max(sum(1 for b in arrived if a - 1 < b <= a) for a in arrived)
    assert most <= 10
    assert clock.now() < 60 / 9.8 + 0.4  # the pace and one round trip, not 60 / 7.7


@pytest.mark.parametrize("per_second", [30, 200])
async def test_sends_leave_in_small_bursts_and_no_second_holds_more_than_the_limit(per_second):
    """At Telegram's 30/s an evenly spaced slot made every send its own wake-up of the event
    loop (and its own claim transaction); the slots now come a burst at a time, so N sends take
    N / burst wake-ups, at the same pace and never more than the limit in any second."""
    limits = Limits(per_second=per_second, per_chat_per_second=1)
    burst = limits.burst
    assert burst > 1
    clock = EventClock()
    limiter = RateLimiter(limits, clock)
    left: list[float] = []
    sends = 10 * per_second

    async def send(chat: str) -> None:
        async with limiter.sending(chat, limiter.reserve()):
            left.append(clock.now())
            await clock.sleep(0.002 + 0.0001 * (len(left) % burst))  # answers one by one

    await clock.run([asyncio.create_task(send(str(i))) for i in range(sends)])
    assert len(set(left)) == math.ceil(sends / burst)  # one wake-up per burst
    most = max(sum(1 for b in left if a - 1 < b <= a) for a in left)
    assert most <= per_second
    assert clock.now() < sends / (per_second * 0.98) + 0.1  # the pace is kept


async def test_the_first_sends_slow_trips_do_not_let_a_later_second_overfill():
    """The first sends open their connections: their trips are slow, and they arrive at the end
    of them. Had those answers counted for a second less the fastest trip known *then*, the
    bursts a second later would have joined them at the server (12 of 10); they count less
    the fastest trip known when the window is checked."""
    clock = EventClock()
    limiter = RateLimiter(Limits(per_second=10, per_chat_per_second=1), clock)
    arrived: list[float] = []

    async def send(n: int) -> None:
        async with limiter.sending(str(n), limiter.reserve()):
            out = 0.199 if n < 4 else 0.0005  # connecting, then a warm connection
            arrived.append(clock.now() + out)
            await clock.sleep(out + 0.001)

    await clock.run([asyncio.create_task(send(n)) for n in range(40)])
    most = max(sum(1 for b in arrived if a - 1 < b <= a) for a in arrived)
    assert most <= 10


async def test_a_429_holds_back_the_sends_whose_slots_were_already_booked():
    """Rows book their send slot before their claim is committed; a 429 that comes meanwhile
    holds them back too, for the whole retry_after."""
    clock = EventClock()
    limiter = RateLimiter(Limits(per_second=10), clock)
    slots = [limiter.reserve() for _ in range(3)]
    limiter.pause(1.0)
    left: list[float] = []

    async def send(n: int) -> None:
        async with limiter.sending(str(n), slots[n]):
            left.append(clock.now())

    await clock.run([asyncio.create_task(send(n)) for n in range(3)])
    assert len(left) == 3 and min(left) >= 1.0


async def test_two_workers_on_one_database_never_send_a_message_twice(tmp_path, db_url):
    """Each row is claimed (committed "sending") before its request goes out, and only one
    worker wins the claim."""
    async with running_bot(tmp_path, db_url) as h:
        h.core.delivery.stop()
        chats = [str(9200 + i) for i in range(6)]
        await queue(h.core, chats, 5)
        other = DeliveryWorker(h.core.sessions, h.core.senders)
        other.limiters = h.core.delivery.limiters  # the harness's generous limits
        for _ in range(20):
            await asyncio.gather(h.core.delivery.run_once(), other.run_once())
        await drain(h.core)
        assert_in_order_once(h.fake, chats, 5)


async def test_rows_on_the_wire_at_a_crash_are_sent_again_and_reported_in_doubt(
    tmp_path, pg_or_sqlite_core, capsys
):
    core = pg_or_sqlite_core
    async with core.sessions() as session, session.begin():
        for n in range(3):
            await enqueue(session, f"crash:{n}", "telegram", "42", {"text": f"#{n}"})
    async with core.sessions() as session, session.begin():
        first = (await outbox.due(session, utcnow(), 10))[0]
        assert await outbox.claim(session, [first.id]) == {first.id}
        assert await outbox.claim(session, [first.id]) == set()  # nobody takes it twice
    async with core.sessions() as session:
        assert await outbox.due(session, utcnow(), 10) == []  # the chat waits behind it
    # The process dies here. The next one cannot know whether #0 arrived: it sends it again.
    assert await core.delivery.recover() == 1
    async with core.sessions() as session:
        assert [r.payload["text"] for r in await outbox.due(session, utcnow(), 10)] == [
            "#0",
            "#1",
            "#2",
        ]
    assert await cmd_outbox(Namespace(), core.settings) == 0
    out = capsys.readouterr().out
    assert "pending 3 (0 on the wire)" in out and "1 in doubt" in out


class SlowSender:
    """Answers each send after a while, like a distant server."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.started = asyncio.Event()

    async def deliver(self, chat_id: str, payload: dict) -> str:
        self.started.set()
        await asyncio.sleep(0.2)
        self.sent.append(payload["text"])
        return str(len(self.sent))


async def test_a_graceful_stop_finishes_the_sends_on_the_wire_and_leaves_none_in_doubt(core):
    """A rolling restart stops instances with SIGTERM: what was on the wire is answered and
    recorded as sent, nothing new starts, and the rest waits, pending, for the next leader."""
    async with core.sessions() as session, session.begin():
        for chat in range(20):
            for n in range(3):
                await enqueue(session, f"stop:{chat}:{n}", "telegram", str(chat), {"text": "x"})
    sender = SlowSender()
    unlimited = Limits(per_second=1000, per_chat_per_second=1000, per_group_per_minute=60000)
    worker = DeliveryWorker(core.sessions, {"telegram": sender}, None, {"telegram": unlimited})
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(sender.started.wait(), 10)
    worker.stop()
    await asyncio.wait_for(running, 2)  # one round trip, not the whole queue
    async with core.sessions() as session:
        counts = await outbox.counts(session)
    assert 0 < len(sender.sent) < 60
    assert counts == {"sent": len(sender.sent), "pending": 60 - len(sender.sent)}


class SimulatedSeconds:
    """The rate limiter's clock in simulated seconds: a wait moves it instead of sleeping, so a
    round that takes 20 s at Telegram's pace runs in a moment."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> float:
        return self.seconds

    async def sleep(self, seconds: float) -> None:
        target = self.seconds + seconds
        await asyncio.sleep(0)  # waits that overlap in real time overlap here too
        self.seconds = max(self.seconds, target)


class Recorder:
    """Notes when (in simulated seconds) each message went out, and to whom."""

    def __init__(self, clock: SimulatedSeconds) -> None:
        self.clock = clock
        self.sent: list[tuple[float, str, str]] = []
        self.target = 0
        self.reached = asyncio.Event()

    async def deliver(self, chat_id: str, payload: dict) -> str:
        self.sent.append((self.clock.now(), chat_id, payload["text"]))
        if len(self.sent) >= self.target:
            self.reached.set()
        return str(len(self.sent))

    async def until(self, count: int) -> None:
        self.target = count
        self.reached.clear()
        if len(self.sent) < count:
            await asyncio.wait_for(self.reached.wait(), 60)


async def test_a_hot_alert_overtakes_a_poll_round_which_still_completes(core):
    """A hot alert to the leaders' chat queued while 600 invitations go out at Telegram's pace
    (30/s) is sent within a second or two, not after the round's 20 s; the round goes on
    meanwhile and every invitation is sent once."""
    clock = SimulatedSeconds()
    sender = Recorder(clock)
    limits = Limits(per_second=30, per_chat_per_second=1, per_group_per_minute=20)
    worker = DeliveryWorker(core.sessions, {"telegram": sender}, None, {"telegram": limits})
    worker.limiters = {"telegram": RateLimiter(limits, clock)}
    invitations = [
        (f"poll:7:invite:{i}", "telegram", str(500_000 + i), {"text": f"invite {i}"})
        for i in range(600)
    ]
    async with core.sessions() as session, session.begin():
        await outbox.enqueue_many(session, invitations)
    running = asyncio.create_task(worker.run(idle_seconds=0.05))
    try:
        await sender.until(150)
        async with core.sessions() as session, session.begin():
            await enqueue(session, "hot:42:telegram:-1001", "telegram", "-1001", {"text": "HOT"})
        queued_at = clock.now()
        worker.wake()  # as the dispatcher does after its commit
        await sender.until(601)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 10)
    alert_at = next(t for t, chat, _ in sender.sent if chat == "-1001")
    assert alert_at - queued_at <= 2.0, (queued_at, alert_at)
    # the round did not stop for it, nor wait until after it
    assert any(queued_at <= t <= alert_at for t, chat, _ in sender.sent if chat != "-1001")
    assert sum(1 for t, _, _ in sender.sent if t > alert_at) > 300
    invited = [text for _, chat, text in sender.sent if chat != "-1001"]
    assert sorted(invited) == sorted(p["text"] for *_, p in invitations)
    assert clock.now() >= 600 / 30  # the round itself kept to Telegram's pace


async def test_urgent_rows_come_first_but_the_oldest_keep_a_share(core):
    """Each kind of message gets its priority from its key; a flood of urgent rows still leaves
    a share of every fetch to the oldest rows, so a round queued before it is never starved."""
    assert outbox.priority_of("hot:3:telegram:-1") == outbox.URGENT
    assert outbox.priority_of("reply:ab12") == outbox.URGENT
    assert outbox.priority_of("poll:3:escalate:staff:telegram:-1") == outbox.URGENT
    assert outbox.priority_of("poll:3:invite:9") == outbox.BULK
    assert outbox.priority_of("daily_digest:2026-06-09:telegram:-1:text") == outbox.BULK
    assert outbox.priority_of("link-ask:5") == outbox.NORMAL
    async with core.sessions() as session, session.begin():
        await outbox.enqueue_many(
            session, [(f"poll:1:invite:{i}", "telegram", str(i), {"text": "x"}) for i in range(10)]
        )
        await outbox.enqueue_many(
            session, [(f"alert:{i}:v1", "telegram", f"-{i}", {"text": "!"}) for i in range(100)]
        )
    async with core.sessions() as session:
        due = await outbox.due(session, utcnow(), 20)
    kinds = [row.priority for row in due]
    assert kinds == sorted(kinds) and kinds[0] == outbox.URGENT
    assert [row.chat_id for row in due if row.priority == outbox.BULK] == ["0", "1", "2", "3"]
