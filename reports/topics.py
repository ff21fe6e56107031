"""Emerging topics: the same matter raised from several units in a week, and the main themes of
free-text answers. Reports are grouped when their texts are alike (handlers/similarity.py; only
text: never who wrote them, and unit only to count how widely a matter is raised); a group is
named by the words its texts share most.

Candidate pairs come from the reports' LSH band keys (storage/similar.py), so a week of a
province's reports is grouped without comparing every pair.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations

from handlers.i18n import Translator
from handlers.similarity import features, lsh_keys, text_similarity
from handlers.text import fold
from handlers.vietnamese import Normalised, normalise, stopwords
from storage.db import Session
from storage.pollresults import round_results, rounds_between
from storage.similar import RecentText, recent_texts

TOPIC_DAYS = 7
MIN_UNITS = 3
# Text likeness for "the same matter" (no unit or category bonus: the units differ by design).
TOPIC_THRESHOLD = 0.40
MAX_TOPICS = 5
MAX_CODES = 10


@dataclass(frozen=True)
class Topic:
    name: str
    codes: tuple[str, ...]
    units: int

    @property
    def count(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class Theme:
    name: str
    count: int


def groups(
    texts: Sequence[Normalised], bands: Sequence[frozenset[int]], threshold: float
) -> list[list[int]]:
    """Indexes of alike texts, grouped (single link over pairs sharing a band), largest first."""
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    grams = [features(t) for t in texts]
    buckets: dict[int, list[int]] = {}
    for i, keys in enumerate(bands):
        for key in keys:
            buckets.setdefault(key, []).append(i)
    seen: set[tuple[int, int]] = set()
    for members in buckets.values():
        for a, b in combinations(members, 2):
            if (a, b) in seen or root(a) == root(b):
                continue
            seen.add((a, b))
            if text_similarity(grams[a], grams[b]) >= threshold:
                parent[root(a)] = root(b)
    out: dict[int, list[int]] = {}
    for i in range(len(texts)):
        out.setdefault(root(i), []).append(i)
    return sorted(out.values(), key=lambda g: (-len(g), g[0]))


def name_of(texts: Iterable[Normalised]) -> str:
    """The words the group's texts share most: the longest run of meaningful words (up to
    three) found in at least half of them, written with diacritics where a text has them."""
    stop = stopwords()
    counts: Counter[tuple[str, ...]] = Counter()
    surfaces: dict[tuple[str, ...], Counter[str]] = {}
    size = 0
    for text in texts:
        size += 1
        words = text.text.split()
        found: set[tuple[str, ...]] = set()
        for n in (1, 2, 3):
            for i in range(len(words) - n + 1):
                run = words[i : i + n]
                key = tuple(fold(w) for w in run)
                if any(k in stop or k.isdigit() for k in key):
                    continue
                found.add(key)
                surfaces.setdefault(key, Counter())[" ".join(run)] += 1
        counts.update(found)
    if not counts:
        return ""
    enough = max(2, math.ceil(size / 2)) if size > 1 else 1
    shared = [k for k, c in counts.items() if c >= enough] or list(counts)
    best = max(shared, key=lambda k: (len(k), counts[k], len(" ".join(k)), k))
    forms = surfaces[best]
    with_marks = [f for f in forms if f != fold(f)]
    return max(with_marks or list(forms), key=lambda f: (forms[f], f))


def topics_of(reports: Sequence[RecentText], min_units: int = MIN_UNITS) -> list[Topic]:
    """Groups of alike reports raised from at least `min_units` units, largest first."""
    texts = [Normalised(r.normalised, fold(r.normalised)) for r in reports]
    found = []
    for group in groups(texts, [r.bands for r in reports], TOPIC_THRESHOLD):
        units = {reports[i].unit_id for i in group if reports[i].unit_id is not None}
        if len(units) >= min_units:
            name = name_of(texts[i] for i in group)
            found.append(Topic(name, tuple(reports[i].code for i in group), len(units)))
    return found[:MAX_TOPICS]


def themes_of(answers: Sequence[str], min_count: int = 2) -> list[Theme]:
    """The main themes of free-text answers (poll answers, a situation report's hot items):
    groups of alike answers, named, with how many answers each holds."""
    texts = [normalise(a) for a in answers if a.strip()]
    out = []
    for group in groups(texts, [frozenset(lsh_keys(t)) for t in texts], TOPIC_THRESHOLD):
        if len(group) >= min_count:
            out.append(Theme(name_of(texts[i] for i in group), len(group)))
    return out[:MAX_TOPICS]


def topic_lines(t: Translator, topics: Sequence[Topic]) -> list[str]:
    """`Nhiều đơn vị cùng phản ánh: chậm trả lương (5 phản ánh, 4 đơn vị)`, then its codes."""
    lines: list[str] = []
    for topic in topics:
        lines += [
            "",
            t(
                "Reported from many units: {topic} ({count} reports, {units} units)",
                topic=topic.name,
                count=topic.count,
                units=topic.units,
            ),
            "• " + ", ".join(topic.codes[:MAX_CODES]) + (" …" if topic.count > MAX_CODES else ""),
        ]
    return lines


async def emerging_topics(session: Session, until: datetime) -> list[Topic]:
    """The topics of the week before `until`."""
    return topics_of(await recent_texts(session, until - timedelta(days=TOPIC_DAYS), until))


async def month_themes(
    session: Session, since: datetime, until: datetime, min_count: int
) -> tuple[list[Theme], list[Theme]]:
    """The main themes of the period's reports, and of the free-text answers of the polls and
    situation reports that closed or fell due in it."""
    reports = await recent_texts(session, since, until)
    texts = [Normalised(r.normalised, fold(r.normalised)) for r in reports]
    of_reports = [
        Theme(name_of(texts[i] for i in group), len(group))
        for group in groups(texts, [r.bands for r in reports], TOPIC_THRESHOLD)
        if len(group) >= min_count
    ][:MAX_TOPICS]
    answers = await free_text_answers(session, since, until)
    return of_reports, themes_of(answers, min_count)


async def free_text_answers(session: Session, since: datetime, until: datetime) -> list[str]:
    """Every free-text answer of the polls that closed, and situation reports that fell due, in
    [since, until)."""
    rounds = await rounds_between(session, "poll", "closes_at", since, until)
    rounds += await rounds_between(session, "sitrep", "due_at", since, until)
    out: list[str] = []
    for rnd in rounds:
        assert rnd.id is not None
        for q in (await round_results(session, rnd.id)).questions:
            out += q.all_texts
    return out
