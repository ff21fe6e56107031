"""What the feedback page does with the database: file a submission as a case, exactly as a
chat report is filed, and look a case up by its code and secret."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.effects import EffectApplier
from bot.feedback.uploads import StoredFile
from handlers.cards import WEB_FORM_CHANNEL
from handlers.context import ReportSubmitted
from handlers.ports import ReportView
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
    sessions: async_sessionmaker[AsyncSession],
    effects: EffectApplier,
    submission: Submission,
    files: list[StoredFile],
    on_commit: Callable[[], None],
) -> Filed:
    """One transaction: the report, its ticket and the outbox rows for the staff card and the
    leaders' hot alert, through the same store and effects as a report from a chat."""
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
    on_commit()
    return Filed(report.code, secret)


async def public_status(
    sessions: async_sessionmaker[AsyncSession], code: str, secret: str
) -> ReportView | None:
    """The case, with its events, when the code and the secret match; None otherwise."""
    async with sessions() as session:
        report = await report_for_ticket(session, code, secret)
        if report is None:
            return None
        return await SqlStore(session).report_view(report, with_events=True)
