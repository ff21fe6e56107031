"""accent-insensitive search of case descriptions: FTS5 on SQLite, unaccent + GIN on PostgreSQL

Revision ID: report_search
Revises: similar_reports

Builds the index over the reports already stored (one pass; about half a minute per million
reports). See storage/search.py for why each database gets what it gets.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "report_search"
down_revision: str | None = "similar_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelt out rather than imported from storage.search: a migration keeps what it created.
_FOLDED_NEW = "replace(replace(new.description, 'đ', 'd'), 'Đ', 'D')"
_FOLDED_OLD = "replace(replace(old.description, 'đ', 'd'), 'Đ', 'D')"
_DELETE_OLD = (
    "INSERT INTO report_fts(report_fts, rowid, body) VALUES ('delete', old.id, "
    + _FOLDED_OLD
    + ");"
)
_INSERT_NEW = "INSERT INTO report_fts(rowid, body) VALUES (new.id, " + _FOLDED_NEW + ");"

SQLITE_UP = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS report_fts USING fts5("
    "body, content='', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS report_fts_insert AFTER INSERT ON report BEGIN "
    + _INSERT_NEW
    + " END",
    "CREATE TRIGGER IF NOT EXISTS report_fts_delete AFTER DELETE ON report BEGIN "
    + _DELETE_OLD
    + " END",
    "CREATE TRIGGER IF NOT EXISTS report_fts_update AFTER UPDATE OF description ON report BEGIN "
    + _DELETE_OLD
    + " "
    + _INSERT_NEW
    + " END",
    "INSERT INTO report_fts(rowid, body) SELECT id, "
    "replace(replace(description, 'đ', 'd'), 'Đ', 'D') FROM report",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS report_fts_update",
    "DROP TRIGGER IF EXISTS report_fts_delete",
    "DROP TRIGGER IF EXISTS report_fts_insert",
    "DROP TABLE IF EXISTS report_fts",
]
# unaccent is a trusted extension from PostgreSQL 13: a database owner may create it. Its
# function is STABLE (it reads a dictionary), so an index needs this IMMUTABLE wrapper naming
# the dictionary explicitly, and the extension's schema, so a restore with another search_path
# still finds them.
POSTGRES_FOLD = """CREATE OR REPLACE FUNCTION grassroots_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT {schema}.unaccent('{schema}.unaccent'::regdictionary, lower(value)) $$"""
POSTGRES_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_report_description_search ON report "
    "USING gin (to_tsvector('simple'::regconfig, grassroots_fold(description)))"
)
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_report_description_search",
    "DROP FUNCTION IF EXISTS grassroots_fold(text)",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    schema = bind.exec_driver_sql(
        "SELECT quote_ident(n.nspname) FROM pg_extension e"
        " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"
    ).scalar_one()
    op.execute(POSTGRES_FOLD.format(schema=schema))
    op.execute(POSTGRES_INDEX)


def downgrade() -> None:
    # The unaccent extension stays: other objects of the database may have come to use it.
    for statement in SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN:
        op.execute(statement)
