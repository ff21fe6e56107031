"""Statements built once, for the few that run on every inbound event.

Building a SQLAlchemy statement (coercing each column and value, then its cache key) cost
0.4–0.6 ms of the event loop's CPU for a join like the person's, several times what running it
costs; and the ORM session's `execute` adds its own layer even for Core statements. So the hot
path builds its statements at import, with bound parameters, and runs them on the session's
connection (same transaction). See docs/performance.md, "Where a step's time goes".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

Insert = Callable[[Any], Any]  # the dialect's `insert`, with ON CONFLICT


def per_dialect(build: Callable[[Insert], Executable]) -> Mapping[str, Executable]:
    """An upsert built for each database we run on, by the dialect's name."""
    return {"postgresql": build(pg_insert), "sqlite": build(sqlite_insert)}


def dialect_of(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind else "sqlite"


async def run(
    session: AsyncSession, statement: Executable, params: Mapping[str, Any]
) -> CursorResult[Any]:
    """Run a prebuilt Core statement in the session's transaction, past the ORM layer."""
    connection = await session.connection()
    return await connection.execute(statement, dict(params))
