"""The WeChat replay guard's memory: which signed requests (timestamp, nonce) were seen.

WeChat signs a request's query (token, timestamp, nonce), not its body in plain mode: a
copied query would carry any body as long as its timestamp is accepted. The webhook refuses
timestamps outside its window (WECHAT_REPLAY_WINDOW_SECONDS) and claims each (timestamp,
nonce) here: a second claim is refused unless it carries the same message (a retry of it,
which is answered from the retry cache). Rows expire when their timestamp leaves the window
(``expires_at`` = timestamp + window) and are deleted at most every PURGE_INTERVAL.

:class:`SqlNonces` shares the claims between every instance on one database;
:class:`MemoryNonces` keeps them in this process (no database configured).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from .models import MAX_NONCE_CHARS, WeChatNonceModel, utc_now

PURGE_INTERVAL = timedelta(seconds=60)   # expired rows are deleted at most this often
_table = cast(sa.Table, WeChatNonceModel.__table__)


class NonceStore(Protocol):
    """Where the claims live (database or memory)."""

    def claim(self, timestamp: int, nonce: str, message: str, window: float) -> bool:
        """Record that the request signed for ``timestamp`` (s since the epoch, UTC) and
        ``nonce`` carried ``message`` (a keyed hash, 64 hex digits); kept until
        ``timestamp`` + ``window`` seconds.

        Returns:
            True on the first claim, or a later one with the same ``message`` (a retry);
            False when another message used them first (a replay with another body).
        Raises:
            ValueError: an empty nonce or one over MAX_NONCE_CHARS characters.
        """
        ...


def _check(nonce: str) -> None:
    if not nonce or len(nonce) > MAX_NONCE_CHARS:
        raise ValueError(f"nonce must be 1 to {MAX_NONCE_CHARS} characters")


def _expiry(timestamp: int, window: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC) + timedelta(seconds=window)


class SqlNonces:
    """Claims in the ``wechat_nonces`` table, shared by every instance.

    Args:
        engine: the migrated database.
        clock: the current time, aware UTC (tests pass a fake one).
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._purged: datetime | None = None
        self._insert = (postgresql.insert if engine.dialect.name == "postgresql"
                        else sqlite.insert)

    def claim(self, timestamp: int, nonce: str, message: str, window: float) -> bool:
        """See :meth:`NonceStore.claim`; also deletes expired rows now and then."""
        _check(nonce)
        self._purge_now_and_then()
        row = {"timestamp": timestamp, "nonce": nonce, "message": message,
               "expires_at": _expiry(timestamp, window)}
        with self._engine.begin() as conn:
            added = conn.execute(self._insert(_table).values(**row).on_conflict_do_nothing()
                                 .returning(_table.c.nonce)).first()
            if added is not None:  # (rowcount is not reliable here with psycopg)
                return True
            first = conn.execute(sa.select(_table.c.message).where(
                _table.c.timestamp == timestamp, _table.c.nonce == nonce)).scalar()
        return first == message

    def purge(self) -> int:
        """Delete the rows whose window has passed; returns how many."""
        with self._engine.begin() as conn:
            return conn.execute(sa.delete(_table).where(
                _table.c.expires_at < self._clock())).rowcount or 0

    def _purge_now_and_then(self) -> None:
        now = self._clock()
        if self._purged is None or now - self._purged >= PURGE_INTERVAL:
            self._purged = now
            self.purge()


class MemoryNonces:
    """Claims in this process only (no database): thread-safe, expired ones dropped."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._seen: dict[tuple[int, str], tuple[str, datetime]] = {}
        self._lock = threading.Lock()
        self._purged: datetime | None = None

    def claim(self, timestamp: int, nonce: str, message: str, window: float) -> bool:
        """See :meth:`NonceStore.claim`."""
        _check(nonce)
        now = self._clock()
        with self._lock:
            if self._purged is None or now - self._purged >= PURGE_INTERVAL:
                self._purged = now
                self._seen = {key: value for key, value in self._seen.items()
                              if value[1] >= now}
            first = self._seen.setdefault((timestamp, nonce),
                                          (message, _expiry(timestamp, window)))
        return first[0] == message

    def __len__(self) -> int:
        return len(self._seen)


__all__ = ["MemoryNonces", "NonceStore", "SqlNonces"]
