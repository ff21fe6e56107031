"""One typed settings object, loaded from the environment or `.env`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.light_settings import (
    DEFAULT_DATA_DIR,
    DEFAULT_DATABASE_URL,
    DEFAULT_TIMEZONE,
    async_driver_url,
    known_timezone,
)

BUILTIN_DATA = Path(__file__).resolve().parent.parent / "handlers" / "data"


class ChannelMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class ConfigError(Exception):
    """A setting is invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL: connections each instance keeps (and as many more at a burst); N instances use
    # up to N x 2 x this + 1, which must fit the server's max_connections (docs/deployment.md).
    database_pool_size: int = Field(default=10, ge=1, le=100)
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    attachments_dir: Path = Path("./var/attachments")
    org_dir: Path | None = None  # categories.yaml and forms; None = the built-in defaults
    # The key that seals hidden reporters' links (bot/keys.py). SEAL_KEY wins when set (a comma
    # list while rotating: new key first); else SEAL_KEY_FILE, by default DATA_DIR/keys/seal.key,
    # created on first start.
    seal_key: str = ""
    seal_key_file: Path | None = None

    telegram_bot_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: ChannelMode = ChannelMode.POLLING
    telegram_webhook_secret: str = ""
    telegram_concurrency: int = Field(default=16, ge=1, le=256)
    # Flood limits for proactive messages (Telegram's published limits by default).
    telegram_rate_per_second: float = Field(default=30, gt=0)
    telegram_rate_per_chat_per_second: float = Field(default=1, gt=0)
    telegram_rate_per_group_per_minute: float = Field(default=20, gt=0)

    zalo_bot_token: str = ""
    zalo_api_url: str = "https://bot-api.zaloplatforms.com"
    zalo_mode: ChannelMode = ChannelMode.POLLING
    zalo_webhook_secret: str = ""
    zalo_oa_app_id: str = ""
    zalo_oa_app_secret: str = ""  # the app's secret, for refreshing tokens
    zalo_oa_secret_key: str = ""  # the OA secret key, for checking webhook signatures
    zalo_oa_api_url: str = "https://openapi.zalo.me"
    zalo_oa_oauth_url: str = "https://oauth.zaloapp.com"
    zalo_oa_access_token: str = ""
    zalo_oa_refresh_token: str = ""

    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    web_chat: bool | None = None  # None = on when no messenger token is set
    public_url: str = ""
    feedback_page: bool = True  # the public feedback form at /feedback
    # Behind a reverse proxy every request comes from the proxy: take the address it appends to
    # X-Forwarded-For instead, so one flooding sender never blocks the others.
    web_trust_proxy: bool = False

    # The monthly report's letterhead (reports/monthly.py); empty = a placeholder to fill in.
    committee_parent: str = ""
    committee_name: str = ""
    committee_short: str = ""
    committee_place: str = ""

    timezone: str = DEFAULT_TIMEZONE
    default_locale: str = "vi"
    max_text_length: int = Field(default=4000, ge=100)
    case_autoclose_days: int = Field(default=7, ge=1, le=365)
    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.TEXT  # json: one object per line, for log collectors
    # Off when an operator runs `grassroots db upgrade` once before starting the instances
    # (rolling upgrades): `run` then refuses to start on a database that is behind.
    auto_migrate: bool = True
    # GET /metrics (Prometheus). With METRICS_TOKEN it asks for `Authorization: Bearer TOKEN`;
    # without, it answers only requests made on this machine and not through a proxy.
    metrics_enabled: bool = True
    metrics_token: str = ""
    # Smallest group of anonymous data a breakdown publishes (reports/suppression.py).
    min_group_size: int = Field(default=3, ge=2, le=100)

    @field_validator("web_chat", "org_dir", "seal_key_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`WEB_CHAT=` in .env means "not set", as .env.example shows it."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value)

    @field_validator("default_locale")
    @classmethod
    def _supported_locale(cls, value: str) -> str:
        if value not in ("vi", "en"):
            raise ValueError("must be 'vi' or 'en'")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return async_driver_url(value)

    @field_validator(
        "telegram_api_url", "zalo_api_url", "zalo_oa_api_url", "zalo_oa_oauth_url", "public_url"
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _webhooks_need_their_settings(self) -> Settings:
        """A webhook mode without a public address or a secret cannot work: say so at start-up."""
        for name, enabled, mode, secret in (
            ("TELEGRAM", self.telegram_enabled, self.telegram_mode, self.telegram_webhook_secret),
            ("ZALO", self.zalo_enabled, self.zalo_mode, self.zalo_webhook_secret),
        ):
            if enabled and mode == ChannelMode.WEBHOOK:
                if not self.public_url:
                    raise ValueError(f"{name}_MODE=webhook needs PUBLIC_URL")
                if not 8 <= len(secret) <= 256:
                    raise ValueError(
                        f"{name}_MODE=webhook needs {name}_WEBHOOK_SECRET of 8-256 characters"
                    )
        return self

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token.strip())

    @property
    def zalo_enabled(self) -> bool:
        return bool(self.zalo_bot_token.strip())

    @property
    def zalo_oa_enabled(self) -> bool:
        return bool(self.zalo_oa_app_id.strip() and self.zalo_oa_app_secret.strip())

    @property
    def web_chat_enabled(self) -> bool:
        if self.web_chat is not None:
            return self.web_chat
        return not (self.telegram_enabled or self.zalo_enabled)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def seal_key_path(self) -> Path:
        return self.seal_key_file or self.data_dir / "keys" / "seal.key"

    def data_file(self, name: str) -> Path:
        """An organisation's own data file from ORG_DIR, else the built-in default."""
        if self.org_dir is not None and (self.org_dir / name).exists():
            return self.org_dir / name
        return BUILTIN_DATA / name


def load_settings(**overrides: object) -> Settings:
    """Load settings, turning a validation error into one line that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a rule across several settings names them itself
            raise ConfigError(f"invalid settings: {message}") from None
        raise ConfigError(f"invalid setting {str(first['loc'][0]).upper()}: {message}") from None
