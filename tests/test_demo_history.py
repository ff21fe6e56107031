"""The demo with a history (#14 §3): what a newcomer sees after `grassroots run --demo`, and
the leaders' chat page where a leader reads, on the web, what the bot posted to their group."""

from __future__ import annotations

import calendar
import shutil
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.app import StartError, build_core, seed_demo_with_history
from bot.channels.context import ChannelContext
from bot.channels.webchat import WebChat
from bot.cli import CliError, _parser, cmd_run
from bot.demo import demo_history, demo_month
from bot.simulate import Scale
from handlers.casework import Status
from scheduler.digest import daily_digest
from storage import admin
from storage.digests import collect
from storage.models import ChatBinding, OutboxMessage, PollRound, Report
from storage.pollresults import compliance, response_rate
from storage.transcripts import SqlTranscripts, web_group_posts
from tests.admin_web import admin_browser
from tests.conftest import make_settings
from tests.test_admin_cases import signed_in
from tests.test_digest import seed_reports

PNG = b"\x89PNG\r\n\x1a\n"


def web_chat(core) -> WebChat:
    context = ChannelContext(
        core.dispatcher,
        core.translations,
        core.settings.attachments_dir,
        core.settings.max_attachment_bytes,
        core.settings.public_url,
    )
    return WebChat(context, SqlTranscripts(core.sessions), secure_cookies=False)


async def test_a_leader_reads_the_digest_and_its_chart_in_the_leaders_chat_on_the_web(core):
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, "leaders", "web", "leaders-room")
    await seed_reports(core, datetime.now(UTC))
    core.senders["web"] = web_chat(core)
    assert await daily_digest(core) == 1
    assert await core.delivery.run_once() == 2  # the digest's text, then its chart
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "leader", "7002")
        menu = await browser.get("/admin/cases")
        assert 'href="/admin/chats/leaders"' in menu.text
        page = await browser.get("/admin/chats/leaders")
        assert page.status == 200, page.text
        assert "PA-0002" in page.text and "🔥" in page.text
        chart = page.text.split('<img src="')[1].split('"')[0]
        async with browser.client.get(chart) as resp:
            assert resp.status == 200 and (await resp.read()).startswith(PNG)
        async with browser.client.get("/admin/chats/charts/..%2Fgr.db") as resp:
            assert resp.status == 404


async def test_the_leaders_chat_is_not_for_departments_nor_for_anyone_signed_out(core):
    async with admin_browser(core) as browser:
        assert (await browser.get("/admin/chats/leaders")).status == 303
        await signed_in(core, browser, "handler", "7003", dept="BTC")
        page = await browser.get("/admin/chats/leaders")
        assert page.status == 403


async def test_the_chart_route_serves_only_a_digest_chart_whatever_name_a_stranger_sends(core):
    """Hostile names: traversal (plain, encoded, doubled), absolute paths, a file beside the
    charts that is a PNG, names that almost match; each is a 404 and no byte of another file."""
    root = core.settings.attachments_dir
    (root / "charts").mkdir(parents=True, exist_ok=True)
    (root / "secret.png").write_bytes(PNG + b"private photo")
    real = "20261203-0123456789ab.png"
    (root / "charts" / real).write_bytes(PNG + b"chart")
    hostile = [
        "..%2Fsecret.png",
        "..%252Fsecret.png",
        "%2E%2E%2Fsecret.png",
        "%2Fetc%2Fpasswd",
        "20261203-0123456789ab.png%00.txt",
        "20261203-0123456789ab.png%0A",
        "20261203-0123456789AB.png",
        "20261203-0123456789ab.png.bak",
        "x" * 5000,
        "%F0%9F%94%A5.png",
    ]
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "leader", "7002")
        async with browser.client.get(f"/admin/chats/charts/{real}") as resp:
            assert resp.status == 200 and await resp.read() == PNG + b"chart"
        for name in hostile:
            async with browser.client.get(f"/admin/chats/charts/{name}") as resp:
                body = await resp.read()
                assert resp.status == 404, (name, resp.status)
                assert b"private photo" not in body, name


async def _promised(core) -> dict[str, object]:
    """What the issue promises a newcomer sees, read from the database."""
    now = datetime.now(UTC)
    async with core.sessions() as session:
        statuses = set((await session.execute(select(Report.status).distinct())).scalars())
        rounds = (await session.execute(select(PollRound))).scalars().all()
        closed_polls = [
            await response_rate(session, r.id)
            for r in rounds
            if r.definition.get("kind") == "poll" and r.status == "closed" and r.results_sent_at
        ]
        late = [
            (await compliance(session, r.id)).count("late")
            for r in rounds
            if r.definition.get("kind") == "sitrep"
        ]
        posts = await web_group_posts(session, "leaders", 500)
        month = await collect(session, now - timedelta(days=14), now, core.settings.tz)
        bindings = (await session.execute(select(ChatBinding))).scalars().all()
        waiting = (
            await session.execute(
                select(func.count()).where(col_status_waiting(OutboxMessage.status))
            )
        ).scalar_one()
    return {
        "statuses": statuses,
        "closed polls answered": [responded for responded, _invited in closed_polls],
        "late units": late,
        "digest days": {p.at.date() for p in posts if "PA-" in p.text or p.photo},
        "charts": [p.photo for p in posts if p.photo],
        "by category": month.by_category,
        "channels": {b.channel for b in bindings},
        "waiting": waiting,
    }


