"""Accent-insensitive full-text search of case descriptions, on SQLite and on PostgreSQL alike.

A staffer types "luong" for "lương" and "duong" for "Đường": the description and the query are both
folded to plain lower-case letters (marks dropped, đ/Đ made d). Every word of the query must begin
a word of the description, in any order, so "luon thap" finds "Lương quá thấp". The same rule on
both databases, each answering from an index instead of reading every description:

- SQLite: `report_fts`, a contentless FTS5 table (tokenizer `unicode61 remove_diacritics 2`) over
  the description with đ/Đ replaced first (unicode61 removes combining marks, and đ is a letter
  of its own, not a d with a mark). Triggers on `report` keep it in step rather than the code
  that writes reports: every writer is covered (the intake, imports, bulk SQL of a restore or a
  bench), and contentless keeps each text once, in `report`.
- PostgreSQL: a GIN index over `to_tsvector('simple', grassroots_fold(description))`, where
  `grassroots_fold` is `unaccent(lower(...))` declared IMMUTABLE so it may be indexed. Chosen over
  a pg_trgm index because it matches words the way FTS5 does (the two databases answer the same
  search the same way) and short Vietnamese syllables ("đi", "ở") stay indexed; bench/search.py
  measures both.

Only the description is searched: a hidden reporter's identity is never part of what is indexed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import Integer, Select, column, func, literal_column, table
from sqlmodel import col

from storage.models import Report

MAX_WORDS = 8  # a pasted paragraph is searched by its first words, not turned into a huge query
_WORD = re.compile(r"[^\W_]+")

# What the migration creates, named here once so autogenerate and the model check skip them.
FTS_TABLE = "report_fts"
PG_FOLD_FUNCTION = "grassroots_fold"
PG_INDEX = "ix_report_description_search"
# FTS5 keeps its index in shadow tables named after the virtual table.
_SEARCH_TABLES = frozenset(
    {FTS_TABLE} | {f"{FTS_TABLE}_{part}" for part in ("data", "idx", "docsize", "config")}
)


def is_search_object(name: str | None, type_: str, _parents: Any = None) -> bool:
    """True for the tables and index that exist for search only (no model describes them)."""
    return (type_ == "table" and name in _SEARCH_TABLES) or (type_ == "index" and name == PG_INDEX)


def fold(value: str) -> str:
    """Lower case, marks removed, đ made d: what both databases index for a description."""
    decomposed = unicodedata.normalize("NFD", value.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def query_words(value: str) -> list[str]:
    """The folded words of a search, at most MAX_WORDS; punctuation is not a word."""
    return _WORD.findall(fold(value))[:MAX_WORDS]


def narrow_to_matches(stmt: Select[Any], dialect: str, words: list[str]) -> tuple[Select[Any], Any]:
    """`stmt` (over `report`) kept to the reports whose description has every word, and the
    column its pages are to be ordered and keyed by: the id (as an expression on PostgreSQL,
    see below), or on SQLite the FTS table's
    rowid, the same number, which FTS5 hands over newest first so a page of a word found in
    half the reports stops after its fifty rows.

    `words` come from `query_words`, so they hold letters and digits only and can be quoted
    into either database's query syntax safely (they are bound as parameters all the same).
    """
    if dialect == "postgresql":
        simple: Any = literal_column("'simple'::regconfig")
        vector = func.to_tsvector(simple, func.grassroots_fold(col(Report.description)))
        query = func.to_tsquery(simple, " & ".join(f"{w}:*" for w in words))
        # Ordered by `id + 0`, not `id`: with `id` the planner may walk the primary key newest
        # first testing each description (46 s for a word no report has, at a million), where
        # the GIN index hands over exactly the matches.
        return stmt.where(vector.op("@@")(query)), col(Report.id) + 0
    match = _FTS.c[FTS_TABLE].op("MATCH")(" ".join(f'"{w}"*' for w in words))
    return stmt.join(_FTS, _FTS.c.rowid == col(Report.id)).where(match), _FTS.c.rowid


_FTS = table(FTS_TABLE, column("rowid", Integer), column(FTS_TABLE))
