"""APScheduler 3 (AsyncIOScheduler) driven by handlers/data/schedules.yaml."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from scheduler.context import JobContext
from scheduler.jobs import JOBS
from scheduler.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger(__name__)


class ScheduleError(Exception):
    """The schedule file is invalid; start-up stops rather than silently skip a job."""


def load_schedules(path: Path, tz: ZoneInfo) -> dict[str, CronTrigger]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ScheduleError(f"{path}: cannot read schedules ({exc})") from None
    jobs = raw.get("jobs") if isinstance(raw, dict) else None
    if not isinstance(jobs, dict):
        raise ScheduleError(f"{path}: expected a `jobs:` mapping of job name to cron expression")
    triggers = {}
    for name, cron in jobs.items():
        if name not in JOBS:
            raise ScheduleError(f"{path}: unknown job {name!r}; known jobs: {', '.join(JOBS)}")
        try:
            triggers[name] = CronTrigger.from_crontab(str(cron), timezone=tz)
        except ValueError as exc:
            raise ScheduleError(f"{path}: job {name!r}: invalid cron {cron!r} ({exc})") from None
    return triggers


Running = set[asyncio.Task[object]]


async def _run(
    ctx: JobContext, name: str, telemetry: Telemetry = NO_TELEMETRY, running: Running | None = None
) -> None:
    """Run one job; while it runs its task is in `running`, so a leader that steps down can
    cancel it (its transaction rolls back, and the next leader's run does the work once)."""
    started = time.perf_counter()
    task = asyncio.current_task()
    if running is not None and task is not None:
        running.add(task)
    try:
        count = await JOBS[name](ctx)
        # The polls job runs every minute; an idle run is not worth a line in the log.
        log.log(logging.INFO if count else logging.DEBUG, "job %s done: %s", name, count)
    except Exception:
        log.exception("job %s failed", name)
        telemetry.job_ran(name, False, time.perf_counter() - started)
    else:
        telemetry.job_ran(name, True, time.perf_counter() - started)
    finally:
        if running is not None and task is not None:
            running.discard(task)


def build_scheduler(
    ctx: JobContext,
    path: Path | None = None,
    telemetry: Telemetry = NO_TELEMETRY,
    running: Running | None = None,
) -> AsyncIOScheduler:
    tz = ctx.settings.tz
    path = path or ctx.settings.data_file("schedules.yaml")
    scheduler = AsyncIOScheduler(timezone=tz)
    for name, trigger in load_schedules(path, tz).items():
        scheduler.add_job(
            _run,
            trigger,
            args=[ctx, name, telemetry, running],
            id=name,
            name=name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
    return scheduler


async def catch_up(
    ctx: JobContext, scheduler: AsyncIOScheduler, running: Running | None = None
) -> None:
    """What fell due while nobody ran the jobs, made up now that this instance does.

    The polls job works from state, so it runs at once: a new leader opens, reminds and closes
    what fell due during the handover now rather than at the next minute. A digest missed while
    the process was down is still relevant today: it is sent once (the job itself records each
    day's run, so this can never send it twice)."""
    if scheduler.get_job("polls") is not None:
        await _run(ctx, "polls", running=running)
    job = scheduler.get_job("daily_digest")
    if job is None:
        return
    now = datetime.now(ctx.settings.tz)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = job.trigger.get_next_fire_time(None, midnight)
    if first is not None and first <= now:
        await _run(ctx, "daily_digest", running=running)


def describe(scheduler: AsyncIOScheduler) -> list[dict[str, Any]]:
    return [
        {"name": job.id, "trigger": str(job.trigger), "next_run": job.next_run_time}
        for job in scheduler.get_jobs()
    ]
