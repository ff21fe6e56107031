"""Scheduled jobs. Each is a module-level coroutine taking the core; schedules are data."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from handlers.casework import Action, Status
from handlers.context import CaseChanged
from handlers.ports import CaseChange, StaleCase
from storage.attachments import unheld
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


SWEEP_AFTER = timedelta(days=1)  # far longer than any upload takes to arrive and be handled
STORED_NAME = re.compile(r"^\d{4}/\d{2}/[0-9a-f]{32}\.[a-z0-9]{1,10}$")


async def sweep_files(core: Core) -> int:
    """Delete received files that no report and no draft holds a day after they arrived: drafts
    that were cancelled or abandoned, uploads cut short by a crash. Charts are not touched."""
    root = core.settings.attachments_dir
    cutoff = (datetime.now(UTC) - SWEEP_AFTER).timestamp()

    def old_files() -> list[str]:
        if not root.is_dir():
            return []
        found = (p for p in root.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/*") if p.is_file())
        names = (p.relative_to(root).as_posix() for p in found if p.stat().st_mtime < cutoff)
        return [n for n in names if STORED_NAME.match(n)]

    candidates = await asyncio.to_thread(old_files)
    if not candidates:
        return 0
    async with core.sessions() as session:
        gone = await unheld(session, candidates)
    for name in gone:
        await asyncio.to_thread((root / name).unlink, True)
    return len(gone)


JOBS: dict[str, Callable[[Core], Awaitable[int]]] = {
    "sweep_files": sweep_files,
    "nudges": nudges,
    "polls": polls,
    "close_unconfirmed": close_unconfirmed,
    "daily_digest": daily_digest,
    "weekly_digest": weekly_digest,
    "monthly_digest": monthly_digest,
}
