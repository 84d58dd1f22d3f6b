"""Typed settings from the environment (and an optional ``.env`` file).

Environment names are the project's interface: TELEGRAM_BOT_TOKEN, TELEGRAM_API_BASE_URL,
ADMIN_USER_IDS, DATABASE_URL, KNOWLEDGE_DIR, DEFAULT_TIMEZONE, PORT, WEBHOOK_URL,
WEBHOOK_SECRET, WEBHOOK_LISTEN, LOG_LEVEL, WECHAT_TOKEN, WECHAT_APP_ID,
WECHAT_ENCODING_AES_KEY, WECHAT_ADMIN_OPENIDS, BROADCAST_RATE, BROADCAST_MAX_AGE_HOURS,
WEB_ALLOWED_ORIGINS, WEB_TRUSTED_PROXIES, WEB_RATE_LIMIT_IP, WEB_RATE_LIMIT_CONVERSATION,
WECHAT_REPLAY_WINDOW_SECONDS.
Secrets are SecretStr: they never show in a repr, a log line or an error message.
"""
from __future__ import annotations

import re
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BUNDLED_KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
TOKEN_SHAPE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$")
ORIGIN_SHAPE = re.compile(r"^https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Telegram's service accounts: the sender shown for messages no single person sent. As an
# admin id, each would give admin rights to everyone behind it. (Telegram Bot API docs:
# "from" of anonymous group admins, channel posts and forwards from linked channels.)
SERVICE_ACCOUNTS = {
    1087968824: "GroupAnonymousBot, the sender of every anonymous group admin's messages "
                "in every group",
    136817688: "Channel_Bot, the sender of every channel's posts in groups",
    777000: "Telegram's own service account (channel posts forwarded to linked groups)",
}


def _comma_list(value):
    """A setting's comma-separated text as a list of its non-empty, stripped items (a list
    given in code is returned as it is)."""
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    return list(value)


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line, without secrets."""


def describe_errors(exc: ValidationError) -> str:
    """Return one line naming each invalid setting by its environment name and why, never
    its value (a secret may be among them): "ADMIN_USER_IDS: must be numeric ...; PORT: ..."."""
    parts = []
    for error in exc.errors():
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        why = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{name}: {why}")
    return "; ".join(parts).replace("\n", " ")


class Settings(BaseSettings):
    """Settings of one bot process.

    Attributes:
        knowledge_dir: folder of the knowledge YAML (KNOWLEDGE_DIR); default: the bundled
            ``knowledge/`` of this checkout.
        default_timezone: IANA zone for times given without one (DEFAULT_TIMEZONE).
        log_level: logging level name (LOG_LEVEL).
        telegram_bot_token: the bot token from @BotFather (TELEGRAM_BOT_TOKEN).
        telegram_api_base_url: Bot API base, token appended (TELEGRAM_API_BASE_URL); set it to
            a local Bot API server or an emulator, e.g. ``http://127.0.0.1:8081/bot``.
        admin_user_ids: numeric Telegram user ids of admins, comma-separated (ADMIN_USER_IDS).
        database_url: SQLAlchemy URL (DATABASE_URL); default a SQLite file.
        port: HTTP port of the webhook server (PORT).
        webhook_listen: address the webhook server binds (WEBHOOK_LISTEN).
        webhook_url: public https URL Telegram posts updates to (WEBHOOK_URL).
        webhook_secret: the secret_token Telegram sends in X-Telegram-Bot-Api-Secret-Token
            (WEBHOOK_SECRET; 1-256 characters A-Z a-z 0-9 _ -).
        question_retention_days: days unanswered questions and counts are kept
            (QUESTION_RETENTION_DAYS, default 30).
        watch_knowledge: reload when the knowledge folder changes (WATCH_KNOWLEDGE).
        reload_check_tests: refuse a reloaded knowledge version whose test questions
            (tests.yaml) fail (RELOAD_CHECK_TESTS, default true); false loads it anyway
            and still tells the admins which answers changed.
        wechat_token: the Token of the WeChat Official Account's server configuration
            (WECHAT_TOKEN; 3-32 letters or digits); ``forumbot wechat`` needs it.
        wechat_app_id: the Official Account's AppID (WECHAT_APP_ID, "wx..."); needed in safe
            mode, where it is sealed inside every encrypted message.
        wechat_encoding_aes_key: the EncodingAESKey (WECHAT_ENCODING_AES_KEY; 43 characters);
            when set, messages are exchanged in AES safe mode.
        broadcast_rate: announcement messages per second the whole bot sends at most on one
            channel, all instances together (BROADCAST_RATE, default 25.0; Telegram allows
            about 30 a second, 1,000 with paid broadcasts). Shared through the database.
        broadcast_paid: send Telegram announcements with ``allow_paid_broadcast`` (up to
            1,000 messages a second, charged in Telegram Stars; BROADCAST_PAID, default off).
        wechat_app_secret: the Official Account's AppSecret (WECHAT_APP_SECRET), needed to
            push announcements to WeChat subscribers (customer-service and template messages).
        wechat_template_id: the template message used to reach WeChat subscribers outside
            WeChat's 48-hour customer-service window (WECHAT_TEMPLATE_ID; a template with
            one ``content`` field); without it they are counted unreachable.
        wechat_api_base_url: the WeChat API base (WECHAT_API_BASE_URL, default
            https://api.weixin.qq.com/cgi-bin/), e.g. a local test server.
        wechat_admin_openids: OpenIDs of the WeChat followers who may use the admin
            commands there, comma-separated (WECHAT_ADMIN_OPENIDS).
        broadcast_max_age_hours: an announcement due longer ago than this (the bot was
            down) is skipped, not sent (BROADCAST_MAX_AGE_HOURS, default 6).
        web_allowed_origins: origins (``https://www.hospital.example``) whose pages may
            embed the web chat (CSP frame-ancestors) and call its JSON API from the browser
            (CORS); comma-separated (WEB_ALLOWED_ORIGINS; default none: same origin only).
        web_trusted_proxies: addresses or networks of the reverse proxies whose
            X-Forwarded-For and X-Forwarded-Proto headers the web chat believes, comma-
            separated, or ``*`` (WEB_TRUSTED_PROXIES; default none: the headers are ignored).
        web_rate_limit_ip: messages one client address may send to the web chat
            (WEB_RATE_LIMIT_IP, default "60/minute"; the `limits` notation, several
            separated by ";", e.g. "60/minute;600/hour").
        web_rate_limit_conversation: messages one web conversation may send
            (WEB_RATE_LIMIT_CONVERSATION, default "20/minute").
        web_cookie_secret: the key that signs the web chat's conversation cookies
            (WEB_COOKIE_SECRET; a random string of 32 characters or more, the same for every
            instance; unset: a random key per process, so conversations end with a restart).
        wechat_replay_window_seconds: how far (s) a WeChat request's signed timestamp may
            be from this server's clock, either way, and how long its nonce is remembered
            (WECHAT_REPLAY_WINDOW_SECONDS, default 300, 30 to 3600).
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    knowledge_dir: Path = BUNDLED_KNOWLEDGE
    default_timezone: str = "Africa/Casablanca"
    log_level: str = "INFO"
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    admin_user_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    database_url: str = "sqlite:///forumbot.sqlite3"
    port: int = Field(default=8080, ge=1, le=65535)
    webhook_listen: str = "0.0.0.0"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    question_retention_days: int = Field(default=30, ge=1, le=3650)
    watch_knowledge: bool = True
    reload_check_tests: bool = True
    wechat_token: SecretStr | None = None
    wechat_app_id: str | None = None
    wechat_encoding_aes_key: SecretStr | None = None
    wechat_admin_openids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    broadcast_rate: float = Field(default=25.0, gt=0, le=100_000)
    broadcast_paid: bool = False
    wechat_app_secret: SecretStr | None = None
    wechat_template_id: str | None = None
    wechat_api_base_url: str = "https://api.weixin.qq.com/cgi-bin/"
    broadcast_max_age_hours: float = Field(default=6, gt=0, le=24 * 365)
    web_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    web_trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    web_rate_limit_ip: str = "60/minute"
    web_rate_limit_conversation: str = "20/minute"
    web_cookie_secret: SecretStr | None = None
    wechat_replay_window_seconds: int = Field(default=300, ge=30, le=3600)

    @field_validator("telegram_api_base_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        """An http(s) URL with a host, like ``https://api.telegram.org/bot``; anything else
        would only fail later, inside the HTTP client, with a confusing error."""
        value = value.strip()
        try:
            parts = urlsplit(value)
            port = parts.port  # raises on a port that is not a number
        except ValueError:
            parts, port = None, None
        if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
                or any(ch.isspace() for ch in value) or (port is not None and not port)):
            raise ValueError("expected an http:// or https:// URL with a host, like "
                             "https://api.telegram.org/bot")
        return value

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value):
        if isinstance(value, str):
            parts = _comma_list(value)
            if not all(p.isascii() and p.isdigit() for p in parts):
                raise ValueError("must be numeric user ids separated by commas")
            return [int(p) for p in parts]
        return value

    @field_validator("web_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value):
        origins = [str(o).rstrip("/").lower() for o in _comma_list(value)]
        bad = [o for o in origins if not ORIGIN_SHAPE.match(o)]
        if bad:
            raise ValueError("expected origins like https://www.example.org "
                             "(scheme, host, optional port; no path), separated by commas")
        return origins

    @field_validator("web_trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value):
        value = _comma_list(value)
        for item in value:
            try:
                if item != "*":
                    ip_network(item, strict=False)
            except ValueError:  # its message quotes the value: say what is expected instead
                raise ValueError("expected IP addresses or networks (10.0.0.0/8) or *, "
                                 "separated by commas") from None
        return list(value)

    @field_validator("web_cookie_secret")
    @classmethod
    def _long_cookie_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # a short key can be guessed, and every cookie forged with it
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (a long random string)")
        return value

    @field_validator("web_rate_limit_ip", "web_rate_limit_conversation")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many
        try:
            parse_many(value)
        except ValueError:  # its message quotes the value: say what is expected instead
            raise ValueError('expected a rate like "60/minute" (several separated by ";")'
                             ) from None
        return value

    @field_validator("admin_user_ids")
    @classmethod
    def _no_service_accounts(cls, value: list[int]) -> list[int]:
        for user_id in value:
            if user_id in SERVICE_ACCOUNTS:
                raise ValueError(f"{user_id} is {SERVICE_ACCOUNTS[user_id]}: it is not one "
                                 "person and cannot be an admin; give admins' own user ids")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as Africa/Casablanca") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.strip():
            from sqlalchemy.engine import make_url  # only when a URL is given
            from sqlalchemy.exc import ArgumentError
            try:
                make_url(value.strip())
            except ArgumentError:
                raise ValueError("must be an SQLAlchemy URL such as sqlite:///forumbot.sqlite3 "
                                 "or postgresql+psycopg://user@host/db (or empty: no "
                                 "database)") from None
        return value.strip()

    @field_validator("wechat_admin_openids", mode="before")
    @classmethod
    def _split_openids(cls, value):
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    def database_configured(self) -> bool:
        """True when DATABASE_URL was given (environment, .env or argument), even empty;
        the console chat opens a database only then."""
        return "database_url" in self.model_fields_set

    def bot_token(self) -> str:
        """Return the Telegram token.

        Raises:
            ConfigError: when TELEGRAM_BOT_TOKEN is missing or not shaped like ``123:abc...``
                (the message never contains the value).
        """
        if self.telegram_bot_token is None or not self.telegram_bot_token.get_secret_value():
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and "
                              "put it in the environment or .env")
        token = self.telegram_bot_token.get_secret_value().strip()
        if not TOKEN_SHAPE.match(token):
            raise ConfigError("TELEGRAM_BOT_TOKEN is malformed: expected digits, a colon and "
                              "a secret of 20 or more letters, digits, - or _ "
                              "(as @BotFather gives it)")
        return token
