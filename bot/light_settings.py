"""The settings a read-only command needs (the database, the time zone, the seal key, logging),
read as bot.config reads them (the environment first, then `.env`, names in any case) but
without pydantic, which takes a third of a second to import (#16). The rules both share live
here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/grassroots.db"
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_DATA_DIR = "./var"


def async_driver_url(value: str) -> str:
    """DATABASE_URL with the async driver our engines use; ValueError for other databases."""
    if value.startswith("postgresql://") or value.startswith("postgres://"):
        return "postgresql+asyncpg://" + value.split("://", 1)[1]
    if value.startswith("sqlite://") and not value.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + value.split("://", 1)[1]
    if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")):
        raise ValueError("must be sqlite+aiosqlite:///PATH or postgresql+asyncpg://…")
    return value


def known_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def read_seal_keys(seal_key: str, key_file: Path) -> list[str]:
    """SEAL_KEY's keys (a comma list) or else the key file's, newest first; [] for none yet."""
    if seal_key.strip():
        return [k.strip() for k in seal_key.split(",") if k.strip()]
    if not key_file.exists():
        return []
    lines = key_file.read_text(encoding="ascii").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class DatabaseSettings:
    database_url: str
    timezone: str
    seal_keys: list[str]
    log_level: str
    log_format: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def database_settings(env_file: Path = Path(".env")) -> DatabaseSettings | None:
    """The settings, or None when one is invalid: bot.config.load_settings then says which."""
    values = {k.lower(): v for k, v in dotenv_values(env_file).items() if v is not None}
    values.update({k.lower(): v for k, v in os.environ.items()})
    key_file = values.get("seal_key_file", "").strip()  # empty means unset, as in bot.config
    data_dir = Path(values.get("data_dir", DEFAULT_DATA_DIR))
    log_format = values.get("log_format", "text")
    if log_format not in ("text", "json"):  # bot.config.LogFormat
        return None
    try:
        return DatabaseSettings(
            async_driver_url(values.get("database_url", DEFAULT_DATABASE_URL)),
            known_timezone(values.get("timezone", DEFAULT_TIMEZONE)),
            read_seal_keys(
                values.get("seal_key", ""),
                Path(key_file) if key_file else data_dir / "keys" / "seal.key",
            ),
            values.get("log_level", "INFO"),
            log_format,
        )
    except (ValueError, OSError):
        return None
