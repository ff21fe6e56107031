"""How alike two reports are, for "possible duplicate" hints and for topics.

The text counts first: the reports' meaningful words (handlers/vietnamese.py: abbreviations
written out, diacritics folded, stop words out) cut into character n-grams, so a typo or a
missing tone mark costs a few n-grams, not the word. Two texts compare by the cosine of their
n-gram sets. Then a small bonus for the same unit and for the same category; the bonus is given
only to texts already alike (MIN_TEXT), so a place or a category is never enough alone.

The reporter is never an input: a hint can never link an anonymous report to a named one by
who wrote it.

MinHash signatures (the same scheme as datasketch's `MinHash`, computed with numpy so that
importing the core does not pull in scipy) and their LSH band keys let storage find candidates
among 100,000 reports with one indexed query (storage/similar.py); candidates are then scored
exactly here.
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from handlers.vietnamese import Normalised, content_words, normalise

if TYPE_CHECKING:
    import numpy as np

K = TypeVar("K")
NGRAMS = (3, 4)
UNIT_BONUS = 0.04
CATEGORY_BONUS = 0.03
MIN_TEXT = 0.25  # below this the texts are unrelated whatever their unit and category
# Chosen on the dev split of tests/data/similar_vi.jsonl (bench/similar.py); held-out figures
# are kept by tests/test_similarity_eval.py.
THRESHOLD = 0.46
MAX_HINTS = 3
WINDOW_DAYS = 30

# MinHash: NUM_PERM permutations, cut into BANDS bands of ROWS rows for LSH. Three rows a band
# keep the rows a lookup reads small at 100,000 reports; 64 bands keep most duplicates found
# (bench/similar.py measured the choices).
NUM_PERM = 192
ROWS = 3
BANDS = NUM_PERM // ROWS
_MERSENNE = (1 << 61) - 1
_MAX_HASH = (1 << 32) - 1


def features(norm: Normalised) -> frozenset[str]:
    """Character n-grams of the meaningful words, each word padded so its start and end count."""
    grams: set[str] = set()
    for word in content_words(norm.folded):
        padded = f" {word} "
        for n in NGRAMS:
            grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return frozenset(grams)


def lsh_features(norm: Normalised) -> frozenset[str]:
    """What the MinHash is taken of: the meaningful words and their 4-grams. Fewer, rarer
    features than `features`, so unrelated reports share fewer bands."""
    grams: set[str] = set()
    for word in content_words(norm.folded):
        padded = f" {word} "
        grams.add(word)
        grams.update(padded[i : i + 4] for i in range(len(padded) - 3))
    return frozenset(grams)


def lsh_keys(norm: Normalised) -> list[int]:
    """A text's LSH band keys: texts sharing one are candidates to compare."""
    return band_keys(signature(lsh_features(norm)))


def text_features(text: str) -> frozenset[str]:
    return features(normalise(text))


def text_similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Cosine of two n-gram sets: 1 for the same words, 0 for nothing in common."""
    if not a or not b:
        return 0.0
    return len(a & b) / math.sqrt(len(a) * len(b))


@dataclass(frozen=True)
class Comparable:
    """What similarity may look at: the text's n-grams, the unit and the category. Never who
    wrote it."""

    features: frozenset[str]
    unit: object
    category: str


def similarity(a: Comparable, b: Comparable) -> float:
    text = text_similarity(a.features, b.features)
    if text < MIN_TEXT:
        return text
    bonus = (UNIT_BONUS if a.unit is not None and a.unit == b.unit else 0.0) + (
        CATEGORY_BONUS if a.category == b.category else 0.0
    )
    return min(1.0, text + bonus)


def may_pair(anonymity: str, unit: object, other_anonymity: str, other_unit: object) -> bool:
    """Whether two reports may be shown as likely duplicates of each other.

    Never a hidden report beside a named one of the same unit: a member who repeats their own
    named report under a hidden identity would be linked by their words. The rule looks at the
    unit, never the author, so its silence says nothing about who wrote what.
    """
    hidden, other_hidden = anonymity != "named", other_anonymity != "named"
    return hidden == other_hidden or unit is None or unit != other_unit


@dataclass(frozen=True)
class SimilarHint:
    """An open report like this one, as a card or page names it: code and likeness only."""

    report_id: int
    code: str
    percent: int


@dataclass(frozen=True)
class Match(Generic[K]):
    key: K
    score: float

    @property
    def percent(self) -> int:
        return round(self.score * 100)


def best_matches(
    query: Comparable,
    candidates: Iterable[tuple[K, Comparable]],
    threshold: float = THRESHOLD,
    limit: int = MAX_HINTS,
) -> list[Match[K]]:
    """The `limit` most similar candidates at or over the threshold, best first."""
    scored = [Match(key, similarity(query, other)) for key, other in candidates]
    kept = [m for m in scored if m.score >= threshold]
    kept.sort(key=lambda m: (-m.score, str(m.key)))
    return kept[:limit]


# -- MinHash and LSH band keys ---------------------------------------------------------------
# numpy is imported by the functions that compute with it, not with the module: every process
# imports the core, and numpy costs it 0.1-0.25 s, which a `grassroots run` that files no
# report (and `grassroots --help`) need not pay.
@functools.cache
def _permutations(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutations for `seed` (MinHash(NUM_PERM, seed, scheme="legacy") draws the
    same ones, so our signatures equal its own: tests/test_similar.py checks it)."""
    import numpy as np  # here: see above

    gen = np.random.RandomState(seed)
    pairs = [
        (
            gen.randint(1, np.uint64(_MERSENNE), dtype=np.uint64),
            gen.randint(0, np.uint64(_MERSENNE), dtype=np.uint64),
        )
        for _ in range(NUM_PERM)
    ]
    a, b = np.array(pairs, dtype=np.uint64).T
    return a, b


def _sha1_32(gram: str) -> int:
    return int(struct.unpack("<I", hashlib.sha1(gram.encode("utf-8")).digest()[:4])[0])


def signature(grams: Iterable[str]) -> np.ndarray:
    """The MinHash of a set of n-grams: NUM_PERM unsigned 32-bit values."""
    import numpy as np  # here: see above

    hashes = np.fromiter((_sha1_32(g) for g in grams), dtype=np.uint64)
    if hashes.size == 0:
        return np.full(NUM_PERM, np.uint64(_MAX_HASH), dtype=np.uint64)
    perm_a, perm_b = _permutations()
    permuted = (np.outer(hashes, perm_a) + perm_b) % np.uint64(_MERSENNE) & np.uint64(_MAX_HASH)
    return permuted.min(axis=0)


def band_keys(sig: Sequence[int] | np.ndarray) -> list[int]:
    """One signed 63-bit key per band: equal keys mean the band's rows are all equal."""
    import numpy as np  # here: see above

    values = np.asarray(sig, dtype=np.uint64)
    keys = []
    for band in range(BANDS):
        chunk = values[band * ROWS : (band + 1) * ROWS].tobytes()
        digest = hashlib.blake2b(bytes([band]) + chunk, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "big", signed=True) >> 1)
    return keys
