"""The leaders' daily digest: golden texts on a seeded data set, the chart, once-a-day delivery,
the missed-run catch-up and the quiet-day version."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from bot.app import build_core, seed_demo
from reports.digest import build
from scheduler.digest import daily_digest
from scheduler.schedule import build_scheduler, catch_up
from storage import admin
from storage.models import OrgUnit, Report
from tests.conftest import make_settings
from tests.telegram_harness import running_bot

GOLDEN = Path(__file__).with_name("golden")
NOW = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)  # 07:30 in Asia/Ho_Chi_Minh
PNG = b"\x89PNG\r\n\x1a\n"


async def seed_reports(core, now: datetime) -> None:
    """A day of realistic intake: mixed categories, units, a hot one, one resolved, one overdue."""
    async with core.sessions() as session, session.begin():
        units = {u.code: u.id for u in (await session.execute(select(OrgUnit))).scalars()}
        rows = [
            ("workplace", "normal", "U001", 20, None, None, None),
            ("workplace", "hot", "U070", 9, 8.5, None, None),
            ("discipline", "normal", "U050", 6, 2.0, 5.0, None),
            ("ideology", "normal", "U030", 3, None, None, -2),
            ("security", "hot", "U100", 1, 0.5, None, None),
            ("workplace", "normal", "U090", 30, None, None, None),  # before the window
        ]
        for i, (cat, urgency, unit, hours_ago, ack_after, resolve_after, due_in) in enumerate(
            rows, 1
        ):
            created = now - timedelta(hours=hours_ago)
            session.add(
                Report(
                    id=i,
                    code=f"PA-{i:04d}",
                    category=cat,
                    urgency=urgency,
                    unit_id=units[unit],
                    description="…",
                    anonymity="anonymous",
                    channel="telegram",
                    status="resolved"
                    if resolve_after
                    else ("acknowledged" if ack_after else "new"),
                    created_at=created,
                    acknowledged_at=created + timedelta(hours=ack_after) if ack_after else None,
                    resolved_at=created + timedelta(hours=resolve_after) if resolve_after else None,
                    due_at=now + timedelta(hours=due_in) if due_in else None,
                )
            )


@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_golden_digest_text_and_a_valid_chart(tmp_path, lang):
    with time_machine.travel(NOW, tick=False):
        core = await build_core(
            make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", default_locale=lang)
        )
        try:
            await seed_demo(core)
            await seed_reports(core, NOW)
            text, chart = await build(core, NOW - timedelta(days=1), NOW)
        finally:
            await core.close()
    assert chart.read_bytes().startswith(PNG) and chart.stat().st_size > 10_000
    path = GOLDEN / f"digest.{lang}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")


async def test_a_quiet_day_gets_a_short_digest(core):
    now = datetime.now(UTC)
    text, chart = await build(core, now - timedelta(days=1), now)
    assert "0" in text and len(text.splitlines()) == 3
    assert chart.read_bytes().startswith(PNG)


@pytest.mark.any_hour
async def test_daily_digest_reaches_the_leaders_chat_once_with_its_chart(tmp_path, sqlite_url):
    async with running_bot(tmp_path, sqlite_url) as h:
        async with h.core.sessions() as session, session.begin():
            await admin.bind_chat(session, "leaders", "telegram", "-100777")
        await seed_reports(h.core, datetime.now(UTC))
        assert await daily_digest(h.core) == 1
        assert await daily_digest(h.core) == 0  # the same day again: nothing more
        messages = await h.fake.wait_for_messages(-100777, 2, timeout=10)
        assert "PA-0002" in messages[0]["text"] and "🔥" in messages[0]["text"]
        assert messages[1]["method"] == "sendPhoto"
        await h.settle()
        assert len(h.fake.messages_to(-100777)) == 2


async def test_a_digest_missed_while_down_is_sent_at_start_up_and_only_after_its_time(
    tmp_path, sqlite_url
):
    core = await build_core(make_settings(tmp_path, sqlite_url))
    try:
        await seed_demo(core)
        async with core.sessions() as session, session.begin():
            await admin.bind_chat(session, "leaders", "web", "leaders-room")
        scheduler = build_scheduler(core)
        before = datetime(2026, 11, 30, 0, 10, tzinfo=UTC)  # 07:10 local: not yet due
        with time_machine.travel(before, tick=False):
            await catch_up(core, scheduler)
        async with core.sessions() as session:
            assert (await session.execute(select(Report))).first() is None
        from storage.models import JobRun

        async with core.sessions() as session:
            assert (await session.execute(select(JobRun))).first() is None
        after = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 09:00 local: the 07:30 run was missed
        with time_machine.travel(after, tick=False):
            await catch_up(core, scheduler)
            await catch_up(core, scheduler)  # a second start-up the same day
        async with core.sessions() as session:
            runs = (await session.execute(select(JobRun))).scalars().all()
        assert [r.period for r in runs] == ["2026-11-30"]
    finally:
        await core.close()


async def test_weekly_and_monthly_summaries_go_out_once_per_period(tmp_path, sqlite_url):
    from scheduler.digest import monthly_digest, weekly_digest

    core = await build_core(make_settings(tmp_path, sqlite_url))
    sent: list[str] = []

    class Recorder:
        async def deliver(self, chat_id: str, payload: dict) -> str | None:
            sent.append(payload.get("text") or payload.get("kind", ""))
            return None

    try:
        await seed_demo(core)
        core.senders["web"] = Recorder()
        async with core.sessions() as session, session.begin():
            await admin.bind_chat(session, "leaders", "web", "leaders-room")
        monday = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 08:00 local
        first = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 1 December, 08:00 local
        with time_machine.travel(monday, tick=False):
            assert await weekly_digest(core) == 1
            assert await weekly_digest(core) == 0
        with time_machine.travel(first, tick=False):
            assert await monthly_digest(core) == 1
            assert await monthly_digest(core) == 0
            await core.delivery.run_once()
        titles = [t.splitlines()[0] for t in sent if t.startswith("📋")]
        assert titles[0].startswith("📋 Tổng hợp tuần, 23/11")
        assert titles[1] == "📋 Tổng hợp tháng 11/2026"
    finally:
        await core.close()
