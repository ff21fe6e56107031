"""Runs of periodic jobs (a day's digest, a month's summary), one row per job and period, so
each is sent exactly once even when the process was down at its time or runs twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, not_, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import JobRun


class RunAlreadyRecorded(Exception):
    """Another run recorded this job and period first."""


def _of_period(period: str) -> Any:
    """This period's runs: the first, and any forced repeats (`2026-12-03/2`)."""
    return or_(
        col(JobRun.period) == period, col(JobRun.period).startswith(f"{period}/", autoescape=True)
    )


async def runs_in_period(session: AsyncSession, job: str, period: str) -> int:
    stmt = select(func.count()).select_from(JobRun).where(JobRun.job == job, _of_period(period))
    return int((await session.execute(stmt)).scalar_one())


async def first_run_at(session: AsyncSession, job: str, period: str) -> datetime | None:
    stmt = (
        select(JobRun.created_at)
        .where(JobRun.job == job, _of_period(period))
        .order_by(col(JobRun.id))
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def previous_period_end(session: AsyncSession, job: str, period: str) -> datetime | None:
    """Where the last run of an earlier period ended: the next period starts there."""
    stmt = (
        select(JobRun.period_end)
        .where(JobRun.job == job, not_(_of_period(period)))
        .order_by(col(JobRun.id).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def record_run(session: AsyncSession, job: str, period: str, period_end: datetime) -> None:
    """The run's unique (job, period) row; a concurrent second run fails here, with
    RunAlreadyRecorded, and its transaction rolls back."""
    session.add(JobRun(job=job, period=period, period_end=period_end))
    try:
        await session.flush()
    except IntegrityError as exc:
        raise RunAlreadyRecorded(f"{job} {period}") from exc
