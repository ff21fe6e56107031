"""Normalising Vietnamese as members type it, and the similarity built on it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete

from handlers import similarity
from handlers.similarity import Comparable, band_keys, signature, text_features
from handlers.vietnamese import normalise, normalise_text
from scheduler.jobs import JOBS
from storage.models import SimilarBand, SimilarText
from storage.similar import similar_open
from tests.test_admin_cases import submit_reports

PIECES = list(
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)
PIECES += list("ĐÀÁCTYK/.,!? 0123456789\n\t_-\u0300\u0301\u0323")
PIECES += ["cty ", "ko ", "đ/c", "t/g", "ubnd", "lg", " k ", "t.p", "p.", "t10"]
VIETNAMESE = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


@given(st.one_of(VIETNAMESE, st.text(max_size=80)))
def test_normalising_never_crashes_and_twice_is_once(text):
    once = normalise(text)
    assert normalise(once.text) == once
    assert normalise_text(once.folded) == once.folded


def test_diacritics_abbreviations_and_typing_styles_meet_in_one_form():
    full = normalise("Công ty may Hòa Thọ KHÔNG trả lương tháng 10 cho công nhân.")
    phone = normalise("cty may hoa tho ko tra lg T10 cho CN!!")
    assert (
        full.folded == phone.folded == "cong ty may hoa tho khong tra luong thang 10 cho cong nhan"
    )
    assert full.text == "công ty may hòa thọ không trả lương tháng 10 cho công nhân"
    assert normalise("Đ/c chủ tịch UBND TP. Đà Nẵng").text == (
        "đồng chí chủ tịch ủy ban nhân dân thành phố đà nẵng"
    )
    # NFD input (some Android keyboards) is the same text.
    assert normalise("lu\u031bo\u031bng").text == "lương"


def test_a_typo_or_a_lost_tone_mark_costs_little_and_another_matter_scores_low():
    base = text_features("Công ty Hòa Thọ chậm trả lương công nhân xưởng 3")
    typo = text_features("Cong ty Hoa Tho cham tra luog cong nhan xuong 3")
    other = text_features("Quán karaoke đường Âu Cơ hát tới 2 giờ sáng")
    assert similarity.text_similarity(base, typo) > 0.7
    assert similarity.text_similarity(base, other) < 0.2


def test_unit_and_category_add_a_small_bonus_never_enough_alone():
    a = text_features("Nhà ăn công ty có cơm thiu, công nhân đau bụng")
    b = text_features("Kiệt 52 Âu Cơ mất đèn đường cả tháng")
    same_place = similarity.similarity(Comparable(a, 7, "workplace"), Comparable(b, 7, "workplace"))
    assert same_place < similarity.THRESHOLD
    alike = text_features("Cơm nhà ăn công ty bị thiu, nhiều công nhân đau bụng")
    apart = similarity.similarity(Comparable(a, 1, "workplace"), Comparable(alike, 2, "other"))
    together = similarity.similarity(
        Comparable(a, 1, "workplace"), Comparable(alike, 1, "workplace")
    )
    assert together == min(1.0, apart + similarity.UNIT_BONUS + similarity.CATEGORY_BONUS)
    assert (
        similarity.MIN_TEXT + similarity.UNIT_BONUS + similarity.CATEGORY_BONUS
        < similarity.THRESHOLD
    )


def test_signatures_are_datasketch_minhashes_and_alike_texts_share_bands():
    from datasketch import MinHash  # test-only: the core computes the same values with numpy

    grams = text_features("Sunrise trừ BHXH của CN nhưng không nộp, nợ từ tháng 1")
    theirs = MinHash(num_perm=similarity.NUM_PERM, seed=1, scheme="legacy")
    for g in grams:
        theirs.update(g.encode("utf-8"))
    assert np.array_equal(signature(grams), theirs.hashvalues)
    alike = text_features("Sunrise tru bhxh cua cong nhan nhung khong nop, no tu thang 1")
    assert set(band_keys(signature(grams))) & set(band_keys(signature(alike)))
    assert len(band_keys(signature(grams))) == similarity.BANDS


async def test_reports_from_before_the_index_are_indexed_by_the_job_and_then_found(core):
    """An upgraded installation: reports written before the migration gain their index rows."""
    await submit_reports(core, 1, description="Công ty Hòa Thọ chậm trả lương công nhân xưởng 3")
    await submit_reports(core, 1, description="Cty Hoa Tho cham tra luong cn xuong 3")
    async with core.sessions() as session, session.begin():
        await session.execute(delete(SimilarBand))
        await session.execute(delete(SimilarText))
    async with core.sessions() as session:
        assert await similar_open(session, 2, datetime.now(UTC)) == []
    assert await JOBS["index_reports"](core) == 2
    assert await JOBS["index_reports"](core) == 0  # safe to run again: nothing left
    async with core.sessions() as session:
        found = await similar_open(session, 2, datetime.now(UTC))
    assert [h.code for h in found] == ["PA-0001"]
