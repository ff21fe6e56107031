"""The core's `Store` over plain dicts: the engine runs, and its golden transcripts replay,
without a database.

It keeps what the SQL store keeps, the way the core can see it, and no more: no sealing (the
reporter of a hidden report is kept in the clear, in memory only), no transaction (one store
is one conversation's world, used by one caller at a time). Messages for other people and
chats (`tell_person`, `tell_chat`) are kept in `outbox` for a test to read.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from handlers import linkcode
from handlers.casework import OPEN, WEB_ROLES
from handlers.ports import (
    CaseChange,
    DepartmentView,
    EventView,
    InviteUnavailable,
    InviteView,
    LinkAlarm,
    LinkClaim,
    Newcomer,
    PendingLink,
    PersonView,
    PollRoundView,
    PollTodo,
    Registration,
    ReporterInfo,
    ReportView,
    StaleCase,
    Store,
    UnitView,
)
from handlers.similarity import (
    WINDOW_DAYS,
    Comparable,
    SimilarHint,
    best_matches,
    may_pair,
    text_features,
)

OPEN_STATUSES = ("new", "acknowledged", "assigned", "needs_info", "reopened")


def report_code(report_id: int) -> str:
    """The code a person reads out on the phone, as the SQL store makes it: PA-0042."""
    return f"PA-{report_id:04d}"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Member:
    """A person, with what the core asks about them besides their view."""

    view: PersonView
    username: str = ""
    department_code: str | None = None
    can_reveal: bool = False


@dataclass
class Invite:
    view: InviteView
    department_code: str | None = None
    can_reveal: bool = False


@dataclass
class LinkCode:
    code: str
    person_id: int
    expires_at: datetime
    used: bool = False
    failures: int = 0
    pending: Newcomer | None = None


@dataclass
class Message:
    """Something the core asked to send outside this conversation."""

    key: str
    channel: str
    chat_id: str
    text: str
    choices: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Responses:
    """A round's answers: by person for named polls, by response id for anonymous ones."""

    answers: dict[int, dict[str, Any]] = field(default_factory=dict)
    named: dict[int, int] = field(default_factory=dict)  # person id -> response id
    responded: set[int] = field(default_factory=set)  # person ids


