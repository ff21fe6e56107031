"""The core's `Store`, implemented over one AsyncSession (the current inbound event's transaction)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.ports import (
    EventView,
    InviteUnavailable,
    InviteView,
    PersonView,
    Registration,
    ReportView,
)
from storage.models import (
    Attachment,
    Identity,
    Invite,
    OrgUnit,
    Person,
    Report,
    ReportEvent,
)

REPORT_PREFIX = "PA"


def report_code(report_id: int) -> str:
    """A code a person can read out on the phone: PA-0042."""
    return f"{REPORT_PREFIX}-{report_id:04d}"


class SqlStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
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
        stmt = (
            select(Person)
            .join(Identity, col(Identity.person_id) == col(Person.id))
            .where(Identity.channel == channel, Identity.external_id == external_id)
        )
        person = (await self.session.execute(stmt)).scalar_one_or_none()
        return await self._person_view(person) if person else None

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
        self, person: PersonView, answers: dict[str, Any], channel: str, locale: str
    ) -> ReportView:
        report = Report(
            person_id=person.id,
            unit_id=await self._unit_id(answers.get("unit")),
            category=answers["category"],
            urgency=answers["urgency"],
            description=answers["description"],
            anonymity=answers["anonymity"],
            channel=channel,
            locale=locale,
        )
        self.session.add(report)
        await self.session.flush()
        assert report.id is not None
        report.code = report_code(report.id)
        self.session.add(report)
        for item in answers.get("attachments") or []:
            self.session.add(
                Attachment(
                    report_id=report.id,
                    kind=item["kind"],
                    channel=channel,
                    path=item.get("ref", ""),
                    mime=item.get("mime", ""),
                    size=item.get("size", 0),
                    name=item.get("name", ""),
                    latitude=item.get("latitude"),
                    longitude=item.get("longitude"),
                )
            )
        self.session.add(
            ReportEvent(
                report_id=report.id, actor_person_id=person.id, from_status="", to_status="new"
            )
        )
        await self.session.flush()
        view = await self.report_view(report)
        return view

    async def report_view(self, report: Report, with_events: bool = False) -> ReportView:
        assert report.id is not None
        unit = await self.session.get(OrgUnit, report.unit_id) if report.unit_id else None
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
            events = tuple(EventView(e.at, e.from_status, e.to_status, e.note) for e in rows)
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
            created_at=_aware(report.created_at),
            attachment_count=int(count),
            events=events,
        )

    async def reports_of(self, person_id: int, limit: int) -> list[ReportView]:
        stmt = (
            select(Report)
            .where(Report.person_id == person_id)
            .order_by(col(Report.id).desc())
            .limit(limit)
        )
        rows = (await self.session.execute(stmt)).scalars().all()
        return [await self.report_view(r) for r in rows]

    async def report_of(self, person_id: int, code: str) -> ReportView | None:
        stmt = select(Report).where(Report.person_id == person_id, Report.code == code)
        report = (await self.session.execute(stmt)).scalar_one_or_none()
        return await self.report_view(report, with_events=True) if report else None


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)
