"""Tables of the bot's database, as SQLAlchemy 2 declarative models.

The schema itself is created and changed only by the Alembic revisions in
``bot/storage/migrations/versions`` (hand-written); these models must stay equal to what the
revisions build. Every timestamp is UTC and timezone-aware in Python; no table holds a user
id or a chat id.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (Boolean, CheckConstraint, Date, DateTime, Integer, MetaData, String,
                        TypeDecorator)
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


def utc_now() -> datetime:
    """Return the current time as a timezone-aware UTC datetime (the default clock)."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC.

    Raises:
        ValueError: when ``value`` is naive (no tzinfo): its zone would be a guess.
    """
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(timezone.utc)


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
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


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
