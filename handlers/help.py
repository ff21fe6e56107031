"""What /help says, also shown on registering and on /start."""

from __future__ import annotations

from handlers.i18n import Translator


def help_text(t: Translator, staff: bool = False) -> str:
    """The commands everyone has; people who act on cases also read how to (typed, so it
    works on every messenger, with or without buttons)."""
    lines = [
        t("Here is what I can do:"),
        t("/report: report a pressing issue"),
        t("/my: your reports and what happened to them"),
        t("/poll: polls and situation reports waiting for you"),
        t("/cancel: stop what you are doing"),
        t("/back: go back to the previous question"),
        t("/skip: leave out an optional question"),
        t("/lang: change the language"),
        t("/help: this help"),
    ]
    if staff:
        lines += [
            "",
            t("For cases:"),
            t("/cases: open cases (/cases overdue, /cases hot, /cases unassigned)"),
            t("/case PA-0042: one case and what can be done with it"),
            t("PA-0042 1: do action 1 of its card (each action has its number)"),
        ]
    return "\n".join(lines)
