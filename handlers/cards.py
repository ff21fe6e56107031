"""What staff see of a report. The anonymity rules are applied here, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.callbacks import CaseButton, encode, parse_as
from handlers.casework import ACTION_NUMBERS, OPEN, Action, CaseFacts, Status, buttons_for
from handlers.forms import Catalog
from handlers.i18n import N_, Translator
from handlers.ports import ReporterInfo as ReporterInfo  # defined with the views; used from here
from handlers.ports import ReportView
from handlers.similarity import SimilarHint
from handlers.slaclock import overdue
from handlers.status import event_line, status_label
from handlers.text import labelled


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


CARD_DESCRIPTION_LIMIT = 2500
# The channel a report came in on, named on its card where staff need to know it: a report
# from the public feedback page has no chat behind it, so nobody can ask its sender in chat.
WEB_FORM_CHANNEL = "webform"
SOURCE_NAMES = {WEB_FORM_CHANNEL: N_("Public feedback page (web form)")}

ACTION_LABELS = {
    Action.ACKNOWLEDGE: N_("✔ Acknowledge"),
    Action.ASSIGN: N_("➡ Assign"),
    Action.ASK: N_("❓ Ask reporter"),
    Action.SET_DUE: N_("⏰ Set due date"),
    Action.RESOLVE: N_("✅ Resolve"),
    Action.REJECT: N_("⛔ Reject"),
    Action.DUPLICATE: N_("🔁 Duplicate of…"),
    Action.REOPEN: N_("↩ Reopen"),
    Action.HAND_BACK: N_("↩ Hand back"),
    Action.REVEAL: N_("👁 Reveal identity"),
}


def case_facts(case: ReportView) -> CaseFacts:
    return CaseFacts(Status(case.status), case.department_code, case.anonymity)


def button_data(case: ReportView, action: Action, arg: str = "") -> str:
    """Payload of a case button: it names the case, the action and the card's version only."""
    return encode(CaseButton(case.id, action, case.version, arg))


def card_buttons(t: Translator, case: ReportView, audience: str) -> list[tuple[str, str]]:
    return [
        (button_data(case, action), t(ACTION_LABELS[action]))
        for action in buttons_for(case_facts(case), audience)
    ]


# -- typed actions: what a card shows where there are no buttons ---------------------------------
def numbered_actions(buttons: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    """(number, payload, label) for a card's buttons. A plain action has its fixed number
    (ACTION_NUMBERS); any other button (one with an argument) is numbered after them, in the
    card's order. Generic over whatever `card_buttons` offers, so a new button fits."""
    numbered: list[tuple[int, str, str]] = []
    used: set[int] = set()
    extra = max(ACTION_NUMBERS.values())
    for data, label in buttons:
        button = parse_as(data, CaseButton)
        number = ACTION_NUMBERS.get(button.action) if button and not button.arg else None
        if number is None or number in used:
            extra += 1
            number = extra
        used.add(number)
        numbered.append((number, data, label))
    return numbered


def is_action_list(buttons: list[tuple[str, str]]) -> bool:
    """A card's actions, which keep their fixed numbers; not a follow-up list (departments, due
    dates), whose buttons all carry an argument and count from 1 like any other choice."""
    parsed = [parse_as(data, CaseButton) for data, _ in buttons]
    return bool(parsed) and all(parsed) and any(b is not None and not b.arg for b in parsed)


def typed_actions(t: Translator, code: str, buttons: list[tuple[str, str]]) -> str:
    """A card's actions as the messages that take them, for a chat without buttons:
    "PA-0042 1 — ✔ Acknowledge". Empty when there is nothing to do."""
    if not buttons:
        return ""
    lines = [t("To act, reply with the code and a number:")]
    lines += [f"{code} {number} — {label}" for number, _, label in numbered_actions(buttons)]
    return "\n".join(lines)


def staff_card(
    t: Translator,
    catalog: Catalog,
    report: ReportView,
    reporter: ReporterInfo | None,
    attachment_summary: str,
    locations: list[tuple[float, float]],
    tz: ZoneInfo,
    now: datetime | None = None,
    similar: Sequence[SimilarHint] = (),
) -> str:
    """The case card: edited in place, so it always shows the current state."""
    cat = catalog.category(report.category)
    hot = report.urgency == "hot"
    lines = []
    if hot:
        lines.append(t("🔥🔥 HOT REPORT 🔥🔥"))
    lines += [
        t("Report {code}", code=report.code) + f" · {status_label(t, report.status)}",
        labelled(t("Received"), report.created_at.astimezone(tz).strftime("%d/%m/%Y %H:%M")),
        labelled(t("Category"), cat.label(t.locale) if cat else report.category),
        labelled(t("Urgency"), t("🔥 Hot") if hot else t("Normal")),
        labelled(t("Unit"), report.unit_name),
        labelled(t("Reporter"), reporter_line(t, report.anonymity, reporter)),
        labelled(t("Handled by"), report.department_name or t("not assigned yet")),
    ]
    if report.channel in SOURCE_NAMES:
        lines.append(labelled(t("Source"), t(SOURCE_NAMES[report.channel])))
    if report.due_at is not None:
        due = report.due_at.astimezone(tz).strftime("%d/%m/%Y %H:%M")
        if now is not None and overdue(report.status, report.due_at, report.events, now):
            due += " " + t("(overdue)")
        lines.append(labelled(t("Due"), due))
    if report.delivery_problem:
        lines.append(
            "⚠ " + t("The reporter cannot be reached: {problem}", problem=report.delivery_problem)
        )
    lines += similar_lines(t, report, similar)
    description = report.description
    if len(description) > CARD_DESCRIPTION_LIMIT:
        # A card must fit one message (Telegram: 4,096) so it can be edited in place.
        description = (
            description[:CARD_DESCRIPTION_LIMIT].rstrip()
            + "… "
            + t("(shortened to fit; the full text is kept with the case)")
        )
    lines += ["", description]
    if attachment_summary:
        lines += ["", labelled(t("Attachments"), attachment_summary)]
    for lat, lon in locations:
        lines.append(f"📍 {lat:.6f}, {lon:.6f} https://maps.google.com/?q={lat:.6f},{lon:.6f}")
    history = [e for e in report.events if e.action]
    if history:
        lines += ["", t("History:")]
        for ev in history[-5:]:
            when = ev.at.astimezone(tz).strftime("%d/%m %H:%M")
            lines.append(f"• {when} {event_line(t, ev.action, ev.note)}")
    return "\n".join(lines)


def similar_lines(t: Translator, report: ReportView, similar: Sequence[SimilarHint]) -> list[str]:
    """`Possible duplicate: PA-0031 (87%)`, one line each, while the case is open. Only codes
    and likeness: never anything of who reported either case."""
    if report.status not in OPEN:
        return []
    return [
        "🔁 " + t("Possible duplicate: {code} ({percent}%)", code=h.code, percent=h.percent)
        for h in similar
    ]


def duplicate_buttons(
    t: Translator, case: ReportView, similar: Sequence[SimilarHint], audience: str
) -> list[tuple[str, str]]:
    """One tap marks the case a duplicate of a suggested one, where the card may do that."""
    if Action.DUPLICATE not in buttons_for(case_facts(case), audience):
        return []
    return [
        (button_data(case, Action.DUPLICATE, h.code), t("Duplicate of {code}", code=h.code))
        for h in similar
    ]
