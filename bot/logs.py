"""Logging set-up. Some libraries log SQL parameters or request URLs at DEBUG or INFO: those would
carry reporters' names (a privacy leak) or the bot token, so they are held at WARNING."""

from __future__ import annotations

import logging

QUIET = ("aiosqlite", "sqlalchemy.engine", "asyncpg", "httpx", "httpcore", "alembic", "apscheduler")


def configure_logging(level: str) -> None:
    level = level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
