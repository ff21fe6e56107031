"""What the core needs from storage, as read-only views and one async protocol.

The host implements `Store` over the transaction of the current inbound event, so whatever the
core changes commits or rolls back together with the conversation state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from handlers.similarity import SimilarHint


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
    last_channel: str = ""


@dataclass(frozen=True)
class Newcomer:
    """A messenger account asking to join an existing person with /link."""

    channel: str
    external_id: str
    chat_id: str
    username: str


@dataclass(frozen=True)
class LinkClaim:
    code_id: int
    person: PersonView
    confirm: bool  # waits for the person's existing messenger to say yes


@dataclass(frozen=True)
class LinkAlarm:
    """The owner of a live code, and how many failed tries it has now seen."""

    code_id: int
    person_id: int
    locale: str
    failures: int


@dataclass(frozen=True)
class PendingLink:
    """A confirmed or refused link: who, and the new messenger's chat to tell."""

    person: PersonView
    channel: str
    chat_id: str
    accepted: bool


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
    action: str = ""


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
    version: int = 0
    department_code: str | None = None
    department_name: str = ""
    due_at: datetime | None = None
    reporter_person_id: int | None = None  # for permission checks only; never rendered
    delivery_problem: str = ""
    rating: int | None = None
    channel: str = ""  # where it came in: telegram, zalo, web, webform


@dataclass(frozen=True)
class ReporterInfo:
    """Who sent a named report, as its card shows them."""

    name: str
    username: str
    unit_name: str


@dataclass(frozen=True)
class DepartmentView:
    code: str
    name: str
    kind: str


@dataclass(frozen=True)
class CaseChange:
    """One transition, as the core decided it; the store applies it only at `expected_version`."""

    report_id: int
    expected_version: int
    actor_person_id: int | None
    action: str
    from_status: str
    to_status: str
    note: str = ""
    department_code: str | None = None  # for assign / hand back (None clears)
    set_department: bool = False
    due_at: datetime | None = None
    set_due: bool = False
    duplicate_of_code: str | None = None
    rating: int | None = None


class StaleCase(Exception):
    """The case changed since the card was drawn; nothing was written."""


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


@dataclass(frozen=True)
class PollRoundView:
    """One round of a poll or situation report, with the definition it started with."""

    id: int
    poll_key: str
    kind: str  # poll | sitrep
    number: int
    period: str
    definition: dict[str, Any]
    opens_at: datetime
    due_at: datetime
    closes_at: datetime
    status: str  # open | closed


@dataclass(frozen=True)
class PollTodo:
    """A round the person is invited to, as /poll lists it."""

    round: PollRoundView
    responded: bool


