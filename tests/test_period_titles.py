"""Period titles leaders read: the digest's daily, weekly and monthly forms and the monthly
document name their period one way, in Vietnamese and English, the year on both ends only when
the period spans two years."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.i18n import Translations
from reports.digest import render
from scheduler.digest import TITLES
from storage.digests import DigestData

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


def title(locale: str, job: str, since: datetime, until: datetime) -> str:
    t = Translations("vi")(locale)
    return render(t, None, DigestData(since=since, until=until), TZ, TITLES[job]).splitlines()[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("locale", "job", "since", "until", "expected"),
    [
        # The monthly digest on 1 January: December, named as a month.
        ("vi", "monthly_digest", local(2026, 12, 1), local(2027, 1, 1), "📋 Tổng hợp tháng 12/2026"),
        ("en", "monthly_digest", local(2026, 12, 1), local(2027, 1, 1), "📋 Monthly summary, December 2026"),
        # Whole days: no times, the last day is the one before the end.
        ("vi", "weekly_digest", local(2026, 11, 30), local(2026, 12, 7), "📋 Tổng hợp tuần, 30/11 – 06/12/2026"),
        ("en", "weekly_digest", local(2026, 12, 28), local(2027, 1, 4), "📋 Weekly summary, 28/12/2026 – 03/01/2027"),
        # A rolling window keeps its times; the year on both ends across New Year.
        ("en", "daily_digest", local(2026, 11, 29, 7, 30), local(2026, 11, 30, 7, 30), "📋 Daily digest, 29/11 07:30 – 30/11/2026 07:30"),
        ("vi", "daily_digest", local(2026, 12, 31, 7, 30), local(2027, 1, 1, 7, 30), "📋 Bản tin hằng ngày, 31/12/2026 07:30 – 01/01/2027 07:30"),
        ("en", "weekly_digest", local(2026, 12, 28, 8), local(2027, 1, 4, 8), "📋 Weekly summary, 28/12/2026 08:00 – 04/01/2027 08:00"),
    ],
)  # fmt: skip
def test_digest_titles_name_their_period_consistently(locale, job, since, until, expected):
    assert title(locale, job, since, until) == expected
