"""What the bot answered, per day, intent and language, and what it could not answer.

Only counts and normalised question text are kept, never who asked: admins see which
questions fail often (to add knowledge for them), not which user asked them; contact details
typed into a question (phone numbers, e-mail addresses, long numbers) are masked before
storing (:mod:`bot.storage.privacy`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from .models import (
    MAX_INTENT_CHARS,
    MAX_KEY_CHARS,
    MAX_LANG_CHARS,
    MAX_QUESTION_CHARS,
    ReplyCountModel,
    UnansweredQuestionModel,
    as_utc,
    utc_now,
)
from .privacy import question_for_log

_counts = cast(sa.Table, ReplyCountModel.__table__)
_questions = cast(sa.Table, UnansweredQuestionModel.__table__)


def _counted(rows: object) -> Iterable[tuple[str, int]]:
    """Rows of (name, count) as the type checker should see them (SQLAlchemy types a
    Table's columns as Any)."""
    return cast("Iterable[tuple[str, int]]", rows)


@dataclass(frozen=True)
class UnansweredQuestion:
    """One question the bot could not answer, as admins see it.

    Attributes:
        question: the normalised text (at most 500 characters).
        count: how many times it was asked since it was first stored.
        closest: key of the best candidate entry the bot found ("person:cai-bin"), the
            latest one known, or None.
        last_seen: when it was last asked (aware datetime, UTC).
    """

    question: str
    count: int
    closest: str | None
    last_seen: datetime


@dataclass(frozen=True)
class ReplyStats:
    """Reply counts over a range of days.

    Attributes:
        total: number of replies.
        by_intent: replies per intent, largest first (ties by name); intents without
            replies are absent.
        by_language: replies per language code, largest first (ties by code).
    """

    total: int
    by_intent: dict[str, int]
    by_language: dict[str, int]


def _insert_for(engine: Engine):
    """Return the dialect's ``insert`` that has ``on_conflict_do_update``."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert
    if engine.dialect.name == "sqlite":
        return sqlite.insert
    raise ValueError(f"unsupported database {engine.dialect.name!r}: "
                     "use SQLite or PostgreSQL")


def _check_label(name: str, value: str, limit: int) -> None:
    if not value or len(value) > limit:
        raise ValueError(f"{name} must be 1 to {limit} characters, got {value!r}")


class QuestionLog:
    """Counts replies per day/intent/language and the questions the bot could not answer.

    Every method is one short transaction on its own connection, so one QuestionLog can
    be shared by threads, and several processes may write the same database: counters are
    incremented by the database (``INSERT ... ON CONFLICT DO UPDATE``), never read and
    written back.
    """

    def __init__(self, engine: Engine, *, retention_days: int = 30,
                 clock: Callable[[], datetime] = utc_now) -> None:
        """Log into ``engine`` (already migrated, see :func:`bot.storage.db.migrate`).

        Args:
            engine: a SQLite or PostgreSQL engine from :func:`create_engine_for`.
            retention_days: how many days :meth:`purge` keeps rows (>= 1).
            clock: returns the current time, timezone-aware (tests pass a fake one).
        Raises:
            ValueError: when ``retention_days`` < 1 or the engine is neither SQLite nor
                PostgreSQL.
        """
        if retention_days < 1:
            raise ValueError(f"retention_days must be at least 1, got {retention_days}")
        self._engine = engine
        self._insert = _insert_for(engine)
        # Built once, executed with each reply's values (see record).
        count = self._insert(_counts)
        self._count = count.on_conflict_do_update(
            index_elements=[_counts.c.day, _counts.c.intent, _counts.c.lang],
            set_={"count": _counts.c.count + 1})
        ask = self._insert(_questions)
        self._ask = ask.on_conflict_do_update(
            index_elements=[_questions.c.question],
            set_={"count": _questions.c.count + 1,
                  "last_seen": ask.excluded.last_seen,
                  "closest": sa.func.coalesce(ask.excluded.closest, _questions.c.closest)})
        self.retention_days = retention_days
        self._clock = clock

    def _now(self) -> datetime:
        return as_utc(self._clock())

    def record(self, *, question: str, intent: str, lang: str, answered: bool,
               closest: str | None, conn: Connection | None = None) -> None:
        """Count one reply, and remember its question when it was not answered.

        Args:
            question: what the user typed. Stored only when ``answered`` is False, as
                :func:`bot.storage.privacy.question_for_log` gives it (normalised, with
                e-mail addresses, @handles, phone and other long numbers masked), cut to
                500 characters; a question without any word left is not stored.
            intent: the reply's intent (1-32 characters, e.g. "fallback").
            lang: the reply's language code (1-16 characters, e.g. "fr").
            answered: False for the fallback or a low-confidence answer.
            closest: key of the best candidate entry ("person:cai-bin", at most 200
                characters) or None; kept only for unanswered questions, and a None
                does not erase a candidate stored earlier.
            conn: write in the caller's transaction (committed by the caller) instead
                of one of its own.
        Raises:
            ValueError: when intent, lang or closest break the limits above, or the
                clock gives a naive datetime.
            sqlalchemy.exc.SQLAlchemyError: when the database fails (nothing is stored).
        """
        _check_label("intent", intent, MAX_INTENT_CHARS)
        _check_label("lang", lang, MAX_LANG_CHARS)
        if closest is not None:
            _check_label("closest", closest, MAX_KEY_CHARS)
        now = self._now()
        text = "" if answered else question_for_log(question)[:MAX_QUESTION_CHARS].rstrip()

        if conn is None:
            with self._engine.begin() as own:
                self._write(own, text, intent, lang, closest, now)
        else:
            self._write(conn, text, intent, lang, closest, now)

    def _write(self, conn: Connection, text: str, intent: str, lang: str,
               closest: str | None, now: datetime) -> None:
        conn.execute(self._count, {"day": now.date(), "intent": intent, "lang": lang,
                                   "count": 1})
        if text:
            conn.execute(self._ask, {"question": text, "count": 1, "closest": closest,
                                     "first_seen": now, "last_seen": now})

    def unanswered(self, *, since: datetime | None = None,
                   limit: int = 20) -> list[UnansweredQuestion]:
        """Return the stored unanswered questions, most frequent first, then most recent.

        Args:
            since: only questions asked at or after this aware datetime (any zone);
                None for all kept ones.
            limit: at most this many (>= 0).
        Returns:
            list of :class:`UnansweredQuestion`; ties in count and time by question text.
        Raises:
            ValueError: when ``since`` is naive or ``limit`` is negative.
            sqlalchemy.exc.SQLAlchemyError: when the database fails.
        """
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        query = (sa.select(_questions.c.question, _questions.c.count, _questions.c.closest,
                           _questions.c.last_seen)
                 .order_by(_questions.c.count.desc(), _questions.c.last_seen.desc(),
                           _questions.c.question)
                 .limit(limit))
        if since is not None:
            query = query.where(_questions.c.last_seen >= as_utc(since))
        with self._engine.connect() as conn:
            rows = cast("Iterable[tuple[str, int, str | None, datetime]]", conn.execute(query))
            return [UnansweredQuestion(*row) for row in rows]

    def stats(self, since: date, until: date) -> ReplyStats:
        """Return the reply counts of the UTC days ``since`` to ``until``, both included.

        Raises:
            ValueError: when ``until`` is before ``since``.
            sqlalchemy.exc.SQLAlchemyError: when the database fails.
        """
        if until < since:
            raise ValueError(f"until ({until}) is before since ({since})")
        in_range = _counts.c.day.between(since, until)
        total = sa.func.sum(_counts.c.count).label("total")
        by_intent = (sa.select(_counts.c.intent, total).where(in_range)
                     .group_by(_counts.c.intent).order_by(total.desc(), _counts.c.intent))
        by_lang = (sa.select(_counts.c.lang, total).where(in_range)
                   .group_by(_counts.c.lang).order_by(total.desc(), _counts.c.lang))
        with self._engine.connect() as conn:
            intents = {name: int(n) for name, n in _counted(conn.execute(by_intent))}
            langs = {name: int(n) for name, n in _counted(conn.execute(by_lang))}
        return ReplyStats(total=sum(intents.values()), by_intent=intents, by_language=langs)

    def purge(self) -> int:
        """Delete rows older than ``retention_days``, counted back from the clock's now.

        Unanswered questions go when their ``last_seen`` is more than retention_days ago;
        reply counts when their UTC day is before the day of (now - retention_days).

        Returns:
            number of rows deleted (both tables together).
        Raises:
            ValueError: when the clock gives a naive datetime.
            sqlalchemy.exc.SQLAlchemyError: when the database fails (nothing is deleted).
        """
        cutoff = self._now() - timedelta(days=self.retention_days)
        with self._engine.begin() as conn:
            asked = conn.execute(sa.delete(_questions).where(_questions.c.last_seen < cutoff))
            counted = conn.execute(sa.delete(_counts).where(_counts.c.day < cutoff.date()))
        return asked.rowcount + counted.rowcount
