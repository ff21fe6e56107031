"""What the timed jobs need from the application, named as Protocols: the host's bundle fits
them without being imported, so jobs depend on these few fields and not on the whole host."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from handlers.context import CaseChanged
from handlers.ports import ReportView
from reports.context import ReportContext, ReportSettings
from storage.db import Session
from storage.models import Report


class JobSettings(ReportSettings, Protocol):
    @property
    def case_autoclose_days(self) -> int: ...

    def data_file(self, name: str) -> Path: ...


class CaseEffects(Protocol):
    """The case effects the jobs trigger or borrow: cards after an automatic close, and where
    an overdue case's owner is reached."""

    async def apply(self, session: Session, effect: CaseChanged) -> None: ...

    async def owner_view(self, session: Session, report: Report) -> ReportView: ...

    async def owner_chats(self, session: Session, view: ReportView) -> list[tuple[str, str]]: ...

    async def person_locale(
        self, session: Session, channel: str, external_id: str
    ) -> str | None: ...


class Waker(Protocol):
    def wake(self) -> None: ...


class JobContext(ReportContext, Protocol):
    @property
    def settings(self) -> JobSettings: ...

    @property
    def effects(self) -> CaseEffects: ...

    @property
    def delivery(self) -> Waker | None: ...  # None in a process that does not deliver
