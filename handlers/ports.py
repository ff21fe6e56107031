"""What the core needs from storage, as read-only views and one async protocol.

The host implements `Store` over the transaction of the current inbound event, so whatever the
core changes commits or rolls back together with the conversation state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class UnitView:
    code: str
    name: str
    kind: str
    host_kind: str


@dataclass(frozen=True)
class PersonView:
    id: int
    display_name: str
    role: str
    unit_code: str | None
    locale: str


@dataclass(frozen=True)
class InviteView:
    code: str
    role: str
    unit_code: str | None
    uses_left: int


@dataclass(frozen=True)
class EventView:
    at: datetime
    from_status: str
    to_status: str
    note: str


@dataclass(frozen=True)
class ReportView:
    id: int
    code: str
    category: str
    urgency: str
    unit_code: str | None
    unit_name: str
    description: str
    anonymity: str
    status: str
    created_at: datetime
    attachment_count: int = 0
    events: tuple[EventView, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Registration:
    channel: str
    external_id: str
    username: str
    display_name: str
    unit_code: str | None
    role: str
    locale: str
    invite_code: str | None


class InviteUnavailable(Exception):
    """The invite was used up or removed between showing it and redeeming it."""


class Store(Protocol):
    async def person_for(self, channel: str, external_id: str) -> PersonView | None: ...

    async def find_invite(self, code: str) -> InviteView | None: ...

    async def register(self, registration: Registration) -> PersonView: ...

    async def set_locale(self, person_id: int, locale: str) -> None: ...

    async def submit_report(
        self, person: PersonView, answers: dict[str, Any], channel: str, locale: str
    ) -> ReportView: ...

    async def reports_of(self, person_id: int, limit: int) -> list[ReportView]: ...

    async def report_of(self, person_id: int, code: str) -> ReportView | None: ...
