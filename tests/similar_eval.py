"""The evaluation protocol for likely duplicates, shared by tests/test_similarity_eval.py and
bench/similar.py.

Data: tests/data/similar_vi.jsonl, labelled pairs (bench/similar_pairs.py writes it). Each side of
a pair is one report text with its matter, unit and category; the matter is the truth.

Retrieval, per split: the pool is every distinct report text of that split. Each text in turn is
the query, and every other text of the pool is a candidate, scored with its unit and category
as the product would. A query's suggestions are its candidates at or over the threshold, best
first, at most three.
- precision of the top suggestion: over the queries with at least one suggestion, the share whose
  first suggestion is of the same matter;
- recall within the top 3: over all (query, other text of the same matter) pairs, the share where
  that other text is among the query's suggestions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).with_name("data") / "similar_vi.jsonl"

Item = dict[str, str]
Scorer = Callable[[Item, Item], float]


def rows() -> list[dict]:
    with DATA.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def pool(split: str) -> list[Item]:
    seen: dict[str, Item] = {}
    for row in rows():
        if row["split"] == split:
            for side in (row["a"], row["b"]):
                seen.setdefault(side["id"], side)
    return [seen[k] for k in sorted(seen)]


@dataclass(frozen=True)
class Figures:
    precision_top1: float
    recall_top3: float
    queries: int
    answered: int
    true_pairs: int


def ranked(items: list[Item], score: Scorer) -> dict[str, list[tuple[float, Item]]]:
    """Each item's candidates, best first (scores computed once per ordered pair)."""
    out: dict[str, list[tuple[float, Item]]] = {}
    for q in items:
        scored = [(score(q, c), c) for c in items if c["id"] != q["id"]]
        scored.sort(key=lambda sc: (-sc[0], sc[1]["id"]))
        out[q["id"]] = scored
    return out


def retrieval(
    items: list[Item], threshold: float, score: Scorer | None = None, ranking=None
) -> Figures:
    ranking = ranking if ranking is not None else ranked(items, score)  # type: ignore[arg-type]
    answered = correct = true_pairs = found = 0
    for q in items:
        top = [c for s, c in ranking[q["id"]][:3] if s >= threshold]
        if top:
            answered += 1
            correct += top[0]["matter"] == q["matter"]
        for other in items:
            if other["id"] != q["id"] and other["matter"] == q["matter"]:
                true_pairs += 1
                found += any(c["id"] == other["id"] for c in top)
    return Figures(
        correct / answered if answered else 1.0,
        found / true_pairs if true_pairs else 1.0,
        len(items),
        answered,
        true_pairs,
    )
