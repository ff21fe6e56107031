"""Receipts of web form submissions: one per form token, shared by every instance, so a double
tap on Send files one case whichever instance each tap reaches. The token itself is never
stored (only its digest), and the case's secret only sealed."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import FormReceipt, utcnow
from storage.seal import sealer_of


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def keep(session: AsyncSession, token: str, receipt: dict[str, Any]) -> bool:
    """Keep what this token filed; False when another submission with it was kept first (on
    PostgreSQL a concurrent one waits here for the first to commit, then yields)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(FormReceipt)
        .values(
            token_digest=token_digest(token),
            payload=_sealed(session, receipt),
            filed_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["token_digest"])
    )
    return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def recall(session: AsyncSession, token: str) -> dict[str, Any] | None:
    stmt = select(FormReceipt.payload).where(col(FormReceipt.token_digest) == token_digest(token))
    payload = (await session.execute(stmt)).scalar_one_or_none()
    if payload is None:
        return None
    sealer = sealer_of(session)
    token_sealed = payload.get("sealed")
    if sealer is None or not isinstance(token_sealed, str):
        return dict(payload)
    return dict(sealer.open(token_sealed))


def _sealed(session: AsyncSession, receipt: dict[str, Any]) -> dict[str, Any]:
    """Sealed; without a seal key (some tests) only what is not secret is kept."""
    sealer = sealer_of(session)
    if sealer is None:
        return {key: value for key, value in receipt.items() if key != "secret"}
    return {"sealed": sealer.seal(receipt)}


async def prune(session: AsyncSession, before: datetime) -> None:
    await session.execute(delete(FormReceipt).where(col(FormReceipt.filed_at) < before))
