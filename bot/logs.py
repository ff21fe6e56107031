"""Logging set-up. Some libraries log SQL parameters, request URLs or whole updates and API calls
at DEBUG or INFO (python-telegram-bot logs every update and every message it sends): those
would carry reporters' names and words (a privacy leak) or the bot token, so they are held at
WARNING."""

from __future__ import annotations

import logging

QUIET = (
    "aiosqlite",
    "sqlalchemy.engine",
    "asyncpg",
    "httpx",
    "httpcore",
    "alembic",
    "apscheduler",
    "telegram",
    "aiohttp",
)


def configure_logging(level: str) -> None:
    level = level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
