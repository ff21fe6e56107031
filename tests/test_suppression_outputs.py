"""Small groups of hidden reports in every output that breaks reports down: the leaders' digest
and its chart, the admin dashboard and its charts, and the monthly document. One seeded day is
published the same way by all of them, so no output can be combined with another to recover a
suppressed group; named reports are shown as they are."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from docx import Document
from sqlalchemy import select

from reports import digest as digest_module
from reports.digest import build
from reports.monthly import build_monthly_report
from storage.models import OrgUnit, Report
from tests.admin_web import admin_browser
from tests.test_admin_cases import signed_in

# category, anonymity, count: workplace is a big group (one of five hidden), security and
# discipline hold one hidden report each, policy two named ones.
SEED = [
    ("workplace", "named", 4),
    ("workplace", "anonymous", 1),
    ("security", "anonymous", 1),
    ("discipline", "confidential", 1),
    ("policy", "named", 2),
]


async def seed(
    core: Any, now: datetime, seed: list[tuple[str, str, int]] = SEED, unit_code: str = "U001"
) -> None:
    async with core.sessions() as session, session.begin():
        unit = (
            await session.execute(select(OrgUnit).where(OrgUnit.code == unit_code))
        ).scalar_one()
        i = len((await session.execute(select(Report.id))).all())
        for category, anonymity, count in seed:
            for _ in range(count):
                i += 1
                session.add(
                    Report(
                        code=f"PA-{i:04d}",
                        category=category,
                        urgency="normal",
                        unit_id=unit.id,
                        description="…",
                        anonymity=anonymity,
                        channel="telegram",
                        created_at=now - timedelta(minutes=10 * i),
                    )
                )


def label(core: Any, code: str) -> str:
    cat = core.catalog.category(code)
    return cat.label("en")


@pytest.fixture
def charts(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The data every digest chart is drawn from."""
    drawn: list[Any] = []
    real = digest_module.plot_daily

    def spy(t: Any, catalog: Any, data: Any, target: Any) -> None:
        drawn.append(data)
        real(t, catalog, data, target)

    monkeypatch.setattr(digest_module, "plot_daily", spy)
    return drawn


async def test_digest_text_and_chart_merge_small_hidden_groups(core, charts):
    now = datetime.now(UTC)
    await seed(core, now)
    text, _chart = await build(core, now - timedelta(days=1), now)
    vi = core.translations(None)  # the organisation's language: Vietnamese
    other = vi("Other (small groups)")
    lines = text.splitlines()
    start = lines.index(vi("By category:"))
    # Workplace is shown; security (1) and discipline (1) are merged, with policy's 2 named
    # reports taken in so that "Other" is neither one group nor under 3.
    assert lines[start + 1 : start + 3] == [
        f"• {core.catalog.category('workplace').label(vi.locale)}: 5",
        f"• {other}: 4",
    ]
    assert core.catalog.category("security").label(vi.locale) not in text
    assert "Các nhóm có dưới 3 phản ánh" in text  # and a line says why
    # The chart draws the same groups: no bar for security or discipline on any day.
    (data,) = charts
    for _day, counts, total, _resolved in data.daily:
        assert "security" not in counts and "discipline" not in counts
        assert sum(counts.values()) == total


async def test_named_reports_are_shown_as_they_are(core):
    now = datetime.now(UTC)
    await seed(core, now, [("security", "named", 1), ("policy", "named", 2)])
    vi = core.translations(None)
    text, _chart = await build(core, now - timedelta(days=1), now)
    assert f"• {core.catalog.category('security').label(vi.locale)}: 1" in text
    assert vi("Other (small groups)") not in text


async def test_dashboard_and_monthly_document_publish_the_same_groups_as_the_digest(
    core, monkeypatch
):
    now = datetime.now(UTC)
    await seed(core, now)
    bars: dict[str, list[tuple[str, int]]] = {}
    from bot.admin import dashboard

    real = dashboard._bar_chart

    def spy(title: str, drawn: list[tuple[str, int]]) -> bytes:
        bars[title] = drawn
        return real(title, drawn)

    monkeypatch.setattr(dashboard, "_bar_chart", spy)
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "leader", "7003")
        page = await browser.get("/admin/")
        assert 'id="merged-note"' in page.text and "fewer than 3 hidden reports" in page.text
        for which in ("category", "unit-kind"):
            async with browser.client.get(f"/admin/charts/{which}.png") as resp:
                assert resp.status == 200
    other = "Other (small groups)"
    assert bars["Reports this month, by category"] == [(label(core, "workplace"), 5), (other, 4)]
    # One unit, so one kind of unit of 9 reports: shown as it is.
    assert [n for _, n in bars["Reports this month, by kind of unit"]] == [9]

    document = await build_monthly_report(core, now.astimezone(core.settings.tz).date(), "en")
    tables = Document(io.BytesIO(document)).tables
    rows = [[c.text for c in row.cells] for table in tables for row in table.rows]
    assert [label(core, "workplace"), "5", "55.6%"] in rows
    assert [other, "4", "44.4%"] in rows
    assert not any(r[0] in (label(core, "security"), label(core, "discipline")) for r in rows)


async def test_a_row_level_export_does_not_name_the_unit_of_a_lone_hidden_report(core):
    now = datetime.now(UTC)
    await seed(core, now)  # U001: three hidden reports, enough to name the unit
    await seed(core, now, [("policy", "anonymous", 1), ("policy", "named", 1)], "U070")
    async with admin_browser(core) as browser:
        await signed_in(core, browser, "staff", "7001")
        async with browser.client.get("/admin/cases/export.csv") as resp:
            rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    header, data = rows[0], {r[0]: r for r in rows[1:]}
    unit = header.index("Unit code")
    lone, named = data["PA-0010"], data["PA-0011"]
    assert lone[unit] == lone[unit + 1] == "Hidden (small group)"
    assert named[unit] == "U070"  # a named report's unit is shown as it is
    assert {data[f"PA-{i:04d}"][unit] for i in range(1, 10)} == {"U001"}
    assert "U070" not in lone and lone[header.index("Reporter")] == "Anonymous"
