"""SQLite's one writer, queued in the process (bot/locks.py WriterTurns): in order, except that
storing a fetched batch goes first, and a waiter cancelled in the queue never loses the turn."""

from __future__ import annotations

import asyncio

from bot.locks import WriterTurns


async def _take(turns: WriterTurns, name: str, order: list[str], urgent: bool = False) -> None:
    async with turns.turn(urgent):
        order.append(name)
        await asyncio.sleep(0)


async def test_waiters_take_turns_in_order_with_the_urgent_first() -> None:
    turns, order = WriterTurns(), []
    release = asyncio.Event()

    async def first() -> None:
        async with turns.turn():
            order.append("holder")
            await release.wait()

    tasks = [asyncio.create_task(first())]
    await asyncio.sleep(0)
    for name, urgent in [("a", False), ("b", False), ("inbox", True), ("c", False)]:
        tasks.append(asyncio.create_task(_take(turns, name, order, urgent)))
        await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["holder", "inbox", "a", "b", "c"]


async def test_a_cancelled_waiter_does_not_keep_the_turn() -> None:
    turns, order = WriterTurns(), []
    release = asyncio.Event()

    async def holder() -> None:
        async with turns.turn():
            await release.wait()

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    gone = asyncio.create_task(_take(turns, "gone", order))
    after = asyncio.create_task(_take(turns, "after", order))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    await asyncio.gather(held, after)
    assert order == ["after"]
    # Cancelled just as the turn was handed to it: the turn passes on, nobody waits forever.
    async with turns.turn():
        handed = asyncio.create_task(_take(turns, "handed", order))
        last = asyncio.create_task(_take(turns, "last", order))
        await asyncio.sleep(0)
    handed.cancel()
    await asyncio.wait_for(last, 1.0)
    assert order == ["after", "last"]
