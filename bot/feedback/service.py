"""What the feedback page does with the database: file a submission as a case, exactly as a
chat report is filed, and look a case up by its code and secret."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.effects import EffectApplier
from bot.feedback.uploads import StoredFile
from handlers.cards import WEB_FORM_CHANNEL, case_facts
from handlers.casework import ALLOWED_FROM, Action, Actor, Status, check, target
from handlers.context import CaseChanged, ReportSubmitted
from handlers.ports import CaseChange, ReportView
from storage import form_receipts
from storage.db import Sessions
from storage.feedback import add_ticket, new_secret, report_for_ticket
from storage.store import SqlStore


@dataclass(frozen=True)
class Submission:
    unit: str
    category: str
    urgency: str
    description: str
    name: str
    contact: str
    locale: str

    @property
    def anonymity(self) -> str:
        """Anonymous unless the sender chose to say who they are; then staff see it."""
        return "named" if self.name or self.contact else "anonymous"


@dataclass(frozen=True)
class Filed:
    code: str
    secret: str  # shown once to the sender; only its hash is kept


async def file_feedback(
    sessions: Sessions,
    effects: EffectApplier,
    submission: Submission,
    files: list[StoredFile],
    on_commit: Callable[[], None],
    token: str = "",
) -> Filed:
    """One transaction: the report, its ticket and the outbox rows for the staff card and the
    leaders' hot alert, through the same store and effects as a report from a chat. With the
    form's `token`, also its receipt: when a submission with the same token was filed first
    (a second tap on Send, perhaps on another instance) this one is rolled back and
    `AlreadyFiled` raised."""
    secret = new_secret()
    answers = {
        "unit": submission.unit,
        "category": submission.category,
        "urgency": submission.urgency,
        "description": submission.description,
        "anonymity": submission.anonymity,
        "attachments": [f.as_answer() for f in files],
    }
    async with sessions() as session, session.begin():
        report = await SqlStore(session).submit_report(
            None, answers, WEB_FORM_CHANNEL, submission.locale
        )
        await add_ticket(session, report.id, secret, submission.name, submission.contact)
        await effects.apply(session, ReportSubmitted(report.id))
        if token and not await form_receipts.keep(
            session, token, {"code": report.code, "secret": secret}
        ):
            raise AlreadyFiled
    on_commit()
    return Filed(report.code, secret)


class AlreadyFiled(Exception):
    """This form was filed already; `filed_earlier` tells what it filed."""


async def filed_earlier(sessions: Sessions, token: str) -> Filed | None:
    """What a submission with this form token filed, on any instance, in the last hours."""
    async with sessions() as session:
        receipt = await form_receipts.recall(session, token)
    if receipt is None:
        return None
    return Filed(str(receipt.get("code", "")), str(receipt.get("secret", "")))


async def public_status(sessions: Sessions, code: str, secret: str) -> ReportView | None:
    """The case, with its events, when the code and the secret match; None otherwise."""
    async with sessions() as session:
        report = await report_for_ticket(session, code, secret)
        if report is None:
            return None
        return await SqlStore(session).report_view(report, with_events=True)


# What the sender of a web form may do with their case, and when: the same actions and rules as
# a reporter in chat, through the same status machine.
SENDER_ACTIONS = (Action.ANSWER, Action.ADD_INFO, Action.CONFIRM, Action.DISPUTE)
WEB_SENDER = Actor(person_id=None, role="reporter", is_reporter=True)


def sender_actions(status: str) -> list[Action]:
    """What the page offers: an answer while a question waits (it adds information too),
    otherwise information while the case is open, and yes or no once it is resolved."""
    offered = [a for a in SENDER_ACTIONS if Status(status) in ALLOWED_FROM[a]]
    if Action.ANSWER in offered:
        offered.remove(Action.ADD_INFO)
    return offered


async def act_as_sender(
    sessions: Sessions,
    effects: EffectApplier,
    code: str,
    secret: str,
    action: Action,
    note: str,
    on_commit: Callable[[], None],
) -> ReportView | None:
    """The sender answers, adds information, confirms or disputes, in one transaction with the
    outbox rows that tell the case's owner and refresh its cards. None when the code and secret
    do not match; raises casework.Refusal when the case no longer allows it, and StaleCase when
    it changed at the same moment."""
    async with sessions() as session, session.begin():
        report = await report_for_ticket(session, code, secret)
        if report is None:
            return None
        store = SqlStore(session)
        case = await store.report_view(report)
        facts = case_facts(case)
        check(WEB_SENDER, action, facts)
        await store.change_case(
            CaseChange(
                report_id=case.id,
                expected_version=case.version,
                actor_person_id=None,
                action=action.value,
                from_status=case.status,
                to_status=target(action, facts).value,
                note=note,
            )
        )
        await effects.apply(session, CaseChanged(case.id, action.value, note, case.department_code))
        updated = await store.case(case.id)
    on_commit()
    return updated
