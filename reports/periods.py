"""How a report names its period, one way everywhere leaders read it (digest titles, the
monthly document): day/month, the year once at the end, and on both ends when the period
spans two years; whole days without times, a month by its name."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date

from handlers.i18n import Translator

# Vietnamese titles say "tháng" themselves ("Tổng hợp tháng 12/2026"); English names the month.
MONTH_PATTERNS = {"vi": "MM/y"}
MONTH_PATTERN = "LLLL y"


def month_label(t: Translator, first: date) -> str:
    """The month of `first`: "12/2026" in Vietnamese, "December 2026" in English."""
    return format_date(first, MONTH_PATTERNS.get(t.locale, MONTH_PATTERN), locale=t.locale)


def period_ends(since: datetime, until: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """The first and last moment of [since, until) as a leader reads them: "30/11" and
    "06/12/2026" for whole days (the last day is the one before `until`), with the time of
    day ("29/11 07:30", "30/11/2026 07:30") otherwise."""
    start, end = since.astimezone(tz), until.astimezone(tz)
    whole_days = start.time() == end.time() == time(0)
    last = end.date() - timedelta(days=1) if whole_days else end.date()
    first = f"{start:%d/%m}" if start.year == last.year else f"{start:%d/%m/%Y}"
    if whole_days:
        return first, f"{last:%d/%m/%Y}"
    return f"{first} {start:%H:%M}", f"{last:%d/%m/%Y} {end:%H:%M}"
