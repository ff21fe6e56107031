"""The conversation state, a plain JSON-able dict wrapped in a typed view.

Kept as a dict so it round-trips through the database as JSON with no pickling and survives
restarts and upgrades; unknown keys are preserved.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any


class State:
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        # A deep copy: the host compares the result with what it loaded to decide whether to
        # save, so a change inside a nested dict must not show up in the loaded one as well.
        self.data: dict[str, Any] = copy.deepcopy(data or {})

    # -- prompt token, so buttons from an older prompt are recognised as stale ----------------
    @property
    def nonce(self) -> str:
        return str(self.data.get("nonce", "0"))

    def next_nonce(self) -> str:
        """A fresh random token: a button from an older prompt, or from another person's
        message, cannot carry the current one."""
        self.data["nonce"] = secrets.token_hex(3)
        return self.nonce

    # -- which flow and step the person is on ---------------------------------------------------
    @property
    def flow(self) -> str | None:
        return self.data.get("flow")

    @flow.setter
    def flow(self, value: str | None) -> None:
        if value is None:
            self.data.pop("flow", None)
        else:
            self.data["flow"] = value

    @property
    def locale(self) -> str | None:
        return self.data.get("locale")

    @locale.setter
    def locale(self, value: str) -> None:
        self.data["locale"] = value

    def form(self, form_id: str) -> dict[str, Any]:
        """The draft of one form: answers, current step, history and picker position."""
        forms = self.data.setdefault("forms", {})
        return forms.setdefault(form_id, {"answers": {}, "step": None, "history": []})

    def has_form(self, form_id: str) -> bool:
        return form_id in self.data.get("forms", {})

    def drop_form(self, form_id: str) -> None:
        self.data.get("forms", {}).pop(form_id, None)

    @property
    def scratch(self) -> dict[str, Any]:
        """Per-flow scratch space for flows that are not forms (/my, /lang)."""
        return self.data.setdefault("scratch", {})

    def clear_scratch(self) -> None:
        self.data.pop("scratch", None)
