"""One opened database with every log and store of the bot on it."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from .conversations import SqlConversations
from .db import create_engine_for, migrate
from .models import utc_now
from .nonces import SqlNonces
from .questions import QuestionLog
from .subscriptions import Subscriptions
from .versions import VersionLog


@dataclass(frozen=True)
class Storage:
    """The bot's database: its engine and the stores on it.

    Attributes:
        engine: the SQLAlchemy engine (SQLite or PostgreSQL), migrated.
        questions: reply counts and unanswered questions (/unanswered, /stats).
        versions: knowledge versions loaded.
        subscriptions: who asked for announcements.
        conversations: language preference and context per conversation.
        wechat_nonces: the WeChat webhook's replay guard (signed requests seen).
    """

    engine: Engine
    questions: QuestionLog
    versions: VersionLog
    subscriptions: Subscriptions
    conversations: SqlConversations
    wechat_nonces: SqlNonces

    @classmethod
    def open(cls, url: str, *, retention_days: int = 30,
             clock: Callable[[], datetime] = utc_now) -> Storage:
        """Connect ``url`` (DATABASE_URL), migrate it to the newest schema, and return it.

        Raises:
            bot.settings.ConfigError: ``url`` is not a supported database URL.
            sqlalchemy.exc.SQLAlchemyError: the database cannot be opened or migrated.
        """
        engine = create_engine_for(url)
        try:
            migrate(engine)
        except Exception:
            engine.dispose()
            raise
        return cls(engine=engine,
                   questions=QuestionLog(engine, retention_days=retention_days, clock=clock),
                   versions=VersionLog(engine, clock=clock),
                   subscriptions=Subscriptions(engine, clock=clock),
                   conversations=SqlConversations(engine),
                   wechat_nonces=SqlNonces(engine, clock=clock))

    @contextmanager
    def turn(self) -> Iterator[Connection]:
        """One transaction for what one message writes (its conversation's state and its
        question-log count), committed when the block ends, rolled back if it raises.

        Its commit does not wait for the disk: on SQLite none does (WAL with
        synchronous=NORMAL, see :func:`create_engine_for`), on PostgreSQL this one sets
        ``synchronous_commit`` off. A power cut or database crash can then lose the last
        fraction of a second of context and counts, never make them inconsistent; a crash
        of the bot loses nothing committed.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed (nothing is written).
        """
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            yield conn

    def close(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()
