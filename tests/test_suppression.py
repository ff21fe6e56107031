"""The suppression rules themselves: no small anonymous figure is published, none can be
recovered by differencing within a table, and named data is shown as it is."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from reports.suppression import (
    OTHER,
    Cell,
    anonymous,
    mask_small,
    merge_small,
    published_digest,
)
from storage.digests import DigestData


@st.composite
def tables(draw: st.DrawFn, max_cells: int = 6, max_count: int = 9) -> tuple[list[Cell], int]:
    k = draw(st.integers(2, 5))
    counts = draw(st.lists(st.integers(0, max_count), min_size=1, max_size=max_cells))
    cells = []
    for i, n in enumerate(counts):
        hidden = draw(st.integers(0, n))
        cells.append(Cell(f"c{i}", n, hidden))
    return cells, k


@settings(max_examples=300, deadline=None)
@given(tables())
def test_merged_breakdowns_publish_no_small_anonymous_figure(table: tuple[list[Cell], int]) -> None:
    cells, k = table
    by_key = {c.key: c for c in cells}
    out = merge_small(cells, k)
    shown = {key for key, _ in out if key != OTHER}
    for key, n in out:
        if key == OTHER:
            members = [c for c in cells if c.count > 0 and c.key not in shown]
            # Differencing: "Other" (= total minus the rest) is never one cell, never small.
            assert n >= k and len(members) >= 2
            assert n == sum(c.count for c in members)
        else:
            assert n == by_key[key].count > 0
            assert by_key[key].hidden == 0 or n >= k
    if out:  # nothing is lost: the rows still add up to the total
        assert sum(n for _, n in out) == sum(c.count for c in cells)
    elif any(
        c.count for c in cells
    ):  # withheld whole only when it says nothing beyond a small total
        assert any(c.hidden for c in cells) and sum(c.count for c in cells) < k
    if not any(c.hidden for c in cells):
        assert out == [(c.key, c.count) for c in cells if c.count]


def _solutions(figures: list, total: int, k: int) -> list[tuple[int, ...]]:
    """Every table a reader could reconstruct from the published figures and the total."""
    ranges = [
        [f.count] if f.count is not None else range(k) if f.below else range(k, total + 1)
        for f in figures
    ]
    return [v for v in itertools.product(*ranges) if sum(v) == total]


@settings(max_examples=300, deadline=None)
@given(tables(max_cells=4, max_count=7), st.booleans())
def test_masked_cells_are_small_claims_and_cannot_be_solved_from_the_total(
    table: tuple[list[Cell], int], total_known: bool
) -> None:
    cells, k = table
    masked = mask_small(cells, k, total_known)
    assert [f.key for f in masked.figures] == [c.key for c in cells]
    for cell, figure in zip(cells, masked.figures, strict=True):
        if figure.count is not None:
            assert figure.count == cell.count
            assert cell.hidden == 0 or cell.count >= k  # no small anonymous figure
        elif figure.below:
            assert cell.count < k and figure.shown(k) == f"< {k}"
        else:
            assert cell.count >= k and figure.shown(k) == f"≥ {k}"
    if not any(c.hidden for c in cells):
        assert not masked.any_withheld and masked.total_ok
    if total_known and masked.total_ok and masked.any_withheld:
        total = sum(c.count for c in cells)
        solutions = _solutions(masked.figures, total, k)
        assert tuple(c.count for c in cells) in solutions
        for i, figure in enumerate(masked.figures):
            if figure.withheld:
                assert len({v[i] for v in solutions}) >= 2, (cells, masked, i)


def test_examples_in_plain_words() -> None:
    # One anonymous report from a small kind of unit is merged with the next smallest.
    assert merge_small([Cell("factory", 9, 2), Cell("school", 1, 1), Cell("ward", 2, 0)], 3) == [
        ("factory", 9),
        (OTHER, 3),
    ]
    # Yes 10, No 1: "No < 3" alone would be 11 - 10; "Yes" is then shown only as "≥ 3".
    masked = mask_small(anonymous([("yes", 10), ("no", 1)]), 3)
    assert [f.shown(3) for f in masked.figures] == ["≥ 3", "< 3"]
    # A zero answer is withheld beside a small one, so neither can be told apart.
    masked = mask_small(anonymous([("yes", 10), ("no", 1), ("maybe", 0)]), 3)
    assert [f.shown(3) for f in masked.figures] == ["10", "< 3", "< 3"]
    # Named data is shown as it is, however small.
    assert merge_small([Cell("a", 1), Cell("b", 2)], 3) == [("a", 1), ("b", 2)]


@settings(max_examples=150, deadline=None)
@given(tables(max_cells=7))
def test_the_digest_publishes_no_small_hidden_group_in_text_or_chart(
    table: tuple[list[Cell], int],
) -> None:
    cells, k = table
    counts = [(c.key, c.count) for c in cells if c.count]
    hidden = {c.key: c.hidden for c in cells}
    now = datetime(2026, 6, 15, tzinfo=UTC)
    data = DigestData(now, now, total=sum(n for _, n in counts), by_category=counts)
    data.hidden_by_category = hidden
    data.daily, data.daily_hidden = [(date(2026, 6, 15), dict(counts), data.total, 0)], [hidden]
    out = published_digest(data, k)
    (_day, bars, total, _resolved) = out.daily[0]
    for published in (out.by_category, list(bars.items())):
        for key, n in published:
            if key != OTHER:
                assert hidden[key] == 0 or n >= k
            else:  # "Other" is never small, unless it is the whole day's bar: its total
                assert n >= k or (published == [(OTHER, total)] and not out.by_category)
    assert sum(bars.values()) == total == data.total  # the stacked bars still reach the total
    # The text and the chart of the same window publish the same groups.
    assert sorted(out.by_category) == sorted(bars.items()) or (not out.by_category and total < k)
