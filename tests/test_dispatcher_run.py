"""`Dispatcher.run`, the adapters' one way in: a person's events run one at a time, in order,
mapping and answering included; an adapter's own cap is taken only once it is someone's turn."""

from __future__ import annotations

import asyncio

from bot.app import Core
from handlers.types import Inbound, Reply


def inbound(user: str, n: int) -> Inbound:
    return Inbound(channel="web", update_key=f"{user}:{n}", user_id=user, chat_id=user, text="hi")


async def test_one_person_at_a_time_in_order_with_the_answer_inside(core: Core) -> None:
    seen: list[str] = []

    async def handle(event: Inbound) -> Reply:
        seen.append(f"handle {event.update_key}")
        return Reply()

    core.dispatcher.handle = handle  # type: ignore[method-assign]

    async def event(n: int) -> None:
        async def to_inbound() -> Inbound:
            seen.append(f"map a:{n}")
            await asyncio.sleep(0.01)  # a download at the edge
            return inbound("a", n)

        async with core.dispatcher.run("web", "a", to_inbound) as handled:
            assert handled is not None and handled.inbound.update_key == f"a:{n}"
            await asyncio.sleep(0.01)  # answering, still this person's turn
            seen.append(f"answered a:{n}")

    await asyncio.gather(*(event(n) for n in range(3)))
    assert seen == [f"{step} a:{n}" for n in range(3) for step in ("map", "handle", "answered")]
    assert len(core.dispatcher.locks) == 0


async def test_nothing_to_handle_and_the_gate_is_taken_after_the_persons_lock(
    core: Core,
) -> None:
    async def nothing() -> None:
        return None

    async with core.dispatcher.run("web", "a", nothing) as handled:
        assert handled is None
    gate = asyncio.Semaphore(2)  # an adapter's cap: two events in progress at once
    inside = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with core.dispatcher.run("web", "b", inbound("b", 1), gate=gate):
            inside.set()
            await release.wait()

    holder = asyncio.create_task(first())
    await inside.wait()
    waiting = asyncio.create_task(_run(core, "b", 2, gate))  # b's next event waits its turn
    await asyncio.sleep(0.01)
    # ...without taking the second place in the gate, so someone else still gets in.
    await asyncio.wait_for(_run(core, "c", 1, gate), timeout=2)
    release.set()
    await asyncio.gather(holder, waiting)
    assert not gate.locked() and len(core.dispatcher.locks) == 0


async def _run(core: Core, user: str, n: int, gate: asyncio.Semaphore) -> None:
    async with core.dispatcher.run("web", user, inbound(user, n), gate=gate):
        pass
