"""The admin's case search: accent-insensitive, by word beginnings, from an index, on SQLite and
PostgreSQL alike; never a way to a hidden reporter's identity."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import delete, text, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.casequery import CaseFilter, _query, case_page
from storage.db import create_engine, session_factory
from storage.migrate import alembic_config, upgrade
from storage.models import Person, Report
from storage.search import fold, query_words

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
TEXTS = {
    "PA-0001": "Chậm trả lương tháng 10 cho công nhân.",
    "PA-0002": "Đường vào xưởng bị ngập, đi lại khó khăn.",
    "PA-0003": "Máy ở tổ hai hỏng đã lâu.",
}


@pytest.fixture
async def sessions(migrated_db_url):
    engine = create_engine(migrated_db_url)
    factory = session_factory(engine)
    async with factory() as s, s.begin():
        for code, description in TEXTS.items():
            s.add(_report(code, description))
    yield factory
    await engine.dispose()


def _report(code: str, description: str, **extra: object) -> Report:
    values: dict = dict(category="workplace", urgency="normal", anonymity="anonymous")
    values |= extra
    return Report(code=code, description=description, channel="web", created_at=NOW, **values)


async def _found(sessions, words: str) -> list[str]:
    async with sessions() as s:
        rows, _ = await case_page(s, CaseFilter(text=words), NOW, None, 50)
    return sorted(r.code for r in rows)


SEARCHES = [
    ("luong", ["PA-0001"]),
    ("LƯƠNG", ["PA-0001"]),
    ("duong", ["PA-0002"]),
    ("Đường", ["PA-0002"]),
    ("đuong", ["PA-0002"]),
    ("luon", ["PA-0001"]),  # the beginning of a word
    ("thang luong", ["PA-0001"]),  # every word, in any order
    ("  xưởng,  NGẬP! ", ["PA-0002"]),
    ("o", ["PA-0003"]),  # a one-letter syllable is a word too
    ("may hong", ["PA-0003"]),
    ("luong duong", []),
    ("zzzz", []),
    ("uong", []),  # the middle of a word is not a beginning
]


async def test_search_ignores_accents_and_case_and_matches_word_beginnings(sessions):
    found = {words: await _found(sessions, words) for words, _ in SEARCHES}
    assert found == dict(SEARCHES)


async def test_every_vietnamese_letter_folds_the_same_in_python_and_in_the_database(sessions):
    letters = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"
    words = [f"x{c}{c.upper()}z" for c in letters]
    async with sessions() as s, s.begin():
        s.add(_report("PA-0100", " ".join(words)))
    for word in words:
        assert await _found(sessions, fold(word)) == ["PA-0100"], word


async def test_an_edited_or_deleted_description_is_searched_as_it_now_is(sessions):
    async with sessions() as s, s.begin():
        await s.execute(
            update(Report).where(Report.code == "PA-0001").values(description="Thiếu nước uống.")
        )
    assert await _found(sessions, "luong") == []
    assert await _found(sessions, "nuoc uong") == ["PA-0001"]
    async with sessions() as s, s.begin():
        await s.execute(delete(Report).where(Report.code == "PA-0001"))
    assert await _found(sessions, "nuoc") == []


async def test_search_never_leads_to_a_hidden_reporter(sessions):
    async with sessions() as s, s.begin():
        person = Person(display_name="Trần Bí Mật", role="member", locale="vi")
        s.add(person)
        await s.flush()
        s.add(_report("PA-0200", "Bị đe doạ ở nơi làm việc.", person_id=None))
        s.add(_report("PA-0201", "Thiếu bảo hộ.", person_id=person.id, anonymity="named"))
    assert await _found(sessions, "bi mat") == []  # names are not searched, named or not
    async with sessions() as s:
        rows, _ = await case_page(s, CaseFilter(text="de doa"), NOW, None, 50)
    assert [(r.code, r.named_reporter) for r in rows] == [("PA-0200", "")]


async def test_a_search_is_answered_by_the_index_not_by_reading_every_description(sessions):
    async with sessions() as s:
        dialect = s.get_bind().dialect
        stmt, key = _query(CaseFilter(text="khong co dau"), NOW, dialect.name)
        stmt = stmt.order_by(key.desc()).limit(51)
        if dialect.name == "sqlite":
            sql = str(
                stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
            )
            plan = " | ".join(
                row[-1] for row in (await s.execute(text("EXPLAIN QUERY PLAN " + sql))).all()
            )
            assert "report_fts VIRTUAL TABLE" in plan, plan
            assert "SCAN report " not in plan + " ", plan  # no pass over every report
            assert "TEMP B-TREE" not in plan, plan  # nor a sort of every match
        else:
            # A tiny table is cheaper to read whole; forbid that to see what the index can do.
            await s.execute(text("SET LOCAL enable_seqscan = off"))
            sql = str(
                stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
            )
            plan = " | ".join(row[0] for row in (await s.execute(text("EXPLAIN " + sql))).all())
            assert "ix_report_description_search" in plan, plan


async def test_reports_stored_before_the_migration_are_found(db_url):
    await upgrade(db_url, _before_search())
    engine = create_engine(db_url)
    async with session_factory(engine)() as s, s.begin():  # only the columns it had then
        await s.execute(
            text(
                "INSERT INTO report (code, category, urgency, description, anonymity, status,"
                " channel, locale, created_at, version, delivery_problem) VALUES ('PA-0001',"
                " 'workplace', 'normal', 'Lương về muộn.', 'anonymous', 'new', 'web', 'vi',"
                " :now, 0, '')"
            ),
            {"now": NOW},
        )
    await upgrade(db_url)
    async with session_factory(engine)() as s:
        rows, _ = await case_page(s, CaseFilter(text="luong ve"), NOW, None, 50)
    await engine.dispose()
    assert [r.code for r in rows] == ["PA-0001"]


def _before_search() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return str(script.get_revision("report_search").down_revision)


def test_query_words_are_letters_and_digits_only():
    assert query_words('Lương" OR 1=1 -- *') == ["luong", "or", "1", "1"]
    assert query_words("!!! ...") == []
    assert len(query_words("từ " * 50)) == 8


async def test_matches_come_newest_first_page_after_page(sessions):
    async with sessions() as s, s.begin():
        for n in range(5):
            s.add(_report(f"PA-001{n}", f"Lương kỳ {n} chưa trả."))
    codes, cursor = [], None
    while True:
        async with sessions() as s:
            rows, cursor = await case_page(s, CaseFilter(text="luong"), NOW, cursor, 2)
        codes += [r.code for r in rows]
        if cursor is None:
            break
    assert codes == ["PA-0014", "PA-0013", "PA-0012", "PA-0011", "PA-0010", "PA-0001"]
