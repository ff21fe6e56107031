"""Case statuses and their names in the reader's language."""

from __future__ import annotations

from handlers.i18n import N_, Translator

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
