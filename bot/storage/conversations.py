"""Conversation state, per channel and conversation key: in the database or in memory.

A conversation is what one chat (or one user within a group chat) has been saying to the
bot: its language preference, kept until /forget, and the context of the last reply (the
entries it was about, the choices shown, its language), which the service ignores once it
is older than its time-to-live. Both stores keep the same :class:`ConversationState`:

* :class:`SqlConversations` in the bot's database (SQLite, or PostgreSQL shared by several
  bot instances: each save is one upsert, the last writer wins, which is what a chat that
  talks to two instances in turn needs);
* :class:`MemoryConversations` when no database is configured (the console chat), bounded.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .models import MAX_CHANNEL_CHARS, MAX_CONVERSATION_CHARS, MAX_IDS_CHARS, ConversationModel, as_utc
from .questions import _insert_for

_table = cast(sa.Table, ConversationModel.__table__)
MEMORY_CONVERSATIONS = 10_000   # conversations a memory store keeps (least recent dropped)


@dataclass(frozen=True)
class ConversationState:
    """What one conversation remembers.

    Attributes:
        channel: "telegram", "wechat", "console", "web", ...
        conversation: the channel's conversation key.
        language: the language chosen with /language ("fr"), or None (detect per message).
        ids: entry keys the last replies were about ("person:cai-bin", ...).
        choices: the Choice ids last shown, in order.
        reply_lang: the language of the last reply, or None.
        updated_at: when the last reply was given (aware, UTC).
    """

    channel: str
    conversation: str
    language: str | None = None
    ids: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    reply_lang: str | None = None
    updated_at: datetime | None = None

    def without_context(self) -> ConversationState:
        """The same conversation with its context dropped (the language preference stays)."""
        return replace(self, ids=(), choices=(), reply_lang=None)


class ConversationStore(Protocol):
    """Where conversation states live; every method is safe to call from threads."""

    def load(self, channel: str, conversation: str) -> ConversationState | None:
        """Return the stored state, or None when the conversation is unknown."""
        ...

    def save(self, state: ConversationState) -> None:
        """Store ``state`` (insert or replace)."""
        ...

    def forget(self, channel: str, conversation: str) -> int:
        """Delete the conversation; return how many rows were deleted (0 or 1)."""
        ...

    def purge(self, before: datetime) -> int:
        """Delete conversations silent since before ``before`` that keep no language
        preference (their context has long expired); return how many."""
        ...


def check_key(channel: str, conversation: str) -> None:
    """Raise ValueError when a channel name or conversation key is empty or too long."""
    if not channel or len(channel) > MAX_CHANNEL_CHARS:
        raise ValueError(f"channel must be 1 to {MAX_CHANNEL_CHARS} characters")
    if not conversation or len(conversation) > MAX_CONVERSATION_CHARS:
        raise ValueError(f"conversation key must be 1 to {MAX_CONVERSATION_CHARS} characters")


def _join(ids: tuple[str, ...]) -> str:
    """Space-joined ids, keeping the first ones that fit in MAX_IDS_CHARS."""
    out: list[str] = []
    size = 0
    for key in ids:
        if " " in key or not key:
            continue
        size += len(key) + (1 if out else 0)
        if size > MAX_IDS_CHARS:
            break
        out.append(key)
    return " ".join(out)


class SqlConversations:
    """Conversation states in the ``conversations`` table (migration 0003).

    Args:
        engine: a migrated SQLite or PostgreSQL engine.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = _insert_for(engine)
        self._select = sa.select(_table).where(_table.c.channel == sa.bindparam("channel"),
                                               _table.c.conversation == sa.bindparam("key"))
        # Built once, executed with each state's values (building it per save was a
        # tenth of a message's time).
        upsert = self._insert(_table)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=[_table.c.channel, _table.c.conversation],
            set_={name: upsert.excluded[name] for name in
                  ("language", "entry_ids", "choice_ids", "reply_lang", "updated_at")})

    def load(self, channel: str, conversation: str) -> ConversationState | None:
        """Return the stored state, or None.

        Raises:
            ValueError: an empty or too long channel or key.
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        check_key(channel, conversation)
        with self._engine.connect() as conn:
            row = conn.execute(self._select, {"channel": channel, "key": conversation}).first()
        if row is None:
            return None
        return ConversationState(
            channel=row.channel, conversation=row.conversation, language=row.language,
            ids=tuple(row.entry_ids.split()), choices=tuple(row.choice_ids.split()),
            reply_lang=row.reply_lang, updated_at=row.updated_at)

    def save(self, state: ConversationState, *, conn: Connection | None = None) -> None:
        """Insert or replace the state (one upsert), in its own transaction or in the
        caller's ``conn`` (committed by the caller).

        Raises:
            ValueError: an empty or too long key, or a state without ``updated_at``.
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        check_key(state.channel, state.conversation)
        if state.updated_at is None:
            raise ValueError("a saved conversation needs updated_at")
        values = {"channel": state.channel, "conversation": state.conversation,
                  "language": state.language, "entry_ids": _join(state.ids),
                  "choice_ids": _join(state.choices), "reply_lang": state.reply_lang,
                  "updated_at": as_utc(state.updated_at)}
        if conn is not None:
            conn.execute(self._upsert, values)
            return
        with self._engine.begin() as own:
            own.execute(self._upsert, values)

    def forget(self, channel: str, conversation: str) -> int:
        """Delete the conversation's row; return 0 or 1."""
        check_key(channel, conversation)
        with self._engine.begin() as conn:
            result = conn.execute(sa.delete(_table).where(
                _table.c.channel == channel, _table.c.conversation == conversation))
        return result.rowcount or 0

    def purge(self, before: datetime) -> int:
        """Delete rows older than ``before`` (aware) without a language preference."""
        with self._engine.begin() as conn:
            result = conn.execute(sa.delete(_table).where(
                _table.c.language.is_(None), _table.c.updated_at < as_utc(before)))
        return result.rowcount or 0


class MemoryConversations:
    """Conversation states in this process only (no database configured): the
    ``capacity`` most recently saved conversations are kept."""

    def __init__(self, capacity: int = MEMORY_CONVERSATIONS) -> None:
        self._states: OrderedDict[tuple[str, str], ConversationState] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def load(self, channel: str, conversation: str) -> ConversationState | None:
        """Return the state kept for the conversation, or None."""
        check_key(channel, conversation)
        with self._lock:
            return self._states.get((channel, conversation))

    def save(self, state: ConversationState) -> None:
        """Keep ``state``, dropping the least recently saved one past the capacity."""
        check_key(state.channel, state.conversation)
        key = (state.channel, state.conversation)
        with self._lock:
            self._states[key] = state
            self._states.move_to_end(key)
            while len(self._states) > self._capacity:
                self._states.popitem(last=False)

    def forget(self, channel: str, conversation: str) -> int:
        """Drop the conversation; return 0 or 1."""
        check_key(channel, conversation)
        with self._lock:
            return 1 if self._states.pop((channel, conversation), None) is not None else 0

    def purge(self, before: datetime) -> int:
        """Drop states older than ``before`` without a language preference."""
        with self._lock:
            old = [key for key, state in self._states.items() if state.language is None
                   and state.updated_at is not None and state.updated_at < before]
            for key in old:
                del self._states[key]
        return len(old)


__all__ = ["ConversationState", "ConversationStore", "MemoryConversations",
           "SqlConversations", "check_key"]
