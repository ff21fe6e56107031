"""Scheduled jobs. Each is a module-level coroutine taking the core; schedules are data."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from handlers.casework import Action, Status
from handlers.context import CaseChanged
from handlers.ports import CaseChange, StaleCase
from storage.models import Report
from storage.store import SqlStore

if TYPE_CHECKING:
    from bot.app import Core

log = logging.getLogger(__name__)


async def close_unconfirmed(core: Core) -> int:
    """Close resolved cases whose reporter did not answer "was it resolved?" in time."""
    days = core.settings.case_autoclose_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    async with core.sessions() as session:
        stmt = select(Report.id).where(
            Report.status == Status.RESOLVED.value, col(Report.resolved_at) < cutoff
        )
        ids = list((await session.execute(stmt)).scalars())
    closed = 0
    for report_id in ids:  # one transaction each: one bad case cannot hold back the rest
        async with core.sessions() as session, session.begin():
            store = SqlStore(session)
            case = await store.case(report_id)
            if case is None or case.status != Status.RESOLVED.value:
                continue
            try:
                await store.change_case(
                    CaseChange(
                        report_id=report_id,
                        expected_version=case.version,
                        actor_person_id=None,
                        action=Action.AUTO_CLOSE.value,
                        from_status=case.status,
                        to_status=Status.CLOSED.value,
                        note=f"no answer from the reporter within {days} days",
                    )
                )
            except StaleCase:
                continue
            await core.effects.apply(session, CaseChanged(report_id, Action.AUTO_CLOSE.value))
            closed += 1
    if closed and core.delivery is not None:
        core.delivery.wake()
    return closed


async def daily_digest(core: Core) -> int:
    from scheduler import digest

    return await digest.daily_digest(core)


async def weekly_digest(core: Core) -> int:
    from scheduler import digest

    return await digest.weekly_digest(core)


async def monthly_digest(core: Core) -> int:
    from scheduler import digest

    return await digest.monthly_digest(core)


async def nudges(core: Core) -> int:
    from scheduler.nudges import run_nudges

    return await run_nudges(core)


async def polls(core: Core) -> int:
    from scheduler.polls import run_polls

    return await run_polls(core)


JOBS: dict[str, Callable[[Core], Awaitable[int]]] = {
    "nudges": nudges,
    "polls": polls,
    "close_unconfirmed": close_unconfirmed,
    "daily_digest": daily_digest,
    "weekly_digest": weekly_digest,
    "monthly_digest": monthly_digest,
}
