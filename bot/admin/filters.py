"""The case list's filters, read from the query string. Values that do not fit are dropped with
a message rather than failing the page."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from multidict import MultiMapping

from bot.admin.permissions import Viewer
from handlers.forms import Catalog
from handlers.i18n import N_, Translator
from handlers.org import HOST_KINDS
from handlers.status import STATUS_NAMES
from storage.casequery import NO_DEPARTMENT, CaseFilter

FIELDS = (
    "status",
    "category",
    "urgency",
    "unit",
    "unit_kind",
    "department",
    "from",
    "to",
    "overdue",
    "q",
)
URGENCIES = {"hot": N_("🔥 Hot"), "normal": N_("Normal")}
ANONYMITY = {"named": N_("Named"), "confidential": N_("Confidential"), "anonymous": N_("Anonymous")}
MAX_TEXT = 200


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tz).astimezone(UTC)


def parse_filter(
    query: MultiMapping[str],
    t: Translator,
    catalog: Catalog,
    tz: ZoneInfo,
    viewer: Viewer,
) -> tuple[CaseFilter, dict[str, str], list[str]]:
    """(the filter, the accepted values to show in the form, messages about dropped values)."""
    raw = {name: query.get(name, "").strip() for name in FIELDS}
    errors: list[str] = []
    kept = dict(raw)

    def drop(name: str, message: str) -> None:
        errors.append(message)
        kept[name] = ""

    if raw["status"] and raw["status"] not in STATUS_NAMES:
        drop("status", t("Unknown status ignored."))
    if raw["category"] and catalog.category(raw["category"]) is None:
        drop("category", t("Unknown category ignored."))
    if raw["urgency"] and raw["urgency"] not in URGENCIES:
        drop("urgency", t("Unknown urgency ignored."))
    if raw["unit_kind"] and raw["unit_kind"] not in HOST_KINDS:
        drop("unit_kind", t("Unknown kind of unit ignored."))
    if len(raw["unit"]) > 64 or len(raw["department"]) > 32:
        drop("unit", t("Unknown unit ignored."))
    if len(raw["q"]) > MAX_TEXT:
        kept["q"] = raw["q"][:MAX_TEXT]
        errors.append(t("The search text was shortened to {limit} characters.", limit=MAX_TEXT))
    since_day = _day(raw["from"]) if raw["from"] else None
    until_day = _day(raw["to"]) if raw["to"] else None
    for name, parsed in (("from", since_day), ("to", until_day)):
        if raw[name] and parsed is None:
            drop(name, t("A date could not be read and was ignored; pick it from the calendar."))
    # Local days, compared in UTC: SQLite keeps the digits of whatever offset it is given.
    since = local_midnight(since_day, tz) if since_day else None
    until = local_midnight(until_day + timedelta(days=1), tz) if until_day else None
    scope = None
    if not viewer.sees_every_case:
        scope = viewer.department_id if viewer.department_id is not None else NO_DEPARTMENT
    flt = CaseFilter(
        status=kept["status"],
        category=kept["category"],
        urgency=kept["urgency"],
        unit=kept["unit"],
        unit_kind=kept["unit_kind"],
        department=kept["department"],
        since=since,
        until=until,
        overdue=raw["overdue"] in ("1", "on", "true"),
        text=kept["q"],
        scope_department_id=scope,
    )
    return flt, kept, errors


def query_string(values: dict[str, str], **extra: str | int) -> str:
    """The filter as a query string, for the pager and the export links."""
    pairs = [(k, v) for k, v in values.items() if v]
    pairs += [(k, str(v)) for k, v in extra.items() if v]
    return urlencode(pairs)
