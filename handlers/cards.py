"""What staff see of a report. The anonymity rules are applied here, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from handlers.forms import Catalog
from handlers.i18n import Translator
from handlers.ports import ReportView
from handlers.status import status_label
from handlers.text import labelled


@dataclass(frozen=True)
class ReporterInfo:
    name: str
    username: str
    unit_name: str


def reporter_line(t: Translator, anonymity: str, reporter: ReporterInfo | None) -> str:
    """Named reports show who sent them; confidential and anonymous ones never do."""
    if anonymity == "named" and reporter is not None:
        who = reporter.name
        if reporter.username:
            who += f" (@{reporter.username})"
        if reporter.unit_name:
            who += f", {reporter.unit_name}"
        return who
    if anonymity == "confidential":
        return t("Confidential: identity hidden")
    return t("Anonymous")


def staff_card(
    t: Translator,
    catalog: Catalog,
    report: ReportView,
    reporter: ReporterInfo | None,
    attachment_summary: str,
    locations: list[tuple[float, float]],
    tz: ZoneInfo,
) -> str:
    cat = catalog.category(report.category)
    hot = report.urgency == "hot"
    lines = []
    if hot:
        lines.append(t("🔥🔥 HOT REPORT 🔥🔥"))
    lines += [
        t("New report {code}", code=report.code),
        labelled(t("Received"), report.created_at.astimezone(tz).strftime("%d/%m/%Y %H:%M")),
        labelled(t("Category"), cat.label(t.locale) if cat else report.category),
        labelled(t("Urgency"), t("🔥 Hot") if hot else t("Normal")),
        labelled(t("Unit"), report.unit_name),
        labelled(t("Reporter"), reporter_line(t, report.anonymity, reporter)),
        labelled(t("Status"), status_label(t, report.status)),
        "",
        report.description,
    ]
    if attachment_summary:
        lines += ["", labelled(t("Attachments"), attachment_summary)]
    for lat, lon in locations:
        lines.append(f"📍 {lat:.6f}, {lon:.6f} https://maps.google.com/?q={lat:.6f},{lon:.6f}")
    return "\n".join(lines)
