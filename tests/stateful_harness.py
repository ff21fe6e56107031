"""Shared pieces for the hypothesis tests: a migrated template database copied per example, a
transport that records what the delivery worker sends, and a log recorder.

Migrating and seeding take seconds; copying a ready SQLite file takes milliseconds, so each
example starts from the same demo organisation without paying for it again.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

from bot.app import Core, build_core, seed_demo
from handlers.ports import Registration
from storage import admin
from storage.store import SqlStore
from tests.conftest import make_settings
from tests.polls_helpers import load_poll

STAFF_ROOM = "staff-room"
STAFF_ID = "s900"
OUR_LOGGERS = ("bot", "handlers", "storage", "scheduler")


def build_template(directory: Path) -> Path:
    """A migrated database with the demo organisation, a poll, a staffer and a bound staff chat."""
    path = directory / "template.db"

    async def build() -> None:
        core = await build_core(make_settings(directory, f"sqlite+aiosqlite:///{path}"))
        try:
            await seed_demo(core)
            await load_poll(core, "opinion-monthly")
            async with core.sessions() as session, session.begin():
                await admin.bind_chat(session, "staff", "telegram", STAFF_ROOM)
                await SqlStore(session).register(
                    Registration(
                        "telegram", STAFF_ID, "", "Cán bộ Ban", "U001", "staff", "en", None
                    )
                )
        finally:
            await core.close()

    asyncio.run(build())
    return path


async def core_from(template: Path, directory: Path) -> Core:
    db = directory / "case.db"
    shutil.copyfile(template, db)
    core = await build_core(make_settings(directory, f"sqlite+aiosqlite:///{db}"), migrate=False)
    core.dispatcher.flood.limit = 10**9  # a test drives faster than any person; not a flood
    assert core.delivery is not None
    core.delivery.limiters = {}  # the pacer's rates are tested elsewhere; deliver at once
    return core


class Transport:
    """Stands in for every messenger's API: keeps what would have been sent, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def sender(self, channel: str) -> Any:
        transport = self

        class _Sender:
            async def deliver(self, chat_id: str, payload: dict[str, Any]) -> str:
                transport.sent.append((channel, chat_id, payload))
                return str(len(transport.sent))

        return _Sender()


class LogRecorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> LogRecorder:
        self._levels = {name: logging.getLogger(name).level for name in OUR_LOGGERS}
        for name in OUR_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)  # the most an operator can turn on
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)


def payload_text(payload: dict[str, Any]) -> str:
    """Everything a person could read in one outbox payload: text, caption and button labels."""
    parts = [str(payload.get("text", "")), str(payload.get("caption", ""))]
    parts += [str(label) for _, label in payload.get("choices", []) or []]
    return "\n".join(p for p in parts if p)