class MemoryStore:
    """Implements handlers.ports.Store; fill `units`, `departments` and friends to set up."""

    def __init__(
        self,
        units: list[UnitView] | None = None,
        departments: list[DepartmentView] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.units = {u.code: u for u in units or []}
        self.departments_ = list(departments or [])
        self.clock = clock
        self.people: dict[int, Member] = {}
        self.identities: dict[tuple[str, str], int] = {}  # (channel, external id) -> person
        self.invites: dict[str, Invite] = {}
        self.reports: dict[int, ReportView] = {}
        self.attachments: dict[int, list[dict[str, Any]]] = {}
        self.chats: dict[tuple[str, str], list[str]] = {}  # bound chats and their roles
        self.link_codes: dict[int, LinkCode] = {}
        self.hits: dict[str, list[datetime]] = {}
        self.outbox: list[Message] = []
        self.reveals: list[tuple[int, int]] = []
        self.web_logins: dict[str, int] = {}
        self.rounds: dict[int, PollRoundView] = {}
        self.poll_invites: dict[int, set[int]] = {}
        self.responses: dict[int, Responses] = {}
        self.response_cases: dict[int, int] = {}  # report id -> poll response id
        self._ids = 0

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- setting up --------------------------------------------------------------------------------
    def add_invite(
        self,
        code: str,
        role: str,
        unit_code: str | None,
        uses: int,
        department_code: str | None = None,
        can_reveal: bool = False,
    ) -> None:
        view = InviteView(code.upper(), role, unit_code, uses)
        self.invites[view.code] = Invite(view, department_code, can_reveal)

    def bind_chat(self, role: str, channel: str, chat_id: str) -> None:
        self.chats.setdefault((channel, chat_id), []).append(role)

    # -- people --------------------------------------------------------------------------------------
    async def person_for(self, channel: str, external_id: str) -> PersonView | None:
        person_id = self.identities.get((channel, external_id))
        return self.people[person_id].view if person_id is not None else None

    async def find_invite(self, code: str) -> InviteView | None:
        invite = self.invites.get(code.strip().upper())
        return invite.view if invite else None

    async def register(self, registration: Registration) -> PersonView:
        member = Member(
            PersonView(
                id=max(self.people, default=0) + 1,
                display_name=registration.display_name,
                role=registration.role,
                unit_code=registration.unit_code if registration.unit_code in self.units else None,
                locale=registration.locale,
            ),
            username=registration.username,
        )
        if registration.invite_code:
            invite = self.invites.get(registration.invite_code)
            if invite is None or invite.view.uses_left <= 0:
                raise InviteUnavailable(registration.invite_code)
            invite.view = replace(invite.view, uses_left=invite.view.uses_left - 1)
            member.department_code, member.can_reveal = invite.department_code, invite.can_reveal
        self.people[member.view.id] = member
        self.identities[(registration.channel, registration.external_id)] = member.view.id
        return member.view

    async def set_locale(self, person_id: int, locale: str) -> None:
        member = self.people[person_id]
        member.view = replace(member.view, locale=locale)

    async def touch_channel(self, person_id: int, channel: str) -> None:
        member = self.people[person_id]
        member.view = replace(member.view, last_channel=channel)

    async def actor_profile(self, person_id: int) -> tuple[str | None, bool]:
        member = self.people.get(person_id)
        return (member.department_code, member.can_reveal) if member else (None, False)

    # -- reports -----------------------------------------------------------------------------------
    async def submit_report(
        self, person: PersonView | None, answers: dict[str, Any], channel: str, locale: str
    ) -> ReportView:
        report_id = max(self.reports, default=0) + 1
        unit = self.units.get(answers.get("unit") or "")
        now = self.clock()
        items = list(answers.get("attachments") or [])
        self.attachments[report_id] = items
        self.reports[report_id] = ReportView(
            id=report_id,
            code=report_code(report_id),
            category=answers["category"],
            urgency=answers["urgency"],
            unit_code=unit.code if unit else None,
            unit_name=unit.name if unit else "—",
            description=answers["description"],
            anonymity=answers["anonymity"],
            status="new",
            created_at=now,
            attachment_count=len(items),
            events=(EventView(now, "", "new", ""),),
            reporter_person_id=person.id if person else None,
            channel=channel,
        )
        return self.reports[report_id]

    def _theirs(self, person_id: int) -> list[ReportView]:
        """Newest first, as the SQL store lists them."""
        mine = [r for r in self.reports.values() if r.reporter_person_id == person_id]
        return sorted(mine, key=lambda r: r.id, reverse=True)

    async def reports_of(self, person_id: int, limit: int) -> list[ReportView]:
        return self._theirs(person_id)[:limit]

    async def report_of(self, person_id: int, code: str) -> ReportView | None:
        return next((r for r in self._theirs(person_id) if r.code == code), None)

    # -- casework --------------------------------------------------------------------------------
    async def case(self, report_id: int) -> ReportView | None:
        return self.reports.get(report_id)

    async def similar_open(self, report_id: int) -> list[SimilarHint]:
        """As the SQL store finds them, but every open report of the window is compared (no
        index: a test holds a handful of reports)."""
        case = self.reports.get(report_id)
        if case is None:
            return []
        since = self.clock() - timedelta(days=WINDOW_DAYS)

        def comparable(r: ReportView) -> Comparable:
            return Comparable(text_features(r.description), r.unit_code, r.category)

        others = [
            ((r.id, r.code), comparable(r))
            for r in self.reports.values()
            if r.id != report_id
            and r.status in OPEN
            and r.created_at >= since
            and may_pair(case.anonymity, case.unit_code, r.anonymity, r.unit_code)
        ]
        matches = best_matches(comparable(case), others)
        return [SimilarHint(m.key[0], m.key[1], m.percent) for m in matches]

    async def case_by_code(self, code: str) -> ReportView | None:
        wanted = code.strip().upper()
        return next((r for r in self.reports.values() if r.code == wanted), None)

    async def case_of_card(self, channel: str, chat_id: str, message_id: str) -> str | None:
        return None  # cards are posted by the outbox, which this store has not

    async def departments(self) -> list[DepartmentView]:
        return sorted(self.departments_, key=lambda d: d.name)

    async def change_case(self, change: CaseChange) -> ReportView:
        case = self.reports.get(change.report_id)
        if case is None or case.version != change.expected_version:
            raise StaleCase(change.report_id)
        values: dict[str, Any] = {"version": case.version + 1, "status": change.to_status}
        if change.set_department:
            dept = next((d for d in self.departments_ if d.code == change.department_code), None)
            values["department_code"] = dept.code if dept else None
            values["department_name"] = dept.name if dept else ""
        if change.set_due:
            values["due_at"] = change.due_at
        if change.rating is not None:
            values["rating"] = change.rating
        event = EventView(
            self.clock(), change.from_status, change.to_status, change.note, change.action
        )
        values["events"] = (*case.events, event)
        self.reports[case.id] = replace(case, **values)
        return self.reports[case.id]

    async def open_cases(self, department_code: str | None, limit: int) -> list[ReportView]:
        cases = [
            r
            for r in sorted(self.reports.values(), key=lambda r: r.id, reverse=True)
            if r.status in OPEN_STATUSES
            and (department_code is None or r.department_code == department_code)
        ]
        return cases[:limit]

    async def waiting_on_reporter(self, person_id: int) -> list[ReportView]:
        return [r for r in self._theirs(person_id) if r.status in ("needs_info", "resolved")]

    async def log_reveal(self, report_id: int, person_id: int) -> None:
        self.reveals.append((report_id, person_id))

    def _reporter(self, report_id: int) -> Member | None:
        case = self.reports.get(report_id)
        if case is None or case.reporter_person_id is None:
            return None
        return self.people.get(case.reporter_person_id)

    async def reporter_identity(self, report_id: int) -> str | None:
        case = self.reports.get(report_id)
        member = self._reporter(report_id)
        if case is None or case.anonymity == "anonymous" or member is None:
            return None
        found = self._reporter_info(member)
        who = found.name + (f" (@{found.username})" if found.username else "")
        return who + (f", {found.unit_name}" if found.unit_name else "")

    async def named_reporter(self, report_id: int) -> ReporterInfo | None:
        case = self.reports.get(report_id)
        member = self._reporter(report_id)
        if case is None or case.anonymity != "named" or member is None:
            return None
        return self._reporter_info(member)

    def _reporter_info(self, member: Member) -> ReporterInfo:
        unit = self.units.get(member.view.unit_code or "")
        return ReporterInfo(member.view.display_name, member.username, unit.name if unit else "")

    async def rate_case(self, report_id: int, rating: int) -> None:
        self.reports[report_id] = replace(self.reports[report_id], rating=rating)

    async def chat_roles(self, channel: str, chat_id: str) -> list[str]:
        return list(self.chats.get((channel, chat_id), []))

    # -- one person across messengers ------------------------------------------------------------
    async def create_link_code(self, person_id: int, valid_minutes: int) -> str:
        taken = {c.code for c in self.link_codes.values()}
        code = next(c for c in iter(linkcode.new_code, None) if c not in taken)
        expires = self.clock() + timedelta(minutes=valid_minutes)
        self.link_codes[self._next_id()] = LinkCode(code, person_id, expires)
        return code

    def _live(self, max_failures: int) -> list[tuple[int, LinkCode]]:
        now = self.clock()
        return [
            (code_id, c)
            for code_id, c in sorted(self.link_codes.items())
            if not c.used and c.expires_at > now and c.failures < max_failures
        ]

    def _needs_confirmation(self, person_id: int) -> bool:
        member = self.people.get(person_id)
        return member is None or member.view.role in WEB_ROLES or member.can_reveal

    async def redeem_link_code(
        self, code: str, newcomer: Newcomer, max_failures: int, confirm_minutes: int
    ) -> LinkClaim | None:
        found = next(((i, c) for i, c in self._live(max_failures) if c.code == code), None)
        if found is None:
            return None
        code_id, link = found
        link.used = True
        view = self.people[link.person_id].view
        if self._needs_confirmation(link.person_id):
            link.pending = newcomer
            link.expires_at = self.clock() + timedelta(minutes=confirm_minutes)
            return LinkClaim(code_id, view, confirm=True)
        self.identities[(newcomer.channel, newcomer.external_id)] = link.person_id
        return LinkClaim(code_id, view, confirm=False)

    async def link_failed(self, max_failures: int) -> list[LinkAlarm]:
        alarms = []
        for code_id, link in self._live(max_failures):
            link.failures += 1
            member = self.people.get(link.person_id)
            locale = member.view.locale if member else ""
            alarms.append(LinkAlarm(code_id, link.person_id, locale, link.failures))
        return alarms

    async def decide_link(
        self, person_id: int, code_id: int | None, accept: bool
    ) -> PendingLink | None:
        now = self.clock()
        waiting = [
            (i, c)
            for i, c in sorted(self.link_codes.items(), reverse=True)
            if c.person_id == person_id
            and c.pending is not None
            and c.expires_at > now
            and (code_id is None or i == code_id)
        ]
        if not waiting:
            return None
        link = waiting[0][1]
        newcomer, link.pending = link.pending, None
        assert newcomer is not None
        key = (newcomer.channel, newcomer.external_id)
        accepted = accept and key not in self.identities  # it registered on its own meanwhile
        if accepted:
            self.identities[key] = person_id
        view = self.people[person_id].view
        return PendingLink(view, newcomer.channel, newcomer.chat_id, accepted)

    async def recent_hits(self, key: str, window_seconds: int) -> tuple[int, datetime | None]:
        since = self.clock() - timedelta(seconds=window_seconds)
        recent = [at for at in self.hits.get(key, []) if at > since]
        return len(recent), max(recent, default=None)

    async def hit(self, key: str, keep_seconds: int) -> None:
        self.hits.setdefault(key, []).append(self.clock())

    async def tell_person(
        self, person_id: int, key: str, text: str, choices: list[tuple[str, str]]
    ) -> None:
        member = self.people.get(person_id)
        accounts = [k for k, pid in self.identities.items() if pid == person_id]
        if member is None or not accounts or any(m.key == key for m in self.outbox):
            return
        channel, chat_id = next(
            (a for a in accounts if a[0] == member.view.last_channel), accounts[0]
        )
        self.outbox.append(Message(key, channel, chat_id, text, list(choices)))

    async def tell_chat(self, channel: str, chat_id: str, key: str, text: str) -> None:
        if not any(m.key == key for m in self.outbox):
            self.outbox.append(Message(key, channel, chat_id, text))

    async def unlink(self, person_id: int, channel: str, external_id: str) -> bool:
        accounts = [k for k, pid in self.identities.items() if pid == person_id]
        if len(accounts) <= 1:
            return False
        self.identities.pop((channel, external_id), None)
        return True

    async def create_web_login(self, person_id: int, valid_minutes: int) -> str:
        token = secrets.token_urlsafe(24)
        self.web_logins[token] = person_id
        return token

    # -- polls and situation reports -------------------------------------------------------------
    async def poll_round(self, round_id: int) -> PollRoundView | None:
        return self.rounds.get(round_id)

    async def poll_todo(self, person_id: int) -> list[PollTodo]:
        todo = [
            PollTodo(rnd, person_id in self._responses(rnd.id).responded)
            for rnd in self.rounds.values()
            if rnd.status == "open" and person_id in self.poll_invites.get(rnd.id, set())
        ]
        return sorted(todo, key=lambda p: p.round.closes_at)

    async def invited(self, round_id: int, person_id: int) -> bool:
        return person_id in self.poll_invites.get(round_id, set())

    def _responses(self, round_id: int) -> Responses:
        return self.responses.setdefault(round_id, Responses())

    async def named_response(self, round_id: int, person_id: int) -> dict[str, Any] | None:
        responses = self._responses(round_id)
        response_id = responses.named.get(person_id)
        return dict(responses.answers[response_id]) if response_id is not None else None

    async def save_poll_response(
        self, round_id: int, person: PersonView, answers: dict[str, Any], response_id: int | None
    ) -> int:
        anonymous = bool(self.rounds[round_id].definition.get("anonymous"))
        responses = self._responses(round_id)
        if anonymous:
            known = response_id is not None and response_id in responses.answers
            kept = response_id if known else None
        else:
            kept = responses.named.get(person.id)
        new_id = kept if kept is not None else self._next_id()
        responses.answers[new_id] = dict(answers)
        if not anonymous:
            responses.named[person.id] = new_id
        responses.responded.add(person.id)
        return new_id

    async def link_case_to_response(self, report_id: int, response_id: int) -> None:
        self.response_cases[report_id] = response_id


def as_store(store: MemoryStore) -> Store:
    """The memory store where the core's port is wanted; mypy checks that it fits."""
    return store