def col_status_waiting(status):
    return status.in_(("pending", "sending"))


@pytest.fixture
async def empty_core(tmp_path, sqlite_url, migrated_sqlite):
    """The core on a migrated, empty database, as `run --demo` finds it on a fresh machine."""
    shutil.copyfile(migrated_sqlite, tmp_path / "test.db")
    built = await build_core(make_settings(tmp_path, sqlite_url))
    yield built
    await built.close()


# The demo's usual history, 9 days (12 at most, when its situation report would open after the
# 28th: the test below checks every day of the month).
@pytest.mark.parametrize("wall_clock", ["2026-06-20T03:00:00"], indirect=True)
async def test_the_demo_starts_with_a_month_of_history_and_seeds_it_once(empty_core):
    core = empty_core
    summary = await seed_demo_with_history(core, demo_month)
    assert summary and "U007" in summary  # the invites are printed as before
    seen = await _promised(core)
    assert seen["statuses"] >= {s.value for s in Status}, seen["statuses"]
    assert any(seen["closed polls answered"]), seen  # a closed poll with results
    assert any(seen["late units"]), seen  # a situation report with late units
    assert len(seen["digest days"]) >= 7 and seen["charts"], seen  # a week of digests
    assert sum(n for _c, n in seen["by category"]) > 0  # the dashboard's charts have bars
    assert seen["channels"] == {"web"}  # every group chat is on the one channel the demo runs
    assert seen["waiting"] == 0  # nothing queued for the simulation's fake messengers
    async with core.sessions() as session:
        reports = (await session.execute(select(func.count()).select_from(Report))).scalar_one()

    assert await seed_demo_with_history(core, demo_month) is None  # a second start
    async with core.sessions() as session:
        again = (await session.execute(select(func.count()).select_from(Report))).scalar_one()
    assert again == reports


@pytest.mark.parametrize("day", range(1, 32))
def test_every_day_of_the_month_plays_12_days_at_most_with_whole_rounds(day):
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    now = datetime(2026, 7, day, 9, 41, tzinfo=tz).astimezone(UTC)
    history = demo_history(now, tz, Scale.demo())
    sitrep, poll = sorted(history.polls, key=lambda d: d.kind != "sitrep")
    assert 9 <= history.days <= 12, history
    opens = history.start.astimezone(tz)
    assert (opens.day, opens.time()) == (sitrep.schedule.open_day, sitrep.schedule.open_time)
    last_day = calendar.monthrange(opens.year, opens.month)[1]
    due = opens.replace(day=min(sitrep.schedule.due_day, last_day))
    assert now - due.replace(hour=17, minute=0) > timedelta(days=3)  # late units and escalations
    assert history.start + timedelta(days=history.days) > now - timedelta(hours=1)  # ends now
    assert len(sitrep.audience.units) == Scale.demo().units
    assert poll.schedule.cron == f"0 8 {(now.astimezone(tz) - timedelta(days=5)).day} * *"


async def interrupted(core, now):
    """A start stopped (Ctrl-C) while it plays the weeks, the organisation seeded."""
    raise KeyboardInterrupt


async def test_a_start_stopped_while_seeding_is_not_served_as_a_whole_history(empty_core):
    core = empty_core
    with pytest.raises(KeyboardInterrupt):
        await seed_demo_with_history(core, interrupted)
    with pytest.raises(StartError, match=r"half-built.*delete .*test\.db.*run --demo"):
        await seed_demo_with_history(core, demo_month)
    async with core.sessions() as session:  # and nothing was played over it
        assert (await session.execute(select(func.count()).select_from(Report))).scalar_one() == 0


async def test_run_demo_plays_the_history_and_empty_starts_without(
    tmp_path, sqlite_url, monkeypatch
):
    started = []

    async def serve(settings, demo, history=None):
        started.append((demo, history))

    monkeypatch.setattr("bot.app.serve", serve)
    for argv in (["--demo"], ["--demo", "--history"], ["--demo", "--empty"], []):
        await cmd_run(_parser().parse_args(["run", *argv]), make_settings(tmp_path, sqlite_url))
    assert started == [(True, demo_month), (True, demo_month), (True, None), (False, None)]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--history"], "--history goes with --demo"),
        (["--empty"], "--empty goes with --demo"),
        (["--demo", "--history", "--empty"], "choose one"),
    ],
)
async def test_run_says_which_demo_flags_go_together_before_starting(
    tmp_path, sqlite_url, argv, says
):
    args = _parser().parse_args(["run", *argv])
    with pytest.raises(CliError, match=says):
        await cmd_run(args, make_settings(tmp_path, sqlite_url))
