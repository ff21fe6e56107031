"""Writes tests/data/similar_vi.jsonl from the matters in bench/similar_matters.py.

    uv run python bench/similar_pairs.py

Each matter is written three ways by hand; one or two of them are then typed the way members
type on a phone: without diacritics, with typos, or with abbreviations. Every pair of two ways of
one matter is a duplicate; pairs of different matters from the same unit, or of the same category,
are the hard non-duplicates. Matters are split into `dev` and `heldout` by a hash of their key,
alternately within each category, so both splits cover every category. Deterministic: the same
matters always give the same file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.similar_matters import MATTERS, NEAR_MISSES  # noqa: E402

OUT = ROOT / "tests" / "data" / "similar_vi.jsonl"

# Phrase → how it is shortened on a phone (the reverse of handlers/data/abbreviations.yaml,
# plus shortenings the list does not know, which the evaluation must survive).
SHORTEN = [
    ("công ty", "cty"),
    ("Công ty", "Cty"),
    ("công nhân", "cn"),
    ("không", "ko"),
    ("được", "dc"),
    ("lương", "lg"),
    ("người", "ng"),
    ("bảo hiểm xã hội", "bhxh"),
    ("Bảo hiểm xã hội", "BHXH"),
    ("khu công nghiệp", "kcn"),
    ("doanh nghiệp", "dn"),
    ("cán bộ", "cb"),
    ("học sinh", "hs"),
    ("bệnh viện", "bv"),
    ("Bệnh viện", "BV"),
    ("tháng", "th"),
    ("với", "vs"),
    ("rồi", "r"),
]


def strip_diacritics(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def typos(text: str, rng: random.Random) -> str:
    """Two or three slips of the thumb: a letter dropped, two swapped, a tone mark lost."""
    words = text.split()
    long_ones = [i for i, w in enumerate(words) if len(w) >= 4]
    for i in rng.sample(long_ones, min(3, len(long_ones))):
        w = words[i]
        j = rng.randrange(1, len(w) - 1)
        slip = rng.choice(("drop", "swap", "tone"))
        if slip == "drop":
            w = w[:j] + w[j + 1 :]
        elif slip == "swap":
            w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
        else:
            w = strip_diacritics(w)
        words[i] = w
    return " ".join(words)


def shorten(text: str) -> str:
    for long, short in SHORTEN:
        text = text.replace(long, short)
    return text


def typed(text: str, how: str, rng: random.Random) -> str:
    if how == "no_diacritics":
        return strip_diacritics(text)
    if how == "typos":
        return typos(text, rng)
    if how == "abbreviations":
        return shorten(text)
    if how == "no_diacritics+abbreviations":
        return strip_diacritics(shorten(text))
    return text


HOWS = ["no_diacritics", "typos", "abbreviations", "no_diacritics+abbreviations", "as_written"]


def splits() -> dict[str, str]:
    """Matter key → dev or heldout: alternately, in hash order, within each category."""
    by_category: dict[str, list[str]] = {}
    for key, category, _unit, _texts in MATTERS:
        by_category.setdefault(category, []).append(key)
    out: dict[str, str] = {}
    for keys in by_category.values():
        ordered = sorted(keys, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
        for i, key in enumerate(ordered):
            out[key] = "dev" if i % 2 == 0 else "heldout"
    return out


def variants(rng: random.Random) -> dict[str, list[dict[str, str]]]:
    """Each matter's three texts as members typed them."""
    out: dict[str, list[dict[str, str]]] = {}
    for n, (key, category, unit, texts) in enumerate(MATTERS):
        hows = ["as_written", HOWS[n % len(HOWS)], HOWS[(n + 2) % len(HOWS)]]
        out[key] = [
            {
                "id": f"{key}#{i}",
                "text": typed(text, how, rng),
                "typed": how,
                "matter": key,
                "category": category,
                "unit": unit,
            }
            for i, (text, how) in enumerate(zip(texts, hows, strict=True))
        ]
    return out


def pairs() -> list[dict[str, object]]:
    rng = random.Random(17)
    split = splits()
    texts = variants(rng)
    rows: list[dict[str, object]] = []

    def pair(a: dict[str, str], b: dict[str, str], label: int, kind: str) -> None:
        rows.append({"split": split[a["matter"]], "label": label, "kind": kind, "a": a, "b": b})

    for n, (key, category, unit, text, near) in enumerate(NEAR_MISSES):
        how = HOWS[n % len(HOWS)]
        lone = {"id": f"{key}#0", "text": typed(text, how, rng), "typed": how, "matter": key}
        lone.update(category=category, unit=unit)
        split[key] = split[near]
        for other in texts[near]:
            pair(lone, other, 0, "near_miss")
    for key, *_ in MATTERS:
        for a, b in itertools.combinations(texts[key], 2):
            pair(a, b, 1, f"duplicate:{b['typed']}")
    for (k1, c1, u1, _), (k2, c2, u2, _) in itertools.combinations(MATTERS, 2):
        if split[k1] != split[k2]:
            continue
        if u1 == u2 or c1 == c2:
            # Each way of writing one matter against some way of writing the other.
            for a in texts[k1]:
                pair(
                    a, texts[k2][rng.randrange(3)], 0, "same_unit" if u1 == u2 else "same_category"
                )
    return rows


def main() -> None:
    rows = pairs()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    dup = sum(1 for r in rows if r["label"] == 1)
    print(f"{len(rows)} pairs ({dup} duplicates, {len(rows) - dup} not) → {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
