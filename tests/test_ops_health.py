"""What a load balancer and Prometheus see: /healthz, /readyz and /metrics of a running instance."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.app import Core, Runner
from bot.ops.health import Readiness
from handlers.types import Inbound
from scheduler.schedule import _run as run_job
from storage.db import create_engine
from storage.migrate import head_revisions
from storage.models import OutboxMessage, utcnow
from storage.outbox import enqueue
from tests.telegram_harness import running_bot
from tests.test_delivery import drain, queue


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def get(port: int, path: str, **headers: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}", headers=headers) as resp,
    ):
        return resp.status, await resp.text()


async def test_healthz_and_readyz_say_alive_and_ready_and_why_not(core: Core) -> None:
    runner = Runner(core)
    await runner.start()
    try:
        port = runner.web_port
        assert port is not None
        assert await get(port, "/healthz") == (200, '{"ok": true}')
        status, body = await get(port, "/readyz")
        assert status == 200, body
        assert '"database": "ok"' in body and '"migrations": "ok"' in body
        assert '"leader": true' in body and '"scheduler": "ok"' in body

        # The leader whose scheduler stopped is not ready; a follower needs no scheduler.
        runner.scheduler.shutdown(wait=False)
        await asyncio.sleep(0.05)
        status, body = await get(port, "/readyz")
        assert status == 503 and '"scheduler": "not running"' in body
        runner.is_leader = lambda: False
        status, body = await get(port, "/readyz")
        assert status == 200 and '"leader": false' in body and "scheduler" not in body
    finally:
        await runner.stop()


async def test_readiness_fails_without_a_database_and_knows_behind_from_ahead() -> None:
    gone = create_engine("postgresql+asyncpg://nobody:secret@127.0.0.1:1/none")
    try:
        ready, checks = await Readiness(gone).check()
    finally:
        await gone.dispose()
    assert not ready
    assert checks["database"].startswith("unreachable") and "secret" not in str(checks)
    readiness = Readiness(gone)
    assert readiness.schema(head_revisions()) == "ok"
    assert readiness.schema(("0001",)) == "behind"
    assert readiness.schema(()) == "behind"
    # Migrated by a newer version during a rolling upgrade: the old instance keeps serving.
    assert readiness.schema(("a_future_revision",)) == "ahead"


async def test_metrics_count_updates_deliveries_429s_jobs_and_read_the_queue(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with running_bot(tmp_path, sqlite_url) as h:
        core, port = h.core, h.runner.web_port
        assert port is not None
        hello = Inbound(channel="web", update_key="m1", user_id="u1", chat_id="u1", text="hi")
        assert await core.dispatcher.handle(hello) is not None
        assert await core.dispatcher.handle(hello) is None  # the same update again: a replay

        h.core.delivery.stop()
        chats = ["9001", "9002", "9003"]
        await queue(core, chats, 1)
        h.fake.fail_next("sendMessage", status=429, retry_after=1, times=1)
        await drain(core)
        await run_job(core, "sweep_files", core.metrics)

        # Two rows no instance can send yet (no Zalo here), the older ten minutes old.
        async with core.sessions() as session, session.begin():
            for n in range(2):
                await enqueue(session, f"wait:{n}", "zalo", "z1", {"text": "later"})
            first = (
                (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == "z1")))
                .scalars()
                .first()
            )
            assert first is not None
            first.created_at = utcnow() - timedelta(minutes=10)

        status, text = await get(port, "/metrics")
        assert status == 200
        got = samples(text)
        assert got[("grassroots_updates_total", (("channel", "web"), ("outcome", "ok")))] == 1
        assert (
            got[("grassroots_updates_total", (("channel", "web"), ("outcome", "duplicate")))] == 1
        )
        assert got[("grassroots_step_seconds_count", (("channel", "web"),))] == 1
        sent = ("grassroots_deliveries_total", (("channel", "telegram"), ("outcome", "sent")))
        assert got[sent] == 3
        assert got[("grassroots_rate_limited_total", (("channel", "telegram"),))] == 1
        ran = ("grassroots_job_runs_total", (("job", "sweep_files"), ("outcome", "ok")))
        assert got[ran] == 1
        assert got[("grassroots_job_duration_seconds_count", (("job", "sweep_files"),))] == 1
        assert got[("grassroots_outbox_depth", ())] == 2
        assert 600 <= got[("grassroots_outbox_oldest_pending_seconds", ())] < 700
        assert got[("grassroots_scheduler_leader", ())] == 1
        assert got[("grassroots_database_up", ())] == 1
        # No chat, user or text is ever a label.
        # (Labels only: a sample value such as a timestamp may hold the digits 9001 by chance.)
        labels = " ".join(re.findall(r"\{([^}]*)\}", text))
        assert "9001" not in labels and "u1" not in labels and "hi" not in labels

        # Through a reverse proxy it is not served: the proxy may be open to anyone.
        assert (await get(port, "/metrics", **{"X-Forwarded-For": "203.0.113.9"}))[0] == 404


async def test_metrics_asks_for_its_token_when_set_and_can_be_switched_off(core: Core) -> None:
    core.settings.metrics_token = "scrape-me-please"
    runner = Runner(core)
    await runner.start()
    try:
        port = runner.web_port
        assert port is not None
        assert (await get(port, "/metrics"))[0] == 404
        assert (await get(port, "/metrics", Authorization="Bearer wrong"))[0] == 404
        status, text = await get(port, "/metrics", Authorization="Bearer scrape-me-please")
        assert status == 200 and "grassroots_outbox_depth" in text
    finally:
        await runner.stop()
    core.settings.metrics_enabled = False
    runner = Runner(core)
    await runner.start()
    try:
        assert runner.web_port is not None
        assert (await get(runner.web_port, "/metrics", Authorization="Bearer scrape-me-please"))[
            0
        ] == 404
    finally:
        await runner.stop()
