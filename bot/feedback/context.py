"""The part of the running application the feedback page is built from, named as a Protocol:
the host's bundle fits it without being imported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.effects import EffectApplier
from handlers.forms import Catalog
from handlers.i18n import Translations
from handlers.ports import UnitView
from storage.db import Sessions


class FeedbackSettings(Protocol):
    @property
    def attachments_dir(self) -> Path: ...

    @property
    def max_attachment_bytes(self) -> int: ...

    @property
    def tz(self) -> ZoneInfo: ...

    @property
    def public_url(self) -> str: ...  # https there means a Secure cookie

    @property
    def web_trust_proxy(self) -> bool: ...


class Units(Protocol):
    @property
    def units(self) -> list[UnitView]: ...  # refreshed while running: read on every page


class Commits(Protocol):
    @property
    def on_commit(self) -> Callable[[], None]: ...  # wakes the delivery worker


class FeedbackContext(Protocol):
    @property
    def settings(self) -> FeedbackSettings: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def effects(self) -> EffectApplier: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def translations(self) -> Translations: ...

    @property
    def engine(self) -> Units: ...

    @property
    def dispatcher(self) -> Commits: ...
