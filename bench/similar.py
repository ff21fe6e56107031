"""Likely duplicates: how good, and how fast.

    uv run python bench/similar.py              # quality of both tokenisers + index at 100,000
    uv run python bench/similar.py --quality    # quality only (a few seconds)
    uv run python bench/similar.py --reports 20000 --postgres URL

Quality, on tests/data/similar_vi.jsonl with the protocol of tests/similar_eval.py, for
- n-grams: character 3- and 4-grams of the meaningful words (handlers/similarity.py, runtime);
- pyvi: words as pyvi's Vietnamese tokenizer cuts them (a development dependency only), on the
  text with diacritics, abbreviations written out, stop words out; word pairs added.
For each, the threshold is chosen on the dev split (the highest recall within the top 3 whose
precision of the top suggestion is at least TARGET_PRECISION), then both splits are reported at
it, with the time one comparison takes.

Index: N reports (default 100,000) are indexed in a scratch SQLite database (and PostgreSQL with
--postgres or TEST_POSTGRES_URL), all open and recent, the worst case; then the time to find the
similar open reports of a new one (storage/similar.py) is measured over 200 new reports: median
and 95th percentile. The target is 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers import similarity  # noqa: E402
from handlers.similarity import Comparable, text_features  # noqa: E402
from handlers.vietnamese import normalise, stopwords  # noqa: E402
from tests.similar_eval import Figures, Item, pool, ranked, retrieval  # noqa: E402

TARGET_PRECISION = 0.92


def pyvi_features(text: str) -> frozenset[str]:
    from pyvi import ViTokenizer  # a development dependency: only this benchmark imports it

    words = [
        w.lower()
        for w in ViTokenizer.tokenize(normalise(text).text).split()
        if w.replace("_", " ") and normalise(w.replace("_", " ")).folded not in stopwords()
    ]
    return frozenset(words) | frozenset(f"{a} {b}" for a, b in itertools.pairwise(words))


def scorer(featurise: Callable[[str], frozenset[str]]) -> Callable[[Item, Item], float]:
    cache: dict[str, Comparable] = {}

    def comparable(item: Item) -> Comparable:
        if item["id"] not in cache:
            cache[item["id"]] = Comparable(featurise(item["text"]), item["unit"], item["category"])
        return cache[item["id"]]

    return lambda a, b: similarity.similarity(comparable(a), comparable(b))


def choose_threshold(items: list[Item], ranking) -> tuple[float, Figures]:
    best: tuple[float, Figures] | None = None
    for step in range(20, 90):
        threshold = step / 100
        figures = retrieval(items, threshold, ranking=ranking)
        if figures.precision_top1 >= TARGET_PRECISION and (
            best is None or figures.recall_top3 > best[1].recall_top3
        ):
            best = (threshold, figures)
    assert best is not None, "no threshold reaches the target precision on dev"
    return best


def quality() -> None:
    dev, held = pool("dev"), pool("heldout")
    print(f"pool: dev {len(dev)} reports, held-out {len(held)} reports")
    for name, featurise in (("n-grams", text_features), ("pyvi", pyvi_features)):
        texts = [i["text"] for i in dev + held]
        start = time.perf_counter()
        for text in texts:
            featurise(text)
        prep_ms = (time.perf_counter() - start) / len(texts) * 1000
        score = scorer(featurise)
        start = time.perf_counter()
        dev_rank = ranked(dev, score)
        n = len(dev) * (len(dev) - 1)
        compare_us = (time.perf_counter() - start) / n * 1e6
        threshold, dev_fig = choose_threshold(dev, dev_rank)
        held_fig = retrieval(held, threshold, score)
        print(
            f"{name:8} threshold {threshold:.2f} | dev P@1 {dev_fig.precision_top1:.3f} "
            f"R@3 {dev_fig.recall_top3:.3f} | held-out P@1 {held_fig.precision_top1:.3f} "
            f"R@3 {held_fig.recall_top3:.3f} | {prep_ms:.2f} ms/text to tokenise, "
            f"{compare_us:.1f} µs/comparison"
        )
    print(f"runtime: n-grams, THRESHOLD = {similarity.THRESHOLD}")


async def index_bench(reports: int, postgres_url: str) -> None:
    print("index: not measured yet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", action="store_true", help="quality only")
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    quality()
    if not args.quality:
        asyncio.run(index_bench(args.reports, args.postgres))


if __name__ == "__main__":
    main()
