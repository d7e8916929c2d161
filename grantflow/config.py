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

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from grantflow.states.text import Text


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
    web_threads: int = Field(
        default=8,
        ge=1,
        description="requests one web process works on at once (the rest wait their turn); more only "
        "take turns on the one core a process uses, and hold database locks longer",
    )
    web_workers: int = Field(
        default=1,
        ge=1,
        description="web app processes (uvicorn workers), for a machine with cores to spare: sessions, "
        "sign-in limits and the audit chain are in the database, so every process shares them",
    )
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
    # security (see docs/security.md)
    env: str = Field(
        default="development",
        description="development or production; production refuses to start without explicit secrets",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="keys the CSRF tokens; default outside production: a key file in home"
    )
    cookie_secure: bool | None = Field(
        default=None, description="Secure session cookie: true, false, or unset (auto: when the request is HTTPS)"
    )
    trusted_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="other origins allowed to post (scheme://host[:port]), comma-separated; the page's own is implied",
    )
    session_max_age_s: int = Field(default=12 * 3600, description="a sign-in lasts at most this long")
    session_idle_s: int = Field(default=30 * 60, description="a sign-in ends after this long without a request")
    signin_account_limit: int = Field(default=5, description="failed sign-ins per account per window before a pause")
    signin_address_limit: int = Field(default=20, description="failed sign-ins per address per window before a pause")
    signin_window_s: int = Field(default=15 * 60, description="the sign-in throttling window")
    needs_address_limit: int = Field(default=10, description="questionnaire answers per address per window")
    needs_window_s: int = Field(default=3600, description="the questionnaire rate window")
    # the audit chain (docs/audit.md): a key and an anchor log, both outside the database
    audit_key_file: Path | None = Field(
        default=None, description="key of the audit chain's keyed hashes (HMAC); default HOME/keys/audit.key"
    )
    audit_anchor_file: Path | None = Field(
        default=None,
        description="append-only log of anchored audit chain heads; default HOME/anchors/audit-anchors.jsonl",
    )
    # notifications (SMTP) — no host means e-mail is off and messages stay in the in-app inbox
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: in-app inbox only")
    smtp_port: int = Field(default=25, description="SMTP port (587 with STARTTLS, 465 with TLS)")
    smtp_starttls: bool = Field(default=False, description="upgrade the connection with STARTTLS")
    smtp_tls: bool = Field(default=False, description="implicit TLS from the first byte (SMTPS)")
    smtp_user: str | None = Field(default=None, description="SMTP login, if the server needs one")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
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
    # public disclosures (see docs/publication.md); schedules publish the last completed period
    schedule_publish_establishment: str = Field(default="0 9 1 * *", description="establishment results (monthly)")
    schedule_publish_adjustments: str = Field(default="10 9 1 * *", description="dynamic adjustments (monthly)")
    schedule_publish_progress: str = Field(default="0 9 1 1,4,7,10 *", description="progress (quarterly)")
    schedule_publish_evaluations: str = Field(default="20 9 1 1,4,7,10 *", description="evaluation results (quarterly)")
    schedule_publish_reports: str = Field(default="0 6 * * *", description="S&T reports: check, publish, release")
    schedule_publish_submit: str = Field(default="*/30 * * * *", description="deliveries to the S&T reporting system")
    publish_pdf_variant: str = Field(default="pdf/a-2u", description="archival PDF variant; empty for plain PDF")
    publish_workers: int = Field(default=2, description="processes laying out long documents and report batches")
    publish_lease_s: int = Field(
        default=900, description="a claimed publication older than this is taken over by the next run"
    )
    publish_since: str = Field(default="", description="first period the office owes (e.g. 2026-01); default: launch")
    publish_base_url: str = Field(default="", description="public URL of the publication directory, for the feed")
    strs_endpoint: str | None = Field(default=None, description="S&T reporting system endpoint; unset: no submission")
    strs_token: str | None = Field(default=None, description="bearer token for the S&T reporting system")
    strs_timeout_s: float = Field(default=30.0, description="timeout of one submission request")
    strs_max_attempts: int = Field(default=8, description="submission attempts before a delivery is marked failed")

    @field_validator("trusted_origins", mode="before")
    @classmethod
    def _origins_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip().rstrip("/") for part in text.split(",") if part.strip()]
        return value

    @property
    def production(self) -> bool:
        return self.env.strip().lower() in ("production", "prod")

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

    @property
    def audit_key_path(self) -> Path:
        return (self.audit_key_file or self.home_dir / "keys" / "audit.key").expanduser()

    @property
    def audit_anchor_path(self) -> Path:
        return (self.audit_anchor_file or self.home_dir / "anchors" / "audit-anchors.jsonl").expanduser()

    def ensure_dirs(self) -> None:
        for d in (self.home_dir, self.files_dir, self.publications_dir):
            d.mkdir(parents=True, exist_ok=True)


