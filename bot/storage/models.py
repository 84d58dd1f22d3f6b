"""Tables of the bot's database, as SQLAlchemy 2 declarative models.

The schema itself is created and changed only by the Alembic revisions in
``bot/storage/migrations/versions`` (hand-written); these models must stay equal to what the
revisions build. Every timestamp is UTC and timezone-aware in Python. The statistics tables
hold no user id or chat id; ``subscribers`` and ``conversations`` hold chat and user ids,
``announcements`` and ``knowledge_versions`` an admin's id ("admin 4242"): /forget removes
or anonymises them, one rule per table in :mod:`bot.storage.forget` (a new table needs one).
"""
from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names, so later migrations can alter or drop them by name on both
# SQLite and PostgreSQL (the revisions spell out the same names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MAX_QUESTION_CHARS = 500
MAX_KEY_CHARS = 200      # entry keys like "person:cai-bin"
MAX_INTENT_CHARS = 32
MAX_LANG_CHARS = 16
MAX_VERSION_CHARS = 64   # content hash (12 hex digits today)
MAX_COMMIT_CHARS = 64    # SHA-1 (40) or SHA-256 (64) hex
MAX_TRIGGER_CHARS = 200
MAX_CHANNEL_CHARS = 32       # "telegram", "wechat"
MAX_CHAT_ID_CHARS = 64       # the channel's chat id, as text
MAX_ANNOUNCEMENT_ID_CHARS = 100
MAX_ZONE_CHARS = 64          # IANA zone name
MAX_CREATED_BY_CHARS = 200   # "yaml", "admin 123"
MAX_ERROR_CHARS = 500
MAX_WORKER_CHARS = 100
MAX_CONVERSATION_CHARS = 128  # the channel's conversation key ("-100123:456", a cookie id)
MAX_IDS_CHARS = 4000          # entry keys or choice ids, joined by spaces
MAX_NONCE_CHARS = 64          # WeChat's nonce (digits today)

SUBSCRIBER_STATUSES = ("active", "blocked", "unsubscribed", "unreachable")
ANNOUNCEMENT_STATUSES = ("scheduled", "sending", "done", "cancelled", "skipped")
DELIVERY_STATUSES = ("pending", "sent", "failed", "blocked", "unreachable", "in_doubt")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def utc_now() -> datetime:
    """Return the current time as a timezone-aware UTC datetime (the default clock)."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC.

    Raises:
        ValueError: when ``value`` is naive (no tzinfo): its zone would be a guess.
    """
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator):
    """``DateTime(timezone=True)`` that takes and gives aware UTC datetimes on every backend.

    PostgreSQL stores ``timestamptz`` but returns it in the session's TimeZone; SQLite has
    no zone at all and stores text, compared as text, so values are written there as naive
    UTC (one format, correct ordering) and read back with UTC attached.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of all storage tables (one MetaData, with the naming convention)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ReplyCountModel(Base):
    """How many replies of one intent in one language the bot gave on one UTC day."""

    __tablename__ = "reply_counts"
    __table_args__ = (CheckConstraint("count >= 1", name="count_positive"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    intent: Mapped[str] = mapped_column(String(MAX_INTENT_CHARS), primary_key=True)
    lang: Mapped[str] = mapped_column(String(MAX_LANG_CHARS), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)


class UnansweredQuestionModel(Base):
    """One distinct normalised question that got the fallback or a low-confidence answer."""

    __tablename__ = "unanswered_questions"
    __table_args__ = (CheckConstraint("count >= 1", name="count_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question: Mapped[str] = mapped_column(String(MAX_QUESTION_CHARS), nullable=False,
                                          unique=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    closest: Mapped[str | None] = mapped_column(String(MAX_KEY_CHARS), nullable=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class KnowledgeVersionModel(Base):
    """One attempt to load the knowledge folder (successful or not)."""

    __tablename__ = "knowledge_versions"
    __table_args__ = (CheckConstraint("errors >= 0", name="errors_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(MAX_VERSION_CHARS), nullable=False)
    git_commit: Mapped[str | None] = mapped_column(String(MAX_COMMIT_CHARS), nullable=True)
    trigger: Mapped[str] = mapped_column(String(MAX_TRIGGER_CHARS), nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    errors: Mapped[int] = mapped_column(Integer, nullable=False)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class SubscriberModel(Base):
    """One chat that asked for announcements, on one channel."""

    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("channel", "chat_id", name="uq_subscribers_channel_chat_id"),
        CheckConstraint(_one_of("status", SUBSCRIBER_STATUSES), name="status_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(MAX_CHANNEL_CHARS), nullable=False)
    chat_id: Mapped[str] = mapped_column(String(MAX_CHAT_ID_CHARS), nullable=False)
    language: Mapped[str | None] = mapped_column(String(MAX_LANG_CHARS), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    subscribed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # per-chat pacing: no broadcast message to this chat before this time (UTC)
    next_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # last message from the user (UTC): WeChat lets an account reply freely for 48 hours
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # why the channel refused this chat for good (status unreachable), as the channel said
    last_error: Mapped[str | None] = mapped_column(String(MAX_ERROR_CHARS), nullable=True)


class AnnouncementModel(Base):
    """One announcement: from knowledge/announcements.yaml or written by an admin in chat."""

    __tablename__ = "announcements"
    __table_args__ = (
        CheckConstraint(_one_of("status", ANNOUNCEMENT_STATUSES), name="status_valid"),
        Index("ix_announcements_status_send_at", "status", "send_at"),
    )

    id: Mapped[str] = mapped_column(String(MAX_ANNOUNCEMENT_ID_CHARS), primary_key=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)          # default (English) text
    text_fr: Mapped[str | None] = mapped_column(Text, nullable=True)
    text_ar: Mapped[str | None] = mapped_column(Text, nullable=True)
    text_zh: Mapped[str | None] = mapped_column(Text, nullable=True)
    send_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    zone: Mapped[str] = mapped_column(String(MAX_ZONE_CHARS), nullable=False)
    audience: Mapped[str | None] = mapped_column(String(MAX_LANG_CHARS), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_by: Mapped[str] = mapped_column(String(MAX_CREATED_BY_CHARS), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DeliveryModel(Base):
    """One announcement to one subscriber; ``claimed_by``/``claimed_until`` are a worker's lease."""

    __tablename__ = "deliveries"
    __table_args__ = (
        PrimaryKeyConstraint("announcement_id", "subscriber_id", name="pk_deliveries"),
        CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status_valid"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_deliveries_claim", "announcement_id", "status", "subscriber_id"),
    )

    announcement_id: Mapped[str] = mapped_column(
        String(MAX_ANNOUNCEMENT_ID_CHARS),
        ForeignKey("announcements.id", ondelete="CASCADE"), nullable=False)
    subscriber_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(MAX_ERROR_CHARS), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(MAX_WORKER_CHARS), nullable=True)
    # a send timed out: the channel may have the message; it is retried at most once
    in_doubt: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                           server_default=false())