class Store(Protocol):
    async def person_for(self, channel: str, external_id: str) -> PersonView | None: ...

    async def find_invite(self, code: str) -> InviteView | None: ...

    async def register(self, registration: Registration) -> PersonView: ...

    async def set_locale(self, person_id: int, locale: str) -> None: ...

    async def submit_report(
        self, person: PersonView | None, answers: dict[str, Any], channel: str, locale: str
    ) -> ReportView: ...

    async def reports_of(self, person_id: int, limit: int) -> list[ReportView]: ...

    async def report_of(self, person_id: int, code: str) -> ReportView | None: ...

    # -- casework --------------------------------------------------------------------------------
    async def case(self, report_id: int) -> ReportView | None: ...

    async def case_by_code(self, code: str) -> ReportView | None: ...

    async def case_of_card(self, channel: str, chat_id: str, message_id: str) -> str | None:
        """The code of the case whose card is this message of this chat; None for any other."""
        ...

    async def similar_open(self, report_id: int) -> list[SimilarHint]:
        """Open reports of the last 30 days much like this one, best first (at most three)."""
        ...

    async def actor_profile(self, person_id: int) -> tuple[str | None, bool]:
        """(department code, may reveal) of a person."""
        ...

    async def departments(self) -> list[DepartmentView]: ...

    async def change_case(self, change: CaseChange) -> ReportView:
        """Apply one transition and record its event; raises StaleCase on a version mismatch."""
        ...

    async def open_cases(self, department_code: str | None, limit: int) -> list[ReportView]: ...

    async def waiting_on_reporter(self, person_id: int) -> list[ReportView]:
        """The reporter's cases that wait for them: a question, or "was it resolved?"."""
        ...

    async def log_reveal(self, report_id: int, person_id: int) -> None: ...

    async def reporter_identity(self, report_id: int) -> str | None:
        """Name, username and unit of a reporter: only for an explicit, logged reveal."""
        ...

    async def rate_case(self, report_id: int, rating: int) -> None: ...

    async def named_reporter(self, report_id: int) -> ReporterInfo | None:
        """Who sent a report, for a named report only; None for every other one."""
        ...

    async def chat_roles(self, channel: str, chat_id: str) -> list[str]:
        """What a group chat is bound as: staff, leaders, department:CODE; [] when unbound."""
        ...

    # -- one person across messengers ------------------------------------------------------------
    async def create_link_code(self, person_id: int, valid_minutes: int) -> str:
        """A new code (see handlers/linkcode) for the person, valid for `valid_minutes`."""
        ...

    async def redeem_link_code(
        self, code: str, newcomer: Newcomer, max_failures: int, confirm_minutes: int
    ) -> LinkClaim | None:
        """Use up a live code that has seen fewer than `max_failures` failed tries. A person
        with web admin rights is only asked to confirm (within `confirm_minutes`); anyone else
        is linked at once. None if the code is not valid."""
        ...

    async def link_failed(self, max_failures: int) -> list[LinkAlarm]:
        """Count a failed try against every live code; the owners that must hear of it."""
        ...

    async def decide_link(
        self, person_id: int, code_id: int | None, accept: bool
    ) -> PendingLink | None:
        """The person answers a link waiting for them (`code_id`, or their latest); on accept
        the new messenger is attached. None if nothing of theirs is waiting."""
        ...

    async def recent_hits(self, key: str, window_seconds: int) -> tuple[int, datetime | None]:
        """Rate limits: how many events under `key` within the window, and the latest."""
        ...

    async def hit(self, key: str, keep_seconds: int) -> None: ...

    async def tell_person(
        self, person_id: int, key: str, text: str, choices: list[tuple[str, str]]
    ) -> None:
        """A message (outbox, once per `key`) to where the person last talked to us;
        `choices` are (payload, label)."""
        ...

    async def tell_chat(self, channel: str, chat_id: str, key: str, text: str) -> None: ...

    async def unlink(self, person_id: int, channel: str, external_id: str) -> bool:
        """Detach this messenger account, unless it is the person's only one."""
        ...

    async def touch_channel(self, person_id: int, channel: str) -> None: ...

    # -- polls and situation reports -------------------------------------------------------------
    async def poll_round(self, round_id: int) -> PollRoundView | None: ...
    async def poll_todo(self, person_id: int) -> list[PollTodo]:
        """Open rounds the person is invited to, oldest deadline first."""
        ...

    async def invited(self, round_id: int, person_id: int) -> bool: ...
    async def named_response(self, round_id: int, person_id: int) -> dict[str, Any] | None:
        """A named response's answers, to show and change them; None for anonymous polls."""
        ...

    async def save_poll_response(
        self, round_id: int, person: PersonView, answers: dict[str, Any], response_id: int | None
    ) -> int:
        """Store the answers (replacing the person's earlier ones) and mark them as responded.
        Anonymous rounds keep no link to the person; `response_id` finds their earlier answers."""
        ...

    async def link_case_to_response(self, report_id: int, response_id: int) -> None: ...
    async def create_web_login(self, person_id: int, valid_minutes: int) -> str:
        """A one-time sign-in token for the web admin; only its hash is stored."""
        ...
