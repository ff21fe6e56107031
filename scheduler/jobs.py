"""Scheduled jobs. Each is a module-level coroutine taking the job context; schedules are data."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from handlers.casework import Action, Status
from handlers.context import CaseChanged
from handlers.ports import CaseChange, StaleCase
from scheduler import digest
from scheduler.context import JobContext
from scheduler.nudges import run_nudges
from scheduler.polls import run_polls
from storage.attachments import unheld
from storage.nudges import resolved_before
from storage.similar import index_missing
from storage.store import SqlStore

log = logging.getLogger(__name__)


async def close_unconfirmed(ctx: JobContext) -> int:
    """Close resolved cases whose reporter did not answer "was it resolved?" in time."""
    days = ctx.settings.case_autoclose_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    async with ctx.sessions() as session:
        ids = await resolved_before(session, cutoff)
    closed = 0
    for report_id in ids:  # one transaction each: one bad case cannot hold back the rest
        async with ctx.sessions() as session, session.begin():
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
            await ctx.effects.apply(session, CaseChanged(report_id, Action.AUTO_CLOSE.value))
            closed += 1
    if closed and ctx.delivery is not None:
        ctx.delivery.wake()
    return closed


SWEEP_AFTER = timedelta(days=1)  # far longer than any upload takes to arrive and be handled
STORED_NAME = re.compile(r"^\d{4}/\d{2}/[0-9a-f]{32}\.[a-z0-9]{1,10}$")


async def sweep_files(ctx: JobContext) -> int:
    """Delete received files that no report and no draft holds a day after they arrived: drafts
    that were cancelled or abandoned, uploads cut short by a crash. Charts are not touched."""
    root = ctx.settings.attachments_dir
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
    async with ctx.sessions() as session:
        gone = await unheld(session, candidates)
    for name in gone:
        await asyncio.to_thread((root / name).unlink, True)
    return len(gone)


async def index_reports(ctx: JobContext, batches: int = 4) -> int:
    """Index for similar reports the reports written before the index existed (newest first:
    they are the ones hints and topics look at), a batch per transaction."""
    done = 0
    for _ in range(batches):
        async with ctx.sessions() as session, session.begin():
            count = await index_missing(session)
        done += count
        if count == 0:
            break
    return done


JOBS: dict[str, Callable[[JobContext], Awaitable[int]]] = {
    "sweep_files": sweep_files,
    "index_reports": index_reports,
    "nudges": run_nudges,
    "polls": run_polls,
    "close_unconfirmed": close_unconfirmed,
    "daily_digest": digest.daily_digest,
    "weekly_digest": digest.weekly_digest,
    "monthly_digest": digest.monthly_digest,
}
