"""Likely duplicates, found in the database: each report's normalised text and its MinHash LSH
band keys are written with the report (similar_text, similar_band), so every instance of the
application finds the same candidates and nothing in a process can go stale.

A lookup is one indexed query: the open reports of the last 30 days sharing at least one band
key with the new text, the ones sharing most first (the share of equal bands grows with the
texts' likeness), at most CANDIDATES of them; those are then scored exactly by
handlers/similarity.py. Only text, unit and category are read: never who reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert
from sqlalchemy import select as sa_select  # six columns: more than sqlmodel's select types
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.casework import OPEN
from handlers.similarity import (
    MAX_HINTS,
    THRESHOLD,
    WINDOW_DAYS,
    Comparable,
    SimilarHint,
    best_matches,
    features,
    lsh_keys,
    may_pair,
)
from handlers.text import fold
from handlers.vietnamese import Normalised, normalise
from storage.models import Report, SimilarBand, SimilarText

CANDIDATES = 20  # exact scoring for at most this many reports sharing the most bands
SCANNED = 400  # of the reports sharing most bands, how many are checked for being open and recent
OPEN_STATUSES = sorted(s.value for s in OPEN)


@dataclass(frozen=True)
class IndexedText:
    """A text as it is compared and indexed: normalised once, its distinct band keys computed
    once (a new report is indexed and then looked up with the same ones). No database needed."""

    norm: Normalised
    keys: tuple[int, ...]


def indexed_text(text: str) -> IndexedText:
    norm = normalise(text)
    return IndexedText(norm, tuple(dict.fromkeys(lsh_keys(norm))))


_texts = SimilarText.__table__  # type: ignore[attr-defined]
_bands = SimilarBand.__table__  # type: ignore[attr-defined]
_INSERT_TEXT = insert(_texts)
_INSERT_BAND = insert(_bands)


async def index_report(session: AsyncSession, report_id: int, description: str) -> None:
    """Write (or rewrite) a report's comparable text and band keys. Safe to run twice."""
    await session.execute(delete(SimilarBand).where(col(SimilarBand.report_id) == report_id))
    await session.execute(delete(SimilarText).where(col(SimilarText.report_id) == report_id))
    await index_new_report(session, report_id, indexed_text(description))


async def index_new_report(session: AsyncSession, report_id: int, text: IndexedText) -> None:
    """Index a report just inserted (nothing to delete for a new id): two Core INSERTs, the
    band keys as one executemany, not one ORM object each (64 of them cost ~5 ms)."""
    connection = await session.connection()
    await connection.execute(_INSERT_TEXT, {"report_id": report_id, "normalised": text.norm.text})
    rows = [{"band_key": k, "report_id": report_id} for k in text.keys]
    if rows:
        await connection.execute(_INSERT_BAND, rows)


async def index_missing(session: AsyncSession, batch: int = 500) -> int:
    """Index up to `batch` reports written before reports were indexed, newest first; how many
    were."""
    stmt = (
        select(Report.id, Report.description)
        .outerjoin(SimilarText, col(SimilarText.report_id) == col(Report.id))
        .where(col(SimilarText.report_id).is_(None))
        .order_by(col(Report.id).desc())
        .limit(batch)
    )
    rows = (await session.execute(stmt)).all()
    for report_id, description in rows:
        await index_report(session, report_id, description)
    return len(rows)


async def similar_open(
    session: AsyncSession, report_id: int, now: datetime, limit: int = MAX_HINTS
) -> list[SimilarHint]:
    """Up to `limit` open reports of the last 30 days most like this one, best first."""
    report = await session.get(Report, report_id)
    if report is None:
        return []
    return await similar_to(
        session,
        report.description,
        report.unit_id,
        report.category,
        now,
        report_id,
        limit,
        report.anonymity,
    )


_r = Report.__table__  # type: ignore[attr-defined]
_hits = func.count().label("hits")
_ranked = (
    sa_select(_bands.c.report_id, _hits)
    .where(_bands.c.band_key.in_(bindparam("keys", expanding=True)))
    .group_by(_bands.c.report_id)
    .order_by(_hits.desc(), _bands.c.report_id.desc())
    .limit(SCANNED)
    .subquery()
)
# Built once (building it cost more than running it): the reports sharing most bands with a
# text, kept if open and recent, with their texts.
_SIMILAR = (
    sa_select(_r.c.id, _r.c.code, _r.c.unit_id, _r.c.category, _r.c.anonymity, _texts.c.normalised)
    .join(_ranked, _ranked.c.report_id == _r.c.id)
    .join(_texts, _texts.c.report_id == _r.c.id)
    .where(
        _r.c.status.in_(OPEN_STATUSES),
        _r.c.created_at >= bindparam("since"),
        _r.c.id != bindparam("exclude_id"),
    )
    .order_by(_ranked.c.hits.desc(), _r.c.id.desc())
    .limit(CANDIDATES)
)


async def similar_to(
    session: AsyncSession,
    text: str | IndexedText,
    unit_id: int | None,
    category: str,
    now: datetime,
    exclude_id: int | None = None,
    limit: int = MAX_HINTS,
    anonymity: str = "named",
) -> list[SimilarHint]:
    """One query: the reports sharing most bands with the text (counted on the index alone,
    whose primary key covers the lookup), kept if open and recent, with their texts; then the
    best of those scored exactly. A text already normalised and hashed is not hashed again."""
    if isinstance(text, str):
        text = indexed_text(text)
    query = Comparable(features(text.norm), unit_id, category)
    if session.new or session.dirty or session.deleted:
        await session.flush()  # as the ORM's autoflush would: the lookup runs past it
    params = {
        "keys": list(text.keys),
        "since": now - timedelta(days=WINDOW_DAYS),
        "exclude_id": exclude_id if exclude_id is not None else -1,
    }
    rows = (await (await session.connection()).execute(_SIMILAR, params)).all()
    found: dict[tuple[int, str], Comparable] = {}
    for rid, code, unit, cat, other_anonymity, normalised in rows:
        assert rid is not None
        if not may_pair(anonymity, unit_id, other_anonymity, unit):
            continue
        found[(rid, code)] = Comparable(
            features(Normalised(normalised, fold(normalised))), unit, cat
        )
    matches = best_matches(query, found.items(), THRESHOLD, limit)
    return [SimilarHint(m.key[0], m.key[1], m.percent) for m in matches]


@dataclass(frozen=True)
class RecentText:
    """A report as topics are found from it: its text, its unit and its LSH band keys."""

    report_id: int
    code: str
    unit_id: int | None
    normalised: str
    bands: frozenset[int]


async def recent_texts(session: AsyncSession, since: datetime, until: datetime) -> list[RecentText]:
    """Every indexed report received in [since, until), whatever its status (a report marked a
    duplicate still tells that one more unit raised the matter)."""
    stmt = (
        select(Report.id, Report.code, Report.unit_id, SimilarText.normalised)
        .join(SimilarText, col(SimilarText.report_id) == col(Report.id))
        .where(col(Report.created_at) >= since, col(Report.created_at) < until)
        .order_by(col(Report.id))
    )
    rows = (await session.execute(stmt)).all()
    bands: dict[int, set[int]] = {}
    ids = [rid for rid, *_ in rows]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found = select(SimilarBand.report_id, SimilarBand.band_key).where(
            col(SimilarBand.report_id).in_(chunk)
        )
        for rid, key in (await session.execute(found)).all():
            bands.setdefault(rid, set()).add(key)
    return [
        RecentText(rid, code, unit, text, frozenset(bands.get(rid, ())))
        for rid, code, unit, text in rows
        if rid is not None
    ]
