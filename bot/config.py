"""Configuration: TOML file -> validated pydantic models.

Errors are turned into one line that names the key, because the operator reading
them is not necessarily a Python developer and a traceback hides the actual problem.
"""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
PLATFORMS = ("telegram", "matrix", "console")


def _check_slug(value: str) -> str:
    if not SLUG_RE.match(value):
        raise ValueError("use lower-case letters, digits and '-' (max 32)")
    return value


class ConfigError(Exception):
    """A configuration problem, already phrased for the operator."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BotSection(_Strict):
    display_name: str = "Café"
    default_language: Literal["en", "nb"] = "en"
    timezone: str = "Europe/Oslo"
    data_key_env: str = "PEERHAVEN_DATA_KEY"
    data_key_file: str = "data/peerhaven.key"
    anonymity_reminder_days: int = Field(default=30, ge=0, le=365)
    unanswered_hours: int = Field(default=24, ge=1, le=24 * 30)
    digest_time: str = Field(default="18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class StorageSection(_Strict):
    url: str = "sqlite:///data/peerhaven.db"
    # The per-member keys that post text is encrypted under; a separate database lets
    # backups of the main one be kept without them (forget then reaches old backups too).
    keys_url: str | None = None
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not (value.startswith("sqlite:") or value.startswith("postgresql")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return value


class SafetySection(_Strict):
    # One text for everyone, or one per language ({ en = "...", nb = "..." }); a message
    # shows the recipient's language, else the default language's, else English.
    emergency_contacts: str | dict[str, str] = Field(default_factory=lambda: {
        "en": "Emergency: 113 · Helpline, day and night: 116 123",
        "nb": "Nødnummer: 113 · Hjelpetelefonen, døgnåpen: 116 123"})
    crisis_action: Literal["publish", "hold"] = "publish"
    crisis_words: dict[str, list[str]] = Field(default_factory=dict)
    local_place_names: list[str] = Field(default_factory=list)
    # Consultants' posts skip the disclosure guard only when this is set.
    disclosure_skip_consultants: bool = False
    posts_per_minute: int = Field(default=6, ge=1, le=120)
    threads_per_hour: int = Field(default=5, ge=1, le=120)   # new threads per member
    joins_per_hour: int = Field(default=10, ge=1, le=1000)   # join attempts per person (code guessing)

    @field_validator("local_place_names")
    @classmethod
    def _places(cls, value: list[str]) -> list[str]:
        names = [name.strip() for name in value]
        if any(not name for name in names):
            raise ValueError("a place name must not be empty")
        if any(len(name) > 60 for name in names):
            raise ValueError("a place name has at most 60 characters")
        return list(dict.fromkeys(names))

    @field_validator("crisis_words")
    @classmethod
    def _crisis_words(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - {"en", "nb"})
        if unknown:
            raise ValueError(f"a table of languages (en, nb); got {', '.join(unknown)}")
        if any(not word.strip() for words in value.values() for word in words):
            raise ValueError("a crisis phrase must not be empty")
        return value

    @field_validator("emergency_contacts")
    @classmethod
    def _contacts(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"en", "nb"})
            if unknown or not value:
                raise ValueError(f"a table of languages (en, nb); got {', '.join(unknown) or 'an empty table'}")
            if not all(text.strip() for text in value.values()):
                raise ValueError("every language needs a text")
        elif not value.strip():
            raise ValueError("must not be empty: people in crisis need it")
        return value


class ModerationSection(_Strict):
    # Shown in help, the onboarding rules and crisis answers, so nobody waits silently.
    response_hours: str | dict[str, str] = "weekdays 9–15"
    premoderate_first_posts: int = Field(default=0, ge=0, le=100)
    # Escalating cool-downs for repeated warnings: the mute (hours) at the 1st, 2nd, … warning
    # (0 = a notice only); from ``warn_queue_level`` on, a note asks the consultant to consider
    # removal. One level decays after ``warn_decay_days`` without a new warning.
    warn_mute_hours: list[int] = Field(default_factory=lambda: [0, 1, 24, 168])
    warn_queue_level: int = Field(default=4, ge=1, le=100)
    warn_decay_days: int = Field(default=30, ge=1, le=3650)

    @field_validator("warn_mute_hours")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        if not value or any(h < 0 or h > 24 * 365 for h in value):
            raise ValueError("give one or more hours between 0 and 8760, e.g. [0, 1, 24, 168]")
        return value

    def hours_text(self, lang: str) -> str:
        if isinstance(self.response_hours, str):
            return self.response_hours
        return self.response_hours.get(lang) or next(iter(self.response_hours.values()), "")


class PrivacySection(_Strict):
    post_retention_days: int = Field(default=0, ge=0, le=36500)       # 0 = keep
    audit_retention_days: int = Field(default=730, ge=1, le=36500)
    draft_expiry_days: int = Field(default=7, ge=1, le=365)           # unsent drafts are deleted after
    # Records of which chat got which copy of a post exist only so that edits and deletes reach
    # the copies; after this, editing or deleting changes the stored post but not old copies.
    delivery_retention_days: int = Field(default=30, ge=1, le=36500)
    # Finished outbox rows (what was sent to whom, never the text). An edit of an older copy
    # is rendered from its delivery record (storage/outbox_repo.py copy_mode).
    outbox_retention_days: int = Field(default=7, ge=1, le=36500)
    # A person whose identity an operator looked up (break-glass) is told after this many days
    # (0 = at once): a delay may be needed while, say, a safeguarding concern is handled.
    breakglass_notice_days: int = Field(default=0, ge=0, le=90)


class OperatorConfig(_Strict):
    name: str = Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    secret_env: str = Field(min_length=1)


class RevealsSection(_Strict):
    request_days: int = Field(default=14, ge=1, le=90)        # a request waits this long, then expires
    cooldown_days: int = Field(default=30, ge=0, le=365)      # before asking the same pseudonym again
    max_pending: int = Field(default=3, ge=1, le=20)


class TelegramSection(_Strict):
    enabled: bool = False
    token: str | None = None
    token_env: str = "TELEGRAM_BOT_TOKEN"
    base_url: str = "https://api.telegram.org/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_url: str | None = None
    webhook_secret_env: str = "TELEGRAM_WEBHOOK_SECRET"
    messages_per_second: float = Field(default=30.0, gt=0)
    per_chat_interval: float = Field(default=1.0, ge=0)


class MatrixSection(_Strict):
    enabled: bool = False
    homeserver: str = "https://matrix.example.org"
    user_id: str = "@cafe:example.org"
    password: str | None = None
    password_env: str = "MATRIX_PASSWORD"
    access_token_env: str = "MATRIX_ACCESS_TOKEN"
    store_path: str = "data/matrix"
    allowed_homeservers: list[str] = Field(default_factory=list)

    @field_validator("user_id")
    @classmethod
    def _mxid(cls, value: str) -> str:
        if not re.match(r"^@[^:]+:.+$", value):
            raise ValueError("must look like @name:server")
        return value


class ConsoleSection(_Strict):
    enabled: bool = False


class CafesSection(_Strict):
    # How often the elected scheduler looks for due reminders and announcements (seconds).
    tick_seconds: int = Field(default=30, ge=1, le=600)
    default_reminders: str = Field(default="7d,1d,2h", pattern=r"^\s*\d{1,3}[dhm](\s*,\s*\d{1,3}[dhm])*\s*$")
    upcoming_per_series: int = Field(default=3, ge=1, le=12)   # occurrences kept materialised
    # "auto": two buddy wishes are paired first come, first paired; "consultant": wishes wait
    # for the consultant's `cafe buddy <cafe> <a> <b>`.
    buddy_pairing: Literal["auto", "consultant"] = "auto"


class CommunityConfig(_Strict):
    slug: str
    name: str
    timezone: str | None = None          # cafés' wall-clock zone; default: bot.timezone

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else BotSection._known_zone(value)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        return _check_slug(value)


class GroupConfig(_Strict):
    slug: str
    name: str
    invite_codes: list[str] = Field(default_factory=list)
    consultants: list[str] = Field(default_factory=list)
    communities: list[CommunityConfig] = Field(default_factory=list)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        return _check_slug(value)

    @field_validator("consultants")
    @classmethod
    def _platform_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            platform, _, ident = value.partition(":")
            if platform not in PLATFORMS or not ident:
                raise ValueError(f"{value!r} must be <telegram|matrix|console>:<id>")
            if platform == "telegram" and not (ident.isascii() and ident.isdigit()):
                # A @username here would never match: Telegram identifies users by number.
                raise ValueError(f"{value!r}: a Telegram consultant is given by the numeric user id "
                                 f"(e.g. telegram:123456789), not a username")
            if platform == "matrix" and not (ident.startswith("@") and ":" in ident):
                raise ValueError(f"{value!r}: a Matrix consultant is given as matrix:@user:server")
        return values

    @model_validator(mode="after")
    def _unique_communities(self) -> "GroupConfig":
        slugs = [c.slug for c in self.communities]
        if len(slugs) != len(set(slugs)):
            raise ValueError("community slugs must be unique within a group")
        return self


class Config(_Strict):
    bot: BotSection = Field(default_factory=BotSection)
    storage: StorageSection = Field(default_factory=StorageSection)
    safety: SafetySection = Field(default_factory=SafetySection)
    reveals: RevealsSection = Field(default_factory=RevealsSection)
    telegram: TelegramSection = Field(default_factory=TelegramSection)
    matrix: MatrixSection = Field(default_factory=MatrixSection)
    console: ConsoleSection = Field(default_factory=ConsoleSection)
    privacy: PrivacySection = Field(default_factory=PrivacySection)
    cafes: CafesSection = Field(default_factory=CafesSection)
    moderation: ModerationSection = Field(default_factory=ModerationSection)
    operators: list[OperatorConfig] = Field(default_factory=list)
    groups: list[GroupConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_codes(self) -> "Config":
        seen: set[str] = set()
        for group in self.groups:
            for code in group.invite_codes:
                if code.upper() in seen:
                    raise ValueError(f"invite code {code!r} is used twice")
                seen.add(code.upper())
        slugs = [g.slug for g in self.groups]
        if len(slugs) != len(set(slugs)):
            raise ValueError("group slugs must be unique")
        names = [o.name.casefold() for o in self.operators]
        if len(names) != len(set(names)):
            raise ValueError("operator names must be unique")
        return self


def _loc(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = _loc(err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key (check its spelling against config.example.toml)"
    if err["type"] == "missing":
        return f"{key}: required key is missing"
    return f"{key}: {err['msg']}"


def parse_config(text: str, source: str = "config") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_first_error(exc)}") from None


def load_config(path: str | os.PathLike[str] | None) -> Config:
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot be read ({exc.__class__.__name__})") from None
    return parse_config(text, str(p))


def secret(env_name: str, inline: str | None, key: str, env: dict[str, str] | None = None) -> str:
    """Return a secret from the inline value or the named environment variable."""
    env = os.environ if env is None else env
    if inline:
        return inline
    value = env.get(env_name, "")
    if not value:
        raise ConfigError(f"{key}: environment variable {env_name} is not set")
    return value


def check_secrets(config: Config, env: dict[str, str] | None = None) -> None:
    """Fail early when an enabled platform has no credentials."""
    env = os.environ if env is None else env
    if config.telegram.enabled:
        secret(config.telegram.token_env, config.telegram.token, "telegram.token_env", env)
        if config.telegram.mode == "webhook" and not config.telegram.webhook_url:
            raise ConfigError("telegram.webhook_url: required when telegram.mode is \"webhook\"")
    if config.matrix.enabled and not config.matrix.password:
        if not env.get(config.matrix.password_env) and not env.get(config.matrix.access_token_env):
            raise ConfigError(
                f"matrix.password_env: environment variable {config.matrix.password_env} "
                f"(or {config.matrix.access_token_env}) is not set"
            )
