"""Configuration: environment variables (``GRANTFLOW_*``) over an optional ``grantflow.toml``.

The TOML file is looked up at ``GRANTFLOW_CONFIG`` if set, else ``./grantflow.toml``, else
``$GRANTFLOW_HOME/grantflow.toml``. Keys in the file are the variable names without the
prefix, in lower case (``database_url = "postgresql+psycopg://..."``).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _config_file() -> Path | None:
    explicit = os.environ.get("GRANTFLOW_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("grantflow.toml")
    if local.is_file():
        return local
    home = Path(os.environ.get("GRANTFLOW_HOME", "~/.grantflow")).expanduser() / "grantflow.toml"
    return home if home.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRANTFLOW_", extra="ignore")

    home: Path = Field(default=Path("~/.grantflow"), description="data directory")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in home")
    workflows_dir: Path | None = Field(default=None, description="extra workflow variants (*.toml)")
    timezone: str = Field(default="Asia/Shanghai", description="time zone for schedules and dates shown")
    language: str = Field(default="zh", description="default language: zh or en")
    sqlite_busy_timeout_ms: int = 10_000
    # form attachments (checked by content; see forms/files.py)
    attachment_max_bytes: int = Field(default=20 * 1024 * 1024, description="largest attachment accepted, in bytes")
    attachment_types: Annotated[list[str], NoDecode] = Field(
        default=["pdf", "docx", "doc", "xlsx", "xls", "pptx", "png", "jpg", "txt", "csv"],
        description="attachment kinds accepted, by content: comma-separated (pdf,docx,png) or a JSON list",
    )
    # review and tender
    complaint_days: int = Field(default=15, description="days after a review outcome in which an applicant may appeal")
    email_domain_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="alias e-mail domain → an organisation's canonical domain, for conflict-of-interest checks",
    )
    bid_master_key_file: Path | None = Field(
        default=None, description="master key wrapping each tender's data key; default HOME/keys/bid-master.key"
    )
    secret_key: str | None = Field(default=None, description="signs session cookies; default: a key file in home")
    # notifications (SMTP) — no host means e-mail is off and messages stay in the in-app inbox
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: in-app inbox only")
    smtp_port: int = Field(default=25, description="SMTP port (587 with STARTTLS, 465 with TLS)")
    smtp_starttls: bool = Field(default=False, description="upgrade the connection with STARTTLS")
    smtp_tls: bool = Field(default=False, description="implicit TLS from the first byte (SMTPS)")
    smtp_user: str | None = Field(default=None, description="SMTP login, if the server needs one")
    smtp_password: str | None = Field(default=None, description="SMTP password")
    smtp_sender: str = Field(default="grantflow <noreply@localhost>", description="From: address")
    smtp_timeout_s: float = Field(default=30.0, description="SMTP socket timeout")
    notify_max_attempts: int = Field(default=8, description="e-mail attempts before a delivery is marked failed")
    notify_lease_s: int = Field(
        default=600, description="a claimed e-mail older than this is treated as possibly sent (never resent)"
    )
    # dynamic adjustment: a budget change moving more than this share of the total is major
    adjustment_major_budget_share: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="budget changes above this share of the total need the leadership group (0.10 = 10%)",
    )
    # deadlines
    reminder_offsets_days: list[int] = Field(default=[14, 7, 3, 1], description="reminders before a due date")
    escalation_days: list[int] = Field(
        default=[1, 7], description="days after a missed date to tell the organising unit, then the office"
    )
    review_days: int = Field(default=14, description="days a reviewer or evaluator has for an assignment")
    # schedules (cron in `timezone`, or "every N seconds" for an interval)
    schedule_deadlines: str = Field(default="*/15 * * * *", description="deadline sweep")
    schedule_reminders: str = Field(default="0 8 * * *", description="reminders and escalation")
    schedule_dispatch: str = Field(default="* * * * *", description="outbox delivery (e-mail, in-app)")
    schedule_digest: str = Field(default="0 18 * * *", description="daily digest e-mails")
    schedule_housekeeping: str = Field(default="30 2 * * *", description="close due items whose work was done")
    prefect_port: int = Field(default=4200, description="port of the embedded Prefect server (busy: a free one)")

    @field_validator("attachment_types", mode="before")
    @classmethod
    def _types_list(cls, value: object) -> object:
        # environment variables are text: accept "pdf, docx" as well as a JSON list
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip().lower().lstrip(".") for part in text.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home_dir / 'grantflow.db'}"

    @property
    def files_dir(self) -> Path:
        return self.home_dir / "files"

    @property
    def publications_dir(self) -> Path:
        return self.home_dir / "publications"

    @property
    def bid_master_key_path(self) -> Path:
        return (self.bid_master_key_file or self.home_dir / "keys" / "bid-master.key").expanduser()

    def ensure_dirs(self) -> None:
        for d in (self.home_dir, self.files_dir, self.publications_dir):
            d.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
