"""The scoreboard against the simulator's own tally (bot/simulate): a seeded four days of a small
organisation, each department's figures counted again from what the simulator did."""

from __future__ import annotations

import shutil
import statistics
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import build_core
from handlers.casework import OPEN
from reports.scoreboard import collect_scoreboard
from tests.conftest import make_settings

simulate = pytest.importorskip("bot.simulate")  # the simulated month (#14 §1)
tally = pytest.importorskip("bot.simulate.tally")


async def test_departments_match_the_simulators_tally(tmp_path: Path, migrated_sqlite: Path):
    hanoi = ZoneInfo("Asia/Ho_Chi_Minh")
    shutil.copyfile(migrated_sqlite, tmp_path / "week.db")
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'week.db'}")
    core = await build_core(settings)
    try:
        start = datetime(2026, 11, 2, 0, 0, tzinfo=hanoi)
        result = await simulate.simulate(
            core, seed=3, scale=simulate.Scale.small(), start=start, days=4
        )
        async with core.sessions() as session:
            board = await collect_scoreboard(
                session, result.start, result.end, hanoi, now=result.end
            )
        catalog = core.catalog
    finally:
        await core.close()
    autoclose = timedelta(days=7)  # longer than the four days: nothing closes itself
    filed = [c for c in result.cases if c.code is not None]
    assert len(filed) >= 5 and any(c.asked_at for c in filed) and any(c.resolved_at for c in filed)
    open_values = {s.value for s in OPEN}
    for dept in result.org.departments:
        mine = [c for c in filed if "assigned" in c.events and c.department == dept]
        score = board.department(dept.name)
        if not mine:
            assert score is None or score.received == 0
            continue
        assert score is not None, dept.name
        resolved = [c for c in mine if c.resolved_at is not None]
        assert score.received == len(mine), dept.name
        assert score.open == sum(
            tally.expected_status(c, autoclose, result.end) in open_values for c in mine
        )
        assert score.resolved == len(resolved)
        assert score.reopened == sum(c.disputed_at is not None for c in mine)
        acks = [(c.acked_at - c.filed_at).total_seconds() / 3600 for c in mine]
        assert score.median_ack == pytest.approx(statistics.median(acks), abs=0.02)

        # On time against the due time set at acknowledgement; a case that waited for its
        # reporter may have gained at most the time from the question to its resolution.
        def due(c):
            urgency = "hot" if c.hot else "normal"
            hours = catalog.due_hours(catalog.categories[c.category].code, urgency)
            return c.acked_at + timedelta(hours=hours)

        surely = sum(c.resolved_at <= due(c) for c in resolved)
        at_most = sum(
            c.resolved_at <= due(c) + (c.resolved_at - c.asked_at if c.asked_at else timedelta(0))
            for c in resolved
        )
        assert surely <= score.on_time <= at_most, dept.name
    unassigned = board.department("")
    assigned = sum("assigned" in c.events for c in filed)
    assert (unassigned.received if unassigned else 0) == len(filed) - assigned
