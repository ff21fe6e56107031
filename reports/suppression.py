"""Small groups never give anyone away: what of a breakdown may be published.

A breakdown is a table of cells (label -> count). A cell holding anonymous data (hidden reports,
answers to an anonymous poll) with a count under `k` (the MIN_GROUP_SIZE setting) could point at
one person ("the only anonymous report from unit X"), so it is never published as it is:

- `merge_small` folds such cells into one "Other" row (lists: by category, kind of unit...);
- `mask_small` keeps every row in place and shows the cell as `< k` (fixed rows: a poll's
  options).

Either way a differencing check follows (complementary suppression), so a withheld cell cannot
be recovered as the published total minus the rest. The rules are pure and deterministic: the
same breakdown is suppressed the same way wherever it is published (digest, chart, dashboard,
monthly document), so combining two outputs recovers nothing either. docs/privacy.md explains
the choices. Named data is shown as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from handlers.i18n import Translator
from storage.digests import DigestData

DEFAULT_MIN_GROUP_SIZE = 3
OTHER = "*other*"  # the key of the merged row; no category or kind of unit is spelt like this


@dataclass(frozen=True)
class Cell:
    key: str
    count: int
    hidden: int = 0  # how many of `count` are anonymous; == count for a wholly anonymous table


def anonymous(cells: Iterable[tuple[str, int]]) -> list[Cell]:
    """Cells of a wholly anonymous table."""
    return [Cell(key, n, n) for key, n in cells]


def is_small(cell: Cell, k: int) -> bool:
    """The primary rule: a published count under k that holds anonymous data."""
    return cell.hidden > 0 and cell.count < k


def merge_small(cells: Iterable[Cell], k: int) -> list[tuple[str, int]]:
    """The non-empty cells in their order, small ones merged into a last (OTHER, n) row.

    Complementary suppression: "Other" always holds at least two cells and at least k items,
    taking the next smallest cells in until it does, so neither a merged cell nor the
    difference total minus the rest gives a small count away. When that swallows every cell,
    the breakdown says nothing beyond the total: it is published only if the total reaches k."""
    cells = [c for c in cells if c.count > 0]
    merged = {c.key for c in cells if is_small(c, k)}
    if not merged:
        return [(c.key, c.count) for c in cells]
    rest = sorted((c for c in cells if c.key not in merged), key=lambda c: (c.count, c.key))

    def other() -> int:
        return sum(c.count for c in cells if c.key in merged)

    while rest and (len(merged) < 2 or other() < k):
        merged.add(rest.pop(0).key)
    if other() < k:
        return []
    return [(c.key, c.count) for c in cells if c.key not in merged] + [(OTHER, other())]


@dataclass(frozen=True)
class Figure:
    """One published cell of a masked table: its count, or withheld as `< k` or `≥ k`."""

    key: str
    count: int | None
    below: bool = True  # when withheld: the true count is under k (else at least k)

    @property
    def withheld(self) -> bool:
        return self.count is None

    def shown(self, k: int) -> str:
        if self.count is not None:
            return str(self.count)
        return f"< {k}" if self.below else f"≥ {k}"


def _pinned(values: list[int], k: int) -> bool:
    """Whether cells each known to lie in [0, k-1], with their sum known, can be solved:
    only one cell, or every one at the top of its range."""
    return len(values) == 1 or sum(values) == len(values) * (k - 1)


@dataclass(frozen=True)
class Masked:
    figures: list[Figure]
    total_ok: bool = True  # False: the table's total must not be published beside it

    @property
    def any_withheld(self) -> bool:
        return any(f.withheld for f in self.figures)


def mask_small(cells: Iterable[Cell], k: int, total_known: bool = True) -> Masked:
    """Every cell in place; small ones withheld as `< k`.

    With the total published (`total_known`; a single-choice question's answers), withheld
    cells must not be solvable from it: the next smallest cells under k (zeros included) are
    withheld too until they are not, and if none is left the smallest remaining cell is shown
    only as `≥ k`, which leaves every withheld cell a range of values. When every cell is
    withheld and still solvable, `total_ok` is False: the caller leaves the total out."""
    cells = list(cells)
    masked = {c.key for c in cells if is_small(c, k)}
    at_least: set[str] = set()
    if masked and total_known:
        under = sorted(
            (c for c in cells if c.key not in masked and c.count < k),
            key=lambda c: (c.count, c.key),
        )
        while under and _pinned([c.count for c in cells if c.key in masked], k):
            masked.add(under.pop(0).key)
        if _pinned([c.count for c in cells if c.key in masked], k):
            big = sorted((c for c in cells if c.key not in masked), key=lambda c: (c.count, c.key))
            if big:
                at_least.add(big[0].key)
    total_ok = not (
        masked
        and total_known
        and not at_least
        and _pinned([c.count for c in cells if c.key in masked], k)
    )
    figures = [
        Figure(c.key, None, True)
        if c.key in masked
        else Figure(c.key, None, False)
        if c.key in at_least
        else Figure(c.key, c.count)
        for c in cells
    ]
    return Masked(figures, total_ok)


def other_label(t: Translator) -> str:
    return t("Other (small groups)")


# -- the digest's breakdowns, as the digest, its chart, the dashboard and the monthly document
# publish them ------------------------------------------------------------------------------------
def _merged(
    counts: Iterable[tuple[str, int]], hidden: dict[str, int], k: int
) -> list[tuple[str, int]]:
    return merge_small([Cell(key, n, hidden.get(key, 0)) for key, n in counts], k)


def published_digest(data: DigestData, k: int) -> DigestData:
    """The digest's figures with every breakdown by category and kind of unit suppressed.

    Each day of the chart is suppressed as its own table (its bar is stacked to the day's
    total, which the chart also shows); a day whose small cells cannot be hidden among others
    is drawn as one "Other" bar, which says no more than that total."""
    daily = []
    for (day, counts, total, resolved), hidden in zip(data.daily, data.daily_hidden, strict=True):
        cells = _merged(counts.items(), hidden, k)
        if not cells and total:
            cells = [(OTHER, total)]
        daily.append((day, dict(cells), total, resolved))
    return replace(
        data,
        by_category=_merged(data.by_category, data.hidden_by_category, k),
        by_host_kind=_merged(data.by_host_kind, data.hidden_by_host_kind, k),
        daily=daily,
        hidden_by_category={},
        hidden_by_host_kind={},
        daily_hidden=[{} for _ in daily],
        min_group_size=k,
    )


def merged_note(t: Translator, data: DigestData) -> str | None:
    """A line saying why "Other" is there, when a breakdown has one."""
    keys = [key for key, _ in data.by_category + data.by_host_kind]
    if OTHER not in keys:
        return None
    return t(
        "Groups of fewer than {count} hidden reports are merged into “Other”, so nobody can be "
        "recognised.",
        count=data.min_group_size,
    )
