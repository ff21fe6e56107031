"""Set-up shared by the poll and situation-report tests: people, polls and a frozen clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlmodel import select

from bot.app import Core
from handlers.polldefs import parse_poll
from handlers.ports import PersonView, Registration
from storage import admin
from storage.models import OutboxMessage
from storage.polls import import_poll
from storage.store import SqlStore

POLLS = Path(__file__).resolve().parent.parent / "handlers" / "data" / "polls"


async def person(
    core: Core,
    user_id: str,
    role: str,
    unit: str,
    name: str = "",
    locale: str = "vi",
    channel: str = "web",
) -> PersonView:
    async with core.sessions() as session, session.begin():
        return await SqlStore(session).register(
            Registration(channel, user_id, "", name or f"Người {user_id}", unit, role, locale, None)
        )


def definition(name: str, **changes: Any) -> dict[str, Any]:
    raw = yaml.safe_load((POLLS / f"{name}.yaml").read_text(encoding="utf-8"))
    raw.update(changes)
    return raw


async def load_poll(core: Core, name: str, **changes: Any) -> None:
    defn = parse_poll(definition(name, **changes), name)
    async with core.sessions() as session, session.begin():
        await import_poll(session, defn)


async def bind(core: Core, role: str, chat_id: str) -> None:
    async with core.sessions() as session, session.begin():
        await admin.bind_chat(session, role, "telegram", chat_id)


async def outbox(core: Core, chat_id: str | None = None) -> list[OutboxMessage]:
    async with core.sessions() as session:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)  # type: ignore[arg-type]
        rows = list((await session.execute(stmt)).scalars())
    return [r for r in rows if chat_id is None or r.chat_id == chat_id]
