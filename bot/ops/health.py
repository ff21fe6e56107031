"""GET /readyz: may a load balancer send this instance traffic? (GET /healthz, in bot/web.py,
only says the process is alive; a failing /readyz must not get an instance restarted.)

Ready when the database answers, its schema is not behind this code, and, on the instance that
leads the timed jobs, the scheduler runs. A schema *ahead* of the code is ready: during a
rolling upgrade the new version migrates first and the old instances keep serving until they
are replaced (migrations only add, so the old code still works).

Who leads is asked through a callable, so the election (several instances) plugs in without
this module knowing how it works; a single instance is its own leader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from storage.db import Database
from storage.light import schema_heads, schema_revisions
from storage.migrate import current_revisions

PROBE_SECONDS = 5.0


def always() -> bool:
    return True


@dataclass
class Readiness:
    db: Database
    is_leader: Callable[[], bool] = always
    scheduler_running: Callable[[], bool] = always
    # Read from the migration files without alembic, which costs a `run` 0.3 s at start.
    heads: tuple[str, ...] = field(default_factory=schema_heads)
    known: frozenset[str] = field(default_factory=schema_revisions)

    def schema(self, current: tuple[str, ...]) -> str:
        """ok (at the head), ahead (migrated by a newer version) or behind."""
        if current == self.heads:
            return "ok"
        if current and not set(current) <= self.known:
            return "ahead"
        return "behind"

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """Whether the instance is ready, and each check's result (no secrets, no hosts)."""
        checks: dict[str, Any] = {}
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                current = await current_revisions(self.db)
        except Exception as exc:
            checks["database"] = f"unreachable ({type(exc).__name__})"
        else:
            checks["database"] = "ok"
            checks["migrations"] = self.schema(current)
        leader = self.is_leader()
        checks["leader"] = leader
        if leader:
            checks["scheduler"] = "ok" if self.scheduler_running() else "not running"
        ready = (
            checks.get("migrations") in ("ok", "ahead") and checks.get("scheduler", "ok") == "ok"
        )
        return ready, checks

    async def schema_problem(self) -> str | None:
        """Why `run` must not start on this database without migrating, or None."""
        current = await current_revisions(self.db)
        if self.schema(current) != "behind":
            return None
        return (
            f"the database schema is at {','.join(current) or 'nothing (an empty database)'}, "
            f"this version needs {','.join(self.heads)}, and AUTO_MIGRATE is false: run "
            "`grassroots db upgrade` first (once, from any one instance)"
        )


def readiness_route(readiness: Readiness) -> web.AbstractRouteDef:
    async def handler(_request: web.Request) -> web.Response:
        ready, checks = await readiness.check()
        return web.json_response({"ok": ready, "checks": checks}, status=200 if ready else 503)

    return web.get("/readyz", handler)
