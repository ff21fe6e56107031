"""Editing handling deadlines (hours per category and urgency) from the web admin.

Deadlines live in categories.yaml. An edit writes the organisation's copy in ORG_DIR (the
built-in file is never touched), checks that the bot would load it, and only then swaps it in
and updates the running catalog, so new cases get the new deadline at once and a restart keeps
it. Cases already open keep the due time they were given. Without ORG_DIR there is nowhere to
write, and the page says so."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from bot.admin.audited import change
from bot.admin.auth import redirect
from bot.admin.context import admin_of
from bot.admin.keys import TRANSLATOR
from bot.admin.permissions import Permission, Viewer, requires
from bot.admin.rules import rules_page, urgencies
from handlers.forms import Catalog, FormError, load_catalog

MAX_HOURS = 24 * 366
HEADER = "# Categories and deadlines. Deadlines last changed in the web admin.\n"


def _wanted(form: Any, catalog: Catalog) -> tuple[dict[str, dict[str, int]], list[str]]:
    """{category code: {urgency: hours}} from the form, or the fields that are wrong."""
    wanted: dict[str, dict[str, int]] = {}
    bad: list[str] = []
    for c in catalog.categories:
        for u in urgencies(catalog):
            raw = str(form.get(f"due:{c.code}:{u}", "")).strip()
            if not raw.isdecimal() or not 1 <= int(raw) <= MAX_HOURS:
                bad.append(f"{c.code} · {u}")
                continue
            wanted.setdefault(c.code, {})[u] = int(raw)
    return wanted, bad


def _write(org_dir: Path, source: Path, defaults: dict[str, int], wanted: Any) -> Catalog:
    """The new categories.yaml in ORG_DIR, checked by loading it; the old one comes back if the
    check fails."""
    raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    raw["deadlines"] = defaults
    for cat in raw.get("categories", []):
        own = {u: h for u, h in wanted[cat["code"]].items() if defaults.get(u) != h}
        if own:
            cat["due_hours"] = own
        else:
            cat.pop("due_hours", None)
    text = HEADER + yaml.safe_dump(raw, allow_unicode=True, sort_keys=False, width=100)
    target = org_dir / "categories.yaml"
    previous = target.read_bytes() if target.exists() else None
    fd, tmp = tempfile.mkstemp(dir=org_dir, suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, target)
    try:
        return load_catalog(org_dir)
    except FormError:
        if previous is None:
            target.unlink()
        else:
            target.write_bytes(previous)
        raise


@requires(Permission.ADMINISTER)
async def save(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    admin = admin_of(request)
    t = request[TRANSLATOR]
    settings = admin.context.settings
    catalog = admin.context.catalog
    if settings.org_dir is None:
        error = t("Set ORG_DIR to the organisation's folder to change deadlines here.")
        return await rules_page(request, viewer, error, 400)
    wanted, bad = _wanted(await request.post(), catalog)
    if bad:
        error = t(
            "Deadlines must be whole hours from 1 to {max}. Check: {fields}",
            max=MAX_HOURS,
            fields=", ".join(bad),
        )
        return await rules_page(request, viewer, error, 400)
    # The most common value per urgency becomes the default; the rest are category overrides.
    defaults = {}
    for u in urgencies(catalog):
        values = [w[u] for w in wanted.values()]
        defaults[u] = max(set(values), key=values.count)
    before = {
        f"{c.code}.{u}": catalog.due_hours(c.code, u)
        for c in catalog.categories
        for u in urgencies(catalog)
    }
    changed = {k: [v, wanted[k.split(".")[0]][k.split(".")[1]]] for k, v in before.items()}
    changed = {k: v for k, v in changed.items() if v[0] != v[1]}
    if not changed:
        return redirect("/admin/rules?saved=1")
    async with change(request, viewer) as done:
        try:
            fresh = await asyncio.to_thread(
                _write,
                settings.org_dir,
                settings.data_file("categories.yaml"),
                defaults,
                wanted,
            )
        except (OSError, FormError) as exc:
            error = t("The deadlines could not be saved: {problem}", problem=str(exc))
            return await rules_page(request, viewer, error, 500)
        await done.log("deadlines.update", "categories.yaml", **changed)
    # The running bot uses the new deadlines for cases opened from now on.
    catalog.deadlines = fresh.deadlines
    for cat in catalog.categories:
        new = fresh.category(cat.code)
        cat.due_hours = new.due_hours if new else {}
    return redirect("/admin/rules?saved=1")


def routes() -> list[web.AbstractRouteDef]:
    return [web.post("/rules/deadlines", save)]
