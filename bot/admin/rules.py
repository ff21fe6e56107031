"""Categories and deadlines, job schedules and the follow-up ladder, shown read-only.

They live in YAML files (ORG_DIR, else the built-in defaults) and are validated at start-up, so
the page says which file to edit rather than offering a second way to change them."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml
from aiohttp import web

from bot.admin.context import admin_of
from bot.admin.permissions import Permission, Viewer, requires
from handlers.forms import Catalog
from handlers.i18n import N_
from scheduler.nudges import load_rules

JOB_LABELS = {
    "daily_digest": N_("Daily digest for leaders"),
    "weekly_digest": N_("Weekly digest for leaders"),
    "monthly_digest": N_("Monthly digest for leaders"),
    "nudges": N_("Follow-up reminders and escalations"),
    "close_unconfirmed": N_("Close resolved cases nobody confirmed"),
}


def urgencies(catalog: Catalog) -> list[str]:
    """The urgencies deadlines are set for: those the catalog names, and always normal and hot."""
    return sorted(
        set(catalog.deadlines)
        | {u for c in catalog.categories for u in c.due_hours}
        | {"normal", "hot"}
    )


def _jobs(path: Any) -> dict[str, str]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    jobs = raw.get("jobs") if isinstance(raw, dict) else None
    return {str(k): str(v) for k, v in (jobs or {}).items()}


async def rules_page(
    request: web.Request, viewer: Viewer, error: str = "", status: int = 200
) -> web.Response:
    admin = admin_of(request)
    settings = admin.context.settings
    jobs = await asyncio.to_thread(_jobs, settings.data_file("schedules.yaml"))
    ladder = await asyncio.to_thread(load_rules, settings.data_file("nudges.yaml"))
    catalog = admin.context.catalog
    kinds = urgencies(catalog)
    deadlines = [
        (c, [(u, catalog.due_hours(c.code, u)) for u in kinds]) for c in catalog.categories
    ]
    return admin.pages.page(
        request,
        "rules.html",
        status,
        deadlines=deadlines,
        urgencies=kinds,
        jobs=jobs,
        job_labels=JOB_LABELS,
        ladder=ladder,
        org_dir_set=settings.org_dir is not None,
        may_edit=viewer.may(Permission.ADMINISTER) and settings.org_dir is not None,
        error=error,
        saved=request.query.get("saved") == "1",
    )


@requires(Permission.ORGANISATION)
async def rules(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await rules_page(request, viewer)


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/rules", rules)]