class RateBucketModel(Base):
    """A token bucket shared by every bot instance: the whole bot's sending rate on one
    channel (``BROADCAST_RATE``), and a pause all instances keep after flood control."""

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(MAX_CHANNEL_CHARS), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AccessTokenModel(Base):
    """A channel API access token shared by every instance (WeChat: fetching a new one
    invalidates the previous, so one instance fetches and all use it). A secret: never
    logged, never shown."""

    __tablename__ = "access_tokens"

    app_id: Mapped[str] = mapped_column(String(MAX_CHAT_ID_CHARS), primary_key=True)
    token: Mapped[str] = mapped_column(String(MAX_ERROR_CHARS), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ConversationModel(Base):
    """What one conversation on one channel remembers: the language preference (until
    /forget) and the context of its last reply (entries, choices shown, language), which
    the service ignores after 30 minutes of silence."""

    __tablename__ = "conversations"
    __table_args__ = (PrimaryKeyConstraint("channel", "conversation", name="pk_conversations"),)

    channel: Mapped[str] = mapped_column(String(MAX_CHANNEL_CHARS), nullable=False)
    conversation: Mapped[str] = mapped_column(String(MAX_CONVERSATION_CHARS), nullable=False)
    language: Mapped[str | None] = mapped_column(String(MAX_LANG_CHARS), nullable=True)
    entry_ids: Mapped[str] = mapped_column(String(MAX_IDS_CHARS), nullable=False)
    choice_ids: Mapped[str] = mapped_column(String(MAX_IDS_CHARS), nullable=False)
    reply_lang: Mapped[str | None] = mapped_column(String(MAX_LANG_CHARS), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class WeChatNonceModel(Base):
    """One signed WeChat request seen (its timestamp and nonce), kept until its timestamp
    leaves the replay window, so a copy of the request is refused by every instance.
    ``message`` is a keyed hash of what the request carried (account, follower, MsgId): a
    retry of the same message may reuse the nonce, another message may not. No user id."""

    __tablename__ = "wechat_nonces"
    __table_args__ = (PrimaryKeyConstraint("timestamp", "nonce", name="pk_wechat_nonces"),)

    timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)  # WeChat's, s UTC
    nonce: Mapped[str] = mapped_column(String(MAX_NONCE_CHARS), nullable=False)
    message: Mapped[str] = mapped_column(String(64), nullable=False)  # hex HMAC-SHA256
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
