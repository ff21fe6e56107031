"""Case statuses and their names in the reader's language."""

from __future__ import annotations

from collections.abc import Iterable

from handlers.i18n import N_, Translator
from handlers.ports import EventView

STATUS_NAMES = {
    "new": N_("New"),
    "acknowledged": N_("Acknowledged"),
    "assigned": N_("Assigned"),
    "needs_info": N_("Needs information"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
    "rejected": N_("Rejected"),
    "duplicate": N_("Duplicate"),
    "reopened": N_("Reopened"),
}


def status_label(t: Translator, status: str) -> str:
    return t(STATUS_NAMES.get(status, status))


# How each kind of event reads in a history; "" is the report's arrival.
EVENT_NAMES = {
    "": N_("Report received"),
    "ack": N_("Acknowledged"),
    "assign": N_("Assigned to"),
    "ask": N_("Question to the reporter"),
    "answer": N_("The reporter answered"),
    "addinfo": N_("The reporter added"),
    "due": N_("Due date set"),
    "resolve": N_("Resolved"),
    "reject": N_("Rejected"),
    "dup": N_("Duplicate of"),
    "reopen": N_("Reopened"),
    "handback": N_("Handed back"),
    "confirm": N_("The reporter confirmed it is resolved"),
    "dispute": N_("The reporter says it is not resolved"),
    "autoclose": N_("Closed: no answer from the reporter"),
    "delivery": N_("Reached the reporter on another messenger"),
}
# What the reporter sees of their case's history: internal steps stay with staff.
PUBLIC_EVENTS = frozenset(EVENT_NAMES) - {"due", "handback", "delivery"}


def public_history(events: Iterable[EventView]) -> list[EventView]:
    """The events a reporter may see, wherever they look (chat, the feedback status page)."""
    return [e for e in events if e.action in PUBLIC_EVENTS]


def event_line(t: Translator, action: str, note: str) -> str:
    name = t(EVENT_NAMES.get(action, action))
    return f"{name}: {note}" if note and action != "autoclose" else name
