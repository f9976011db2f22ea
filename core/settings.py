"""Waymark's settings, read from the environment and a `.env` file.

Names follow ../shared/DESIGN.md ("Configuration"); `.env.example` lists them all.
A wrong value stops start-up with one line that names the variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.keyring import Keyring
from core.platforms import facts


@dataclass(frozen=True)
class CampaignRules:
    """The slice of the settings the yearly alumni campaign's dates are worked out from."""

    start_month: int = 10
    start_day: int = 1
    window_days: int = 60
    years: int = 3  # years after leaving that get a check-in
    reminder_days: tuple[int, ...] = (7, 14)  # days after the check-in, ascending


KEY_HELP = "not a valid key: it must be the 44 characters `waymark init` wrote (check for a cut or extra character)"
MIN_CODE_SECRET = 32


def _is_fernet_key(value: str) -> bool:
    try:
        Fernet(value.encode())
    except (ValueError, TypeError):
        return False
    return True


class SettingsError(Exception):
    """A setting has a value Waymark cannot use; the message names the variable."""


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    database_url: str = Field("sqlite:///waymark.db", validation_alias=_env("WAYMARK_DATABASE_URL"))
    timezone: str = Field("Europe/London", validation_alias=_env("WAYMARK_TIMEZONE"))
    encryption_key: str | None = Field(None, validation_alias=_env("WAYMARK_ENCRYPTION_KEY"))
    # Old keys, comma-separated, that still decrypt while `waymark rotate-key` moves everything to the new one.
    previous_encryption_keys: str = Field("", validation_alias=_env("WAYMARK_PREVIOUS_ENCRYPTION_KEYS"))
    # Keys the hash of enrolment codes; independent of the encryption key, so rotating one never spends the other.
    code_secret: str | None = Field(None, validation_alias=_env("WAYMARK_CODE_SECRET"))
    school_name: str = Field("Waymark School", validation_alias=_env("WAYMARK_SCHOOL_NAME"))

    min_age_telegram: int = Field(16, ge=0, le=30, validation_alias=_env("WAYMARK_MIN_AGE_TELEGRAM"))
    min_age_slack: int = Field(16, ge=0, le=30, validation_alias=_env("WAYMARK_MIN_AGE_SLACK"))

    telegram_bot_token: str | None = Field(None, validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    telegram_bot_username: str | None = Field(None, validation_alias=_env("TELEGRAM_BOT_USERNAME"))
    telegram_api_base_url: str | None = Field(None, validation_alias=_env("TELEGRAM_API_BASE_URL"))
    telegram_webhook_url: str | None = Field(None, validation_alias=_env("TELEGRAM_WEBHOOK_URL"))
    telegram_webhook_secret: str | None = Field(None, validation_alias=_env("TELEGRAM_WEBHOOK_SECRET"))

    slack_bot_token: str | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: str | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_app_token: str | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_base_url: str | None = Field(None, validation_alias=_env("SLACK_API_BASE_URL"))

    http_host: str = Field("0.0.0.0", validation_alias=_env("WAYMARK_HTTP_HOST"))
    http_port: int = Field(8080, ge=0, le=65535, validation_alias=_env("WAYMARK_HTTP_PORT"))
    public_url: str = Field("http://localhost:8080", validation_alias=_env("WAYMARK_PUBLIC_URL"))

    smtp_url: str | None = Field(None, validation_alias=_env("WAYMARK_SMTP_URL"))
    mail_from: str | None = Field(None, validation_alias=_env("WAYMARK_MAIL_FROM"))

    # The yearly alumni campaign opens on the first working day on or after this date (school time zone).
    campaign_start_month: int = Field(10, ge=1, le=12, validation_alias=_env("WAYMARK_CAMPAIGN_START_MONTH"))
    campaign_start_day: int = Field(1, ge=1, le=28, validation_alias=_env("WAYMARK_CAMPAIGN_START_DAY"))
    campaign_window_days: int = Field(60, ge=1, le=365, validation_alias=_env("WAYMARK_CAMPAIGN_WINDOW_DAYS"))
    campaign_years: int = Field(3, ge=1, le=10, validation_alias=_env("WAYMARK_CAMPAIGN_YEARS"))
    # Days after the check-in when a reminder goes, comma-separated; at most two are used.
    campaign_reminder_days: str = Field("7,14", validation_alias=_env("WAYMARK_CAMPAIGN_REMINDER_DAYS"))
    # Nothing to pupils at night, at weekends or in holidays; false sends whenever a job runs.
    quiet_hours: bool = Field(True, validation_alias=_env("WAYMARK_QUIET_HOURS"))

    # The outbox sender: messages in flight per platform in each process (a crash can repeat at
    # most this many), and how long a claimed row is held before another process may take it.
    sender_lanes: int = Field(1, ge=1, le=64, validation_alias=_env("WAYMARK_SENDER_LANES"))
    sender_lease_seconds: int = Field(60, ge=5, le=3600, validation_alias=_env("WAYMARK_SENDER_LEASE_SECONDS"))

    # Bounds on the HTTP server (bot/connections.py): connections open at once and from one address
    # (loopback, i.e. a reverse proxy on this machine, is not limited per address), seconds for a
    # request's headers and for its body, chat pages (WebSockets) open per session and per address.
    http_max_connections: int = Field(800, ge=10, le=100_000, validation_alias=_env("WAYMARK_HTTP_MAX_CONNECTIONS"))
    http_max_per_address: int = Field(200, ge=1, le=100_000, validation_alias=_env("WAYMARK_HTTP_MAX_PER_ADDRESS"))
    http_header_timeout: float = Field(10.0, gt=0, le=300, validation_alias=_env("WAYMARK_HTTP_HEADER_TIMEOUT"))
    http_body_timeout: float = Field(30.0, gt=0, le=600, validation_alias=_env("WAYMARK_HTTP_BODY_TIMEOUT"))
    web_sockets_per_session: int = Field(5, ge=1, le=1000, validation_alias=_env("WAYMARK_WEB_SOCKETS_PER_SESSION"))
    web_sockets_per_address: int = Field(
        200, ge=1, le=100_000, validation_alias=_env("WAYMARK_WEB_SOCKETS_PER_ADDRESS")
    )
    web_chat_page_lines: int = Field(100, ge=10, le=1000, validation_alias=_env("WAYMARK_WEB_CHAT_PAGE_LINES"))
    # Sign-ins from an address with 30 wrong codes in 15 minutes take turns, one per this many seconds
    # for the address across every process; a turn further away than the second is not given (come back).
    signin_slow_down_seconds: float = Field(2.0, ge=0, le=60, validation_alias=_env("WAYMARK_SIGNIN_SLOW_DOWN_SECONDS"))
    signin_max_wait_seconds: float = Field(30.0, ge=0, le=300, validation_alias=_env("WAYMARK_SIGNIN_MAX_WAIT_SECONDS"))

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {value!r}") from exc
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError("use a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("encryption_key")
    @classmethod
    def _check_encryption_key(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not _is_fernet_key(value):
            raise ValueError(KEY_HELP)
        return value

    @field_validator("previous_encryption_keys")
    @classmethod
    def _check_previous_keys(cls, value: str) -> str:
        keys = [k.strip() for k in value.split(",") if k.strip()]
        if not all(_is_fernet_key(k) for k in keys):
            raise ValueError("each old key must be a key `waymark init` wrote (44 characters), separated by commas")
        return ",".join(keys)

    @field_validator("code_secret")
    @classmethod
    def _check_code_secret(cls, value: str | None) -> str | None:
        if not value:
            return None
        if len(value) < MIN_CODE_SECRET:
            raise ValueError(f"use at least {MIN_CODE_SECRET} random characters (`waymark init` writes one)")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}, e.g. Europe/London") from exc
        return value

    @field_validator("public_url", "telegram_api_base_url", "telegram_webhook_url", "slack_api_base_url", "smtp_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parsed = urlparse(value)
        if not parsed.scheme or not parsed.netloc:
            raise ValueError(f"not a URL: {value!r}")
        return value

    @field_validator("campaign_reminder_days")
    @classmethod
    def _check_reminder_days(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isdigit() and 0 < int(p) <= 120 for p in parts):
            raise ValueError(f"use whole numbers of days separated by commas, e.g. 7,14 (not {value!r})")
        if len(parts) > 2:
            raise ValueError("at most two reminders, e.g. 7,14")
        return ",".join(parts)

    @property
    def reminder_days(self) -> tuple[int, ...]:
        """Days after a check-in when reminders 1 and 2 go, ascending; empty means no reminders."""
        return tuple(sorted(int(p) for p in self.campaign_reminder_days.split(",") if p))

    @property
    def campaign(self) -> CampaignRules:
        return CampaignRules(
            start_month=self.campaign_start_month,
            start_day=self.campaign_start_day,
            window_days=self.campaign_window_days,
            years=self.campaign_years,
            reminder_days=self.reminder_days,
        )

    @property
    def keyring(self) -> Keyring:
        """What encrypts (the current key) and what still decrypts (the previous ones, during a rotation)."""
        return Keyring(self.encryption_key, tuple(k for k in self.previous_encryption_keys.split(",") if k))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def min_age(self, platform: str) -> int:
        """The minimum age for a platform (core.platforms); the school's own channels have none."""
        found = facts(platform)
        if found is None or found.min_age_setting is None:
            return 0
        return int(getattr(self, found.min_age_setting))


_ALIASES = {
    name: (field.validation_alias.choices[0] if isinstance(field.validation_alias, AliasChoices) else name)
    for name, field in Settings.model_fields.items()
}


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise SettingsError with one line naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        variable = _ALIASES.get(field, field.upper())
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{variable}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
