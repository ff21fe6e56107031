"""A rolling restart stops one instance at a time; what must hold while it stops.

- An update whose webhook request was being kept in the inbox as the stop began is handled and
  answered before the instance closes its messenger connection: its 200 said "done", and no
  other instance would ever answer it (the CI failure of the rolling-restart test: a member's
  button press answered 200, processed after the stop, its answer lost).
- The stop ends even when its cancel lands in the tick the campaign's statement completes
  (asyncio.wait_for on Python 3.11 then returns the result and swallows the cancel): before,
  such an instance never stopped, and later led half stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from scheduler.leader import Election, Leadership
from tests.telegram_harness import running_bot
from tests.test_restart import free_port


async def test_an_update_kept_as_the_stop_begins_is_answered_before_the_instance_stops(
    tmp_path, sqlite_url, monkeypatch
):
    port = free_port()
    async with running_bot(
        tmp_path,
        sqlite_url,
        telegram_mode="webhook",
        telegram_webhook_secret="s3cr3t-webhook-token",
        web_port=port,
        public_url=f"http://127.0.0.1:{port}",
    ) as h:
        channel = h.runner.telegram
        dispatcher = h.core.dispatcher
        keep = dispatcher.inbox_store
        storing, go_on = asyncio.Event(), asyncio.Event()

        async def slow_store(*args: Any) -> list[str]:  # a loaded database: the INSERT waits
            storing.set()
            await go_on.wait()
            return await keep(*args)

        monkeypatch.setattr(dispatcher, "inbox_store", slow_store)
        feed = asyncio.create_task(channel.feed_webhook(h.fake.user_text(7401, "/start")))
        await storing.wait()
        stopping = asyncio.create_task(channel.stop())  # SIGTERM, while the body is kept
        await asyncio.sleep(0.1)
        assert not stopping.done(), "the stop did not wait for the update being kept"
        go_on.set()
        await feed  # kept: the messenger is told 200
        await stopping
        answers = h.fake.messages_to(7401)
        assert answers and "Grassroots" in answers[0]["text"]


class CancelLandsAsTheStatementCompletes:
    """A follower's lock: every try is a statement (here a future the test completes)."""

    def __init__(self) -> None:
        self.statement: asyncio.Future[bool] | None = None
        self.asked = asyncio.Event()
        self.closed = False
        self.tries = 0

    async def try_acquire(self, on_lost: Callable[[], None]) -> bool:
        self.tries += 1
        if self.tries == 1:  # at start-up: another instance leads
            return False
        self.statement = asyncio.get_running_loop().create_future()
        self.asked.set()
        return await asyncio.wait_for(self.statement, 5)  # as storage.leader does

    async def alive(self) -> bool:
        return False

    async def release(self) -> None:
        pass

    async def close(self) -> None:
        self.closed = True


async def test_a_stop_ends_the_campaign_even_when_its_cancel_is_swallowed() -> None:
    lock = CancelLandsAsTheStatementCompletes()
    elected: list[bool] = []

    async def lead() -> None:
        elected.append(True)

    async def follow() -> None:
        pass

    election = Election(lock, Leadership(), lead, follow, retry_seconds=0.01)  # type: ignore[arg-type]
    await election.start()
    await lock.asked.wait()
    lock.asked.clear()
    assert lock.statement is not None
    lock.statement.set_result(False)  # the next try's answer arrives in the tick the stop lands
    stopping = asyncio.create_task(election.stop())
    await asyncio.wait({stopping}, timeout=3)
    campaign = election._task
    if campaign is not None:  # a failed run: end it, so the loop closes cleanly
        campaign.cancel()
    assert stopping.done(), "the stop hung: the campaign went on"
    assert lock.closed
    assert not elected
