"""Logging set-up. Some libraries log SQL parameters, request URLs or whole updates and API calls
at DEBUG or INFO (python-telegram-bot logs every update and every message it sends): those
would carry reporters' names and words (a privacy leak) or the bot token, so they are held at
WARNING.

LOG_FORMAT=json writes one JSON object per line for a log collector: time, level, logger,
message, and only the extra fields named in SAFE_FIELDS (counts, names of jobs and channels,
durations), never a record's arbitrary attributes, which could carry what a person wrote."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

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
    "matplotlib",  # font and unit notes while charts are drawn: not an operator's concern
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Extra fields (`log.info(..., extra={"job": name})`) a JSON line may carry: none of them holds
# what a person wrote or who they are.
SAFE_FIELDS = frozenset(
    {"channel", "job", "outcome", "duration_ms", "count", "instance", "revision", "status"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line. The message is formatted exactly as the text format's, so it
    says no more than the text logs do; a traceback goes in "exception"."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": os.getpid(),
        }
        for name in SAFE_FIELDS & record.__dict__.keys():
            value = record.__dict__[name]
            line[name] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text") -> None:
    level = level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO"
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger().setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