WEAK_SECRETS = frozenset(
    {
        "",
        "change-me",
        "changeme",
        "secret",
        "grantflow",
        "dev",
        "development",
        "test",
        "replace-with-a-long-random-value",
    }
)
"""Values that are known to everyone (defaults, examples in the docs): never a production secret."""
MIN_SECRET_LENGTH = 32


class ConfigurationError(Exception):
    """The configuration cannot be used as it is; ``message`` says what to set, in both languages."""

    def __init__(self, message: Text) -> None:
        super().__init__(f"{message.zh}\n{message.en}")
        self.message = message


def production_problems(settings: Settings) -> list[Text]:
    """What stops this configuration from running in production, one line each."""
    if not settings.production:
        return []
    problems: list[Text] = []
    key = settings.secret_key.get_secret_value().strip() if settings.secret_key else ""
    if not key:
        problems.append(
            Text(
                "未设置 GRANTFLOW_SECRET_KEY（生产模式不使用自动生成的密钥文件）",
                "GRANTFLOW_SECRET_KEY is not set (production does not use a generated key file)",
            )
        )
    elif key.lower() in WEAK_SECRETS or len(key) < MIN_SECRET_LENGTH:
        problems.append(
            Text(
                f"GRANTFLOW_SECRET_KEY 是默认值或过短（至少 {MIN_SECRET_LENGTH} 个随机字符）",
                f"GRANTFLOW_SECRET_KEY is a default or too short (at least {MIN_SECRET_LENGTH} random characters)",
            )
        )
    if settings.smtp_host and settings.smtp_user:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
        if not password or password.lower() in WEAK_SECRETS:
            problems.append(
                Text(
                    "设置了 GRANTFLOW_SMTP_USER 但 GRANTFLOW_SMTP_PASSWORD 缺失或为默认值",
                    "GRANTFLOW_SMTP_USER is set but GRANTFLOW_SMTP_PASSWORD is missing or a default",
                )
            )
        if not (settings.smtp_tls or settings.smtp_starttls):
            problems.append(
                Text(
                    "SMTP 登录必须使用 TLS（GRANTFLOW_SMTP_TLS 或 GRANTFLOW_SMTP_STARTTLS）",
                    "an SMTP login needs TLS (GRANTFLOW_SMTP_TLS or GRANTFLOW_SMTP_STARTTLS)",
                )
            )
    if settings.cookie_secure is False:
        problems.append(
            Text(
                "生产模式下 GRANTFLOW_COOKIE_SECURE 不能为 false",
                "GRANTFLOW_COOKIE_SECURE cannot be false in production",
            )
        )
    return problems


def check_production(settings: Settings) -> None:
    """Raise ``ConfigurationError`` listing every problem, when production mode is not ready."""
    problems = production_problems(settings)
    if problems:
        raise ConfigurationError(
            Text(
                "生产模式（GRANTFLOW_ENV=production）拒绝启动：\n  - " + "\n  - ".join(p.zh for p in problems),
                "production mode (GRANTFLOW_ENV=production) refuses to start:\n  - "
                + "\n  - ".join(p.en for p in problems),
            )
        )


def unreadable(exc: Exception) -> ConfigurationError:
    """A configuration that cannot be read, said in both languages: the setting and what is wrong
    with it, never the value (it may be a password)."""
    if isinstance(exc, ValidationError):
        shown = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    else:  # a TOML syntax error names the line and column, not a value
        shown = " / ".join(str(exc).strip().splitlines()[:4])
    return ConfigurationError(
        Text(
            f"配置无法读取：{shown}（检查 GRANTFLOW_* 环境变量和 grantflow.toml，即 GRANTFLOW_CONFIG）",
            f"the configuration cannot be read: {shown} "
            "(check the GRANTFLOW_* environment variables and grantflow.toml, GRANTFLOW_CONFIG)",
        )
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except (ValidationError, ValueError) as exc:  # tomllib's TOMLDecodeError is a ValueError
        raise unreadable(exc) from exc


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
