"""Anonymous poll results never single anyone out: the leaders' message and chart, the admin
round page, `grassroots poll results` and the exports withhold small groups of answers, the
same way everywhere; a named poll's results are shown as they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from matplotlib.axes import Axes

from handlers.i18n import Translations
from handlers.polldefs import PollDef
from reports.monthly import month_bounds, poll_highlights
from reports.polls import draw_results_chart, render_results
from storage.pollresults import QuestionResult, RoundResults
from tests.admin_web import admin_browser
from tests.chat import Chat
from tests.cli import run_cli
from tests.polls_helpers import definition, load_poll, person
from tests.test_admin_cases import signed_in

OPENS = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def results(anonymous: bool) -> RoundResults:
    """Ten answers to the opinion poll: a few lone ones among them."""
    defn = PollDef.model_validate(definition("opinion-monthly", anonymous=anonymous))
    by_id = {q.id: q for q in defn.questions}

    def q(qid: str, counts: dict[str, int], mean: float | None = None) -> QuestionResult:
        return QuestionResult(qid, by_id[qid].type, by_id[qid].text, 10, counts, mean)

    return RoundResults(
        1,
        1,
        "2026-11",
        defn,
        12,
        10,
        [],
        [
            q("mood", {"stable": 8, "worried": 1, "unsettled": 1}),
            q("concerns", {"jobs": 6, "reform": 1, "corruption": 4}),
            q("confidence", {"4": 7, "5": 2, "3": 1}, 4.1),
            q("hotspot", {"yes": 1, "no": 9}),
        ],
    )


def test_small_groups_of_anonymous_answers_are_withheld_in_text() -> None:
    t = Translations()("en")
    text = render_results(t, results(anonymous=True), UTC, OPENS)
    assert "Stable, confident: 8 (80%)" in text
    assert "Some doubts and worries: < 3" in text and "Upset, unsettled: < 3" in text
    assert "Restructuring of agencies: < 3" in text and "Jobs and income: 6 (60%)" in text
    # A lone "yes": "no" is then shown only as "≥ 3", or it would give "yes" away (10 - 9).
    assert "Yes: < 3" in text and "No: ≥ 3" in text
    # A scale with small points shows its mean only: with the points it would solve them.
    assert "Mean 4.10 from 10 answers" in text and "3: 1" not in text and "5: 2" not in text
    named = render_results(t, results(anonymous=False), UTC, OPENS)
    assert "Upset, unsettled: 1 (10%)" in named and "Yes: 1 (10%)" in named
    assert "1: 0 · 2: 0 · 3: 1 · 4: 7 · 5: 2" in named


def test_the_results_chart_draws_no_bar_for_a_withheld_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars: list[list[float]] = []
    notes: list[str] = []
    real_barh, real_text = Axes.barh, Axes.text

    def barh(self: Axes, labels: Any, values: Any, *a: Any, **kw: Any) -> Any:
        bars.append(list(values))
        return real_barh(self, labels, values, *a, **kw)

    def text(self: Axes, x: Any, y: Any, s: str, *a: Any, **kw: Any) -> Any:
        notes.append(s.strip())
        return real_text(self, x, y, s, *a, **kw)

    monkeypatch.setattr(Axes, "barh", barh)
    monkeypatch.setattr(Axes, "text", text)
    chart = draw_results_chart(Translations()("en"), results(True), tmp_path / "c.png")
    assert chart is not None and chart.exists()
    # mood, concerns and hotspot (bottom to top); the scale with small points is not drawn.
    assert bars == [[0, 0, 8], [4, 0, 0, 6], [0, 0]]
    assert notes.count("< 3") == 4 and "≥ 3" in notes and "1" not in notes


async def _answer(core: Any, user: str, mood: str) -> None:
    chat = Chat(core, user_id=user)
    await chat.say("/poll")
    for step in (mood, "1", "4", "2", "/skip"):
        await chat.say(step)


async def test_round_page_cli_and_exports_publish_the_same_withheld_figures(
    tmp_path: Path, core: Any
) -> None:
    for user in ("c1", "c2", "c3", "c4"):
        await person(core, user, "collaborator", "U001", locale="en")
    with time_machine.travel(OPENS, tick=False):
        from scheduler.polls import run_polls

        await load_poll(
            core,
            "opinion-monthly",
            anonymous=True,
            schedule={"once": "2026-11-25T08:00:00", "window_hours": 48},
        )
        await run_polls(core)
        await _answer(core, "c1", "1")
        await _answer(core, "c2", "1")
        env = {"DATABASE_URL": core.settings.database_url, "DATA_DIR": str(tmp_path)}
        # Two answers: nothing of them is published or exported yet.
        out = await run_cli(["poll", "results", "opinion-monthly", "--format", "csv"], 1, **env)
        assert "Fewer than 3 people have answered this anonymous poll" in out
        await _answer(core, "c3", "1")
        await _answer(core, "c4", "3")
        out = await run_cli(["poll", "results", "opinion-monthly"], **env)
        async with admin_browser(core) as browser:
            await signed_in(core, browser, "leader", "7003")
            page = await browser.get("/admin/polls/opinion-monthly/1")
    # The monthly report's most chosen answer is published the same way.
    since, until = month_bounds(OPENS.date().replace(day=1), core.settings.tz)
    async with core.sessions() as session:
        (default,) = await poll_highlights(session, since, until + timedelta(days=5), "vi")
        (stricter,) = await poll_highlights(session, since, until + timedelta(days=5), "vi", 4)
    assert default.top_answer.endswith("Ổn định, phấn khởi (3)")
    assert stricter.top_answer.endswith("Ổn định, phấn khởi (< 4)")
    assert "Ổn định, phấn khởi: 3 (75%)" in out  # the organisation's language
    assert "Bức xúc, dao động: < 3" in out and "Có băn khoăn, lo lắng: < 3" in out
    page_text = page.text.replace("&lt;", "<")  # the staffer chose English
    assert "Stable, confident: 3 (75%)" in page_text
    assert "Upset, unsettled: < 3" in page_text and "Some doubts and worries: < 3" in page_text
