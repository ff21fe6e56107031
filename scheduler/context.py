"""What the timed jobs need from the application, named as Protocols: the host's bundle fits
them without being imported, so jobs depend on these few fields and not on the whole host."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from handlers.context import CaseChanged
from reports.context import ReportContext, ReportSettings
from storage.db import Session


class JobSettings(ReportSettings, Protocol):
    @property
    def case_autoclose_days(self) -> int: ...

    def data_file(self, name: str) -> Path: ...


class CaseEffects(Protocol):
    """The case effects the jobs trigger: cards and notices after an automatic close."""

    async def apply(self, session: Session, effect: CaseChanged) -> None: ...


class Waker(Protocol):
    def wake(self) -> None: ...


class JobContext(ReportContext, Protocol):
    @property
    def settings(self) -> JobSettings: ...

    @property
    def effects(self) -> CaseEffects: ...

    @property
    def delivery(self) -> Waker | None: ...  # None in a process that does not deliver
