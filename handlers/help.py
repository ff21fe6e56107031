"""What /help says, also shown on registering and on /start."""

from __future__ import annotations

from handlers.i18n import Translator


def help_text(t: Translator) -> str:
    return "\n".join(
        [
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
    )
