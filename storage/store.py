"""The core's `Store`, implemented over one AsyncSession (the current inbound event's transaction)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers import linkcode
from handlers.casework import WEB_ROLES
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
    Registration,
    ReporterInfo,
    ReportView,
    StaleCase,
)
from handlers.similarity import SimilarHint
from storage import ratelimit
from storage.admin import reporter_of
from storage.bindings import messenger_of, preferred
from storage.models import (
    Attachment,
    CaseCard,
    ChatBinding,
    Department,
    Identity,
    Invite,
    LinkCode,
    OrgUnit,
    Person,
    Report,
    ReportEvent,
    RevealLog,
    WebAccount,
    utcnow,
)
from storage.newreport import write_report
from storage.outbox import enqueue
from storage.people import talking
from storage.polls import PollStore
from storage.seal import (
    hidden_report_ids,
    sealed_person,
)
from storage.similar import similar_open
from storage.webauth import issue_login_token


class SqlStore(PollStore):
    def __init__(
        self,
        session: AsyncSession,
        talking: dict[tuple[str, str], PersonView | None] | None = None,
    ) -> None:
        self.session = session
        # Who is talking, as the dispatcher read them with the conversation (one statement
        # fewer per event); used once, so a registration later in the event is seen.
        self._talking = dict(talking or {})
        self._unit_codes: dict[int, str] | None = None

    async def _unit_code(self, unit_id: int | None) -> str | None:
        if unit_id is None:
            return None
        unit = await self.session.get(OrgUnit, unit_id)
        return unit.code if unit else None

    async def _unit_id(self, code: str | None) -> int | None:
        if not code:
            return None
        result = await self.session.execute(select(OrgUnit.id).where(OrgUnit.code == code))
        return result.scalar_one_or_none()

    async def _person_view(self, person: Person) -> PersonView:
        assert person.id is not None
        return PersonView(
            id=person.id,
            display_name=person.display_name,
            role=person.role,
            unit_code=await self._unit_code(person.unit_id),
            locale=person.locale,
        )

    async def person_for(self, channel: str, external_id: str) -> PersonView | None:
        """One prebuilt query on the hot path: every update asks who is talking."""
        if (channel, external_id) in self._talking:
            return self._talking.pop((channel, external_id))
        return await talking(self.session, channel, external_id)

    async def find_invite(self, code: str) -> InviteView | None:
        stmt = select(Invite).where(Invite.code == code.strip().upper())
        invite = (await self.session.execute(stmt)).scalar_one_or_none()
        if invite is None:
            return None
        return InviteView(
            code=invite.code,
            role=invite.role,
            unit_code=await self._unit_code(invite.unit_id),
            uses_left=invite.uses_left,
        )

    async def register(self, registration: Registration) -> PersonView:
        if registration.invite_code:
            # One atomic decrement: two people racing for the last use cannot both win.
            result = await self.session.execute(
                update(Invite)
                .where(col(Invite.code) == registration.invite_code, col(Invite.uses_left) > 0)
                .values(uses_left=Invite.uses_left - 1)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise InviteUnavailable(registration.invite_code)
        person = Person(
            display_name=registration.display_name,
            role=registration.role,
            unit_id=await self._unit_id(registration.unit_code),
            locale=registration.locale,
            privacy_accepted_at=datetime.now(UTC),
        )
        if registration.invite_code:
            stmt = select(Invite).where(Invite.code == registration.invite_code)
            invite = (await self.session.execute(stmt)).scalar_one()
            person.department_id, person.can_reveal = invite.department_id, invite.can_reveal
        self.session.add(person)
        await self.session.flush()
        assert person.id is not None
        self.session.add(
            Identity(
                person_id=person.id,
                channel=registration.channel,
                external_id=registration.external_id,
                username=registration.username,
            )
        )
        await self.session.flush()
        return await self._person_view(person)

    async def set_locale(self, person_id: int, locale: str) -> None:
        person = await self.session.get(Person, person_id)
        if person is not None:
            person.locale = locale
            self.session.add(person)

    async def submit_report(
        self, person: PersonView | None, answers: dict[str, Any], channel: str, locale: str
    ) -> ReportView:
        """`person` is None for a report from the public feedback page, which has no account.
        Written in Core (storage/newreport.py): the Send step's hot path."""
        new = await write_report(
            self.session, person.id if person is not None else None, answers, channel, locale
        )
        return new.view

    async def report_view(self, report: Report, with_events: bool = False) -> ReportView:
        assert report.id is not None
        unit = await self.session.get(OrgUnit, report.unit_id) if report.unit_id else None
        dept = (
            await self.session.get(Department, report.department_id)
            if report.department_id
            else None
        )
        count = (
            await self.session.execute(
                select(func.count())
                .select_from(Attachment)
                .where(Attachment.report_id == report.id)
            )
        ).scalar_one()
        events: tuple[EventView, ...] = ()
        if with_events:
            rows = (
                await self.session.execute(
                    select(ReportEvent)
                    .where(ReportEvent.report_id == report.id)
                    .order_by(col(ReportEvent.at), col(ReportEvent.id))
                )
            ).scalars()
            events = tuple(
                EventView(e.at, e.from_status, e.to_status, e.note, e.action) for e in rows
            )
        return ReportView(
            id=report.id,
            code=report.code,
            category=report.category,
            urgency=report.urgency,
            unit_code=unit.code if unit else None,
            unit_name=unit.name if unit else "—",
            description=report.description,
            anonymity=report.anonymity,
            status=report.status,
            created_at=report.created_at,
            attachment_count=int(count),
            events=events,
            version=report.version,
            department_code=dept.code if dept else None,
            department_name=dept.name if dept else "",
            due_at=report.due_at,
            reporter_person_id=sealed_person(self.session, report),
            delivery_problem=report.delivery_problem,
            rating=report.rating,
            channel=report.channel,
        )

    async def _theirs(self, person_id: int) -> ColumnElement[bool]:
        """Their named reports, and the hidden ones listed in their sealed box."""
        hidden = await hidden_report_ids(self.session, person_id)
        named = col(Report.person_id) == person_id
        return or_(named, col(Report.id).in_(hidden)) if hidden else named

    async def reports_of(self, person_id: int, limit: int) -> list[ReportView]:
        stmt = (
            select(Report)
            .where(await self._theirs(person_id))
            .order_by(col(Report.id).desc())
            .limit(limit)
        )
        rows = (await self.session.execute(stmt)).scalars().all()
        return [await self.report_view(r) for r in rows]

    async def report_of(self, person_id: int, code: str) -> ReportView | None:
        stmt = select(Report).where(await self._theirs(person_id), Report.code == code)
        report = (await self.session.execute(stmt)).scalar_one_or_none()
        return await self.report_view(report, with_events=True) if report else None

    # -- casework --------------------------------------------------------------------------------
    async def case(self, report_id: int) -> ReportView | None:
        report = await self.session.get(Report, report_id, populate_existing=True)
        return await self.report_view(report, with_events=True) if report else None

    async def similar_open(self, report_id: int) -> list[SimilarHint]:
        return await similar_open(self.session, report_id, utcnow())

    async def case_by_code(self, code: str) -> ReportView | None:
        stmt = select(Report).where(Report.code == code.strip().upper())
        report = (await self.session.execute(stmt)).scalar_one_or_none()
        return await self.report_view(report, with_events=True) if report else None

    async def case_of_card(self, channel: str, chat_id: str, message_id: str) -> str | None:
        # A reply to a card names its case; any other message names none.
        stmt = (
            select(Report.code)
            .join(CaseCard, col(CaseCard.report_id) == col(Report.id))
            .where(
                CaseCard.channel == channel,
                CaseCard.chat_id == chat_id,
                CaseCard.message_id == message_id,
            )
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def actor_profile(self, person_id: int) -> tuple[str | None, bool]:
        person = await self.session.get(Person, person_id)
        if person is None:
            return None, False
        dept = (
            await self.session.get(Department, person.department_id)
            if person.department_id
            else None
        )
        return (dept.code if dept else None), person.can_reveal

    async def departments(self) -> list[DepartmentView]:
        rows = (
            await self.session.execute(select(Department).order_by(col(Department.name)))
        ).scalars()
        return [DepartmentView(d.code, d.name, d.kind) for d in rows]

    async def _department_id(self, code: str | None) -> int | None:
        if not code:
            return None
        stmt = select(Department.id).where(Department.code == code)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def change_case(self, change: CaseChange) -> ReportView:
        now = datetime.now(UTC)
        values: dict[str, Any] = {"version": Report.version + 1, "status": change.to_status}
        if change.set_department:
            values["department_id"] = await self._department_id(change.department_code)
        if change.set_due:
            values["due_at"] = change.due_at
        if change.to_status in ("acknowledged", "assigned"):
            values["acknowledged_at"] = func.coalesce(Report.acknowledged_at, now)
        if change.to_status == "resolved":
            values["resolved_at"] = now
        if change.to_status == "closed":
            values["closed_at"] = now
        if change.to_status == "reopened":
            values["closed_at"] = None
        if change.duplicate_of_code:
            stmt = select(Report.id).where(Report.code == change.duplicate_of_code)
            values["duplicate_of_id"] = (await self.session.execute(stmt)).scalar_one_or_none()
        if change.rating is not None:
            values["rating"] = change.rating
        result = await self.session.execute(
            update(Report)
            .where(
                col(Report.id) == change.report_id, col(Report.version) == change.expected_version
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleCase(change.report_id)
        actor = change.actor_person_id
        if actor is not None:
            report = await self.session.get(Report, change.report_id)
            hidden = report is not None and report.sealed_reporter
            if hidden and report is not None and sealed_person(self.session, report) == actor:
                actor = None  # a hidden reporter's own step names nobody
        self.session.add(
            ReportEvent(
                report_id=change.report_id,
                actor_person_id=actor,
                from_status=change.from_status,
                to_status=change.to_status,
                action=change.action,
                note=change.note,
            )
        )
        await self.session.flush()
        view = await self.case(change.report_id)
        assert view is not None
        return view

    async def open_cases(self, department_code: str | None, limit: int) -> list[ReportView]:
        stmt = select(Report).where(col(Report.status).in_(OPEN_STATUSES))
        if department_code is not None:
            stmt = stmt.where(Report.department_id == await self._department_id(department_code))
        stmt = stmt.order_by(col(Report.id).desc()).limit(limit)
        rows = (await self.session.execute(stmt)).scalars().all()
        views = [await self.report_view(r) for r in rows]
        # The events of the cases with a due time, in one query: "overdue" reads the SLA clock's
        # pauses from them (handlers.slaclock).
        events = await self._events_of([v.id for v in views if v.due_at is not None])
        return [replace(v, events=events[v.id]) if v.id in events else v for v in views]

    async def _events_of(self, ids: list[int]) -> dict[int, tuple[EventView, ...]]:
        out: dict[int, list[EventView]] = {}
        if ids:
            rows = await self.session.execute(
                select(ReportEvent)
                .where(col(ReportEvent.report_id).in_(ids))
                .order_by(col(ReportEvent.report_id), col(ReportEvent.at), col(ReportEvent.id))
            )
            for e in rows.scalars():
                out.setdefault(e.report_id, []).append(
                    EventView(e.at, e.from_status, e.to_status, e.note, e.action)
                )
        return {i: tuple(evs) for i, evs in out.items()}

    async def waiting_on_reporter(self, person_id: int) -> list[ReportView]:
        stmt = (
            select(Report)
            .where(
                await self._theirs(person_id), col(Report.status).in_(("needs_info", "resolved"))
            )
            .order_by(col(Report.id).desc())
        )
        rows = (await self.session.execute(stmt)).scalars().all()
        return [await self.report_view(r, with_events=True) for r in rows]

    async def reporter_identity(self, report_id: int) -> str | None:
        report = await self.session.get(Report, report_id)
        if report is None or report.anonymity == "anonymous":
            return None
        person_id = sealed_person(self.session, report)
        if person_id is None:
            return None
        person = await self.session.get(Person, person_id)
        if person is None:
            return None
        ident = (
            (await self.session.execute(select(Identity).where(Identity.person_id == person.id)))
            .scalars()
            .first()
        )
        unit = await self.session.get(OrgUnit, person.unit_id) if person.unit_id else None
        who = person.display_name
        if ident is not None and ident.username:
            who += f" (@{ident.username})"
        if unit is not None:
            who += f", {unit.name}"
        return who

    async def named_reporter(self, report_id: int) -> ReporterInfo | None:
        report = await self.session.get(Report, report_id)
        if report is None or report.anonymity != "named":
            return None
        found = await reporter_of(self.session, report)
        return ReporterInfo(found.name, found.username, found.unit_name) if found else None

    async def chat_roles(self, channel: str, chat_id: str) -> list[str]:
        stmt = select(ChatBinding.role).where(
            ChatBinding.channel == channel, ChatBinding.chat_id == chat_id
        )
        return list((await self.session.execute(stmt)).scalars())

    async def rate_case(self, report_id: int, rating: int) -> None:
        await self.session.execute(
            update(Report).where(col(Report.id) == report_id).values(rating=rating)
        )

    async def create_link_code(self, person_id: int, valid_minutes: int) -> str:
        for _ in range(10):
            code = linkcode.new_code()
            taken = await self.session.execute(select(LinkCode.id).where(LinkCode.code == code))
            if taken.first() is None:
                expires = datetime.now(UTC) + timedelta(minutes=valid_minutes)
                self.session.add(LinkCode(code=code, person_id=person_id, expires_at=expires))
                await self.session.flush()
                return code
        raise RuntimeError("could not find a free link code")

    async def _needs_confirmation(self, person_id: int) -> bool:
        """Staff, leaders, handlers and anyone who may sign in to the web admin or reveal."""
        person = await self.session.get(Person, person_id)
        if person is None or person.role in WEB_ROLES or person.can_reveal:
            return True
        account = await self.session.execute(
            select(WebAccount.id).where(WebAccount.person_id == person_id)
        )
        return account.first() is not None

    async def redeem_link_code(
        self, code: str, newcomer: Newcomer, max_failures: int, confirm_minutes: int
    ) -> LinkClaim | None:
        now = datetime.now(UTC)
        # One atomic claim: a code works once, within its validity, whoever races for it.
        claimed = await self.session.execute(
            update(LinkCode)
            .where(
                col(LinkCode.code) == code,
                col(LinkCode.used).is_(False),
                col(LinkCode.expires_at) > now,
                col(LinkCode.failures) < max_failures,
            )
            .values(used=True)
            .returning(col(LinkCode.id), col(LinkCode.person_id))
        )
        row = claimed.first()
        if row is None:
            return None
        code_id, person_id = row
        assert code_id is not None  # a primary key
        person = await self.session.get(Person, person_id)
        assert person is not None
        view = await self._person_view(person)
        if await self._needs_confirmation(person_id):
            await self.session.execute(
                update(LinkCode)
                .where(col(LinkCode.id) == code_id)
                .values(
                    pending_channel=newcomer.channel,
                    pending_external_id=newcomer.external_id,
                    pending_chat_id=newcomer.chat_id,
                    pending_username=newcomer.username,
                    expires_at=now + timedelta(minutes=confirm_minutes),
                )
            )
            return LinkClaim(code_id, view, confirm=True)
        self.session.add(
            Identity(
                person_id=person_id,
                channel=newcomer.channel,
                external_id=newcomer.external_id,
                username=newcomer.username,
            )
        )
        await self.session.flush()
        return LinkClaim(code_id, view, confirm=False)

    async def link_failed(self, max_failures: int) -> list[LinkAlarm]:
        live = (
            select(LinkCode.id)
            .where(
                col(LinkCode.used).is_(False),
                col(LinkCode.expires_at) > datetime.now(UTC),
                col(LinkCode.failures) < max_failures,
            )
            .order_by(col(LinkCode.id))
            .with_for_update()  # in id order, so parallel failures cannot deadlock
        )
        ids = list((await self.session.execute(live)).scalars())
        if not ids:
            return []
        bumped = await self.session.execute(
            update(LinkCode)
            .where(col(LinkCode.id).in_(ids), col(LinkCode.failures) < max_failures)
            .values(failures=col(LinkCode.failures) + 1)
            .returning(col(LinkCode.id), col(LinkCode.person_id), col(LinkCode.failures))
        )
        rows = bumped.all()
        alarms = []
        for code_id, person_id, failures in rows:
            assert code_id is not None  # a primary key
            person = await self.session.get(Person, person_id)
            locale = person.locale if person else ""
            alarms.append(LinkAlarm(code_id, person_id, locale, failures))
        return alarms

    async def decide_link(
        self, person_id: int, code_id: int | None, accept: bool
    ) -> PendingLink | None:
        waiting = (
            select(LinkCode)
            .where(
                col(LinkCode.person_id) == person_id,
                col(LinkCode.pending_channel) != "",
                col(LinkCode.expires_at) > datetime.now(UTC),
            )
            .order_by(col(LinkCode.id).desc())
            .limit(1)
        )
        if code_id is not None:
            waiting = waiting.where(col(LinkCode.id) == code_id)
        row = (await self.session.execute(waiting)).scalar_one_or_none()
        if row is None:
            return None
        channel, external_id = row.pending_channel, row.pending_external_id
        chat_id, username = row.pending_chat_id, row.pending_username
        # Answered once: clearing the request in the same statement stops a double press.
        cleared = await self.session.execute(
            update(LinkCode)
            .where(col(LinkCode.id) == row.id, col(LinkCode.pending_channel) != "")
            .values(pending_channel="")
            .returning(col(LinkCode.id))
        )
        if cleared.first() is None:
            return None
        taken = await self.session.execute(
            select(Identity.id).where(
                Identity.channel == channel, Identity.external_id == external_id
            )
        )
        accepted = accept and taken.first() is None  # it registered on its own meanwhile
        if accepted:
            self.session.add(
                Identity(
                    person_id=person_id,
                    channel=channel,
                    external_id=external_id,
                    username=username,
                )
            )
            await self.session.flush()
        person = await self.session.get(Person, person_id)
        assert person is not None
        return PendingLink(await self._person_view(person), channel, chat_id, accepted)

    async def recent_hits(self, key: str, window_seconds: int) -> tuple[int, datetime | None]:
        return await ratelimit.recent(self.session, key, timedelta(seconds=window_seconds))

    async def hit(self, key: str, keep_seconds: int) -> None:
        await ratelimit.record(self.session, key, timedelta(seconds=keep_seconds))

    async def tell_person(
        self, person_id: int, key: str, text: str, choices: list[tuple[str, str]]
    ) -> None:
        person = await self.session.get(Person, person_id)
        identities = (
            (await self.session.execute(select(Identity).where(Identity.person_id == person_id)))
            .scalars()
            .all()
        )
        ident = preferred(identities, person.last_channel) if person is not None else None
        if ident is None:
            return
        payload = {"kind": "text", "text": text, "choices": [list(c) for c in choices]}
        await enqueue(self.session, key, ident.channel, ident.external_id, payload)

    async def tell_chat(self, channel: str, chat_id: str, key: str, text: str) -> None:
        await enqueue(self.session, key, channel, chat_id, {"kind": "text", "text": text})

    async def unlink(self, person_id: int, channel: str, external_id: str) -> bool:
        count = (
            await self.session.execute(
                select(func.count()).select_from(Identity).where(Identity.person_id == person_id)
            )
        ).scalar_one()
        if count <= 1:
            return False
        await self.session.execute(
            delete(Identity).where(
                col(Identity.person_id) == person_id,
                col(Identity.channel) == channel,
                col(Identity.external_id) == external_id,
            )
        )
        return True

    async def touch_channel(self, person_id: int, channel: str) -> None:
        # Acting in a Zalo OA group is using Zalo: their private Zalo chat is where they are.
        last = messenger_of(channel)
        await self.session.execute(
            update(Person).where(col(Person.id) == person_id).values(last_channel=last)
        )

    async def create_web_login(self, person_id: int, valid_minutes: int) -> str:
        return await issue_login_token(self.session, person_id, valid_minutes)

    async def log_reveal(self, report_id: int, person_id: int) -> None:
        self.session.add(RevealLog(report_id=report_id, person_id=person_id))
        await self.session.flush()


OPEN_STATUSES = ("new", "acknowledged", "assigned", "needs_info", "reopened")
