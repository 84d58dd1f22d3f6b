"""One sending rate for the whole bot: a token bucket kept in the database, shared by every
instance, and the flood-control pause every instance honours.

Telegram limits a bot, not a process (about 30 messages a second, 1,000 with paid
broadcasts): three instances each pacing themselves at 25/s send 75/s together. So the
bucket lives in one row of ``rate_buckets`` per channel. A worker reserves tokens a chunk
at a time (one round trip for up to ``chunk`` messages) inside a short transaction that
locks the row (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), and
sends them once they are due: a reservation may run the bucket into debt, and the caller
waits until the debt is paid (``tokens / rate`` seconds). Whatever the number of instances,
the messages sent over any interval of T seconds are at most ``rate * T + capacity``; and
since a reservation is made before its tokens exist, the instances together keep the whole
rate (no token is lost while each of them is busy sending its previous chunk), with one
round trip per chunk.

A ``RetryAfter`` (HTTP 429) from the channel means the bot as a whole must wait: the worker
that got it writes ``paused_until`` into the same row, and every instance waits it out.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from bot.storage.models import RateBucketModel, as_utc

_b = cast(sa.Table, RateBucketModel.__table__)

# A chunk is this much of a second's worth of tokens: small enough that instances share the
# rate evenly, large enough that 1,000 messages a second cost ~25 round trips, not 1,000.
CHUNK_SECONDS = 0.04


@contextmanager
def transaction(engine: Engine, conn: Connection | None = None) -> Iterator[Connection]:
    """A transaction on ``conn`` (a connection the caller holds for several transactions:
    one pool checkout, one liveness ping) or, without it, on a connection of the pool."""
    if conn is None:
        with engine.begin() as fresh:
            yield fresh
    else:
        with conn.begin():
            yield conn


class Reservation(NamedTuple):
    """What :meth:`SharedRateLimiter.reserve` granted."""

    granted: int           # tokens reserved (0: none)
    wait: float            # s before using them; with none granted, before asking again
    paused: bool = False   # none granted because of a flood-control pause


class SharedRateLimiter:
    """A token bucket in the database (``rate_buckets``), shared by every bot instance.

    Args:
        engine: a migrated SQLite or PostgreSQL engine.
        name: the bucket, one per channel ("telegram", "wechat").
        rate: messages per second for the whole bot (> 0), e.g. BROADCAST_RATE.
        clock: returns the current aware datetime (tests pass a fake clock).
        sleep: awaits the given seconds (asyncio.sleep, or a fake that advances the clock).
    Raises:
        ValueError: when rate is not positive.
    """

    def __init__(self, engine: Engine, name: str, rate: float,
                 clock: Callable[[], datetime],
                 sleep: Callable[[float], Awaitable[None]]) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.engine, self.name, self.rate = engine, name, float(rate)
        self.chunk = max(1, int(self.rate * CHUNK_SECONDS))
        self.capacity = float(self.chunk)
        self._clock, self._sleep = clock, sleep
        self._sqlite = engine.dialect.name == "sqlite"

    def reserve(self, wanted: int, max_wait: float | None = None,
                conn: Connection | None = None) -> Reservation:
        """One transaction: refill the bucket for the time elapsed and reserve up to
        ``wanted`` tokens (at most ``chunk``), possibly in debt.

        Args:
            wanted: tokens asked for (>= 1).
            max_wait: the longest wait accepted for a reservation (s), or None for any.
            conn: a connection of ``engine`` to run the transaction on (default: one from
                the pool).
        Returns:
            a :class:`Reservation`: with tokens granted, the seconds to wait before using
            them (0.0 when they are there now); with none granted (the bucket is paused by
            flood control, or the wait would exceed ``max_wait``), the seconds before
            asking again makes sense.
        """
        wanted = max(1, min(wanted, self.chunk))
        now = as_utc(self._clock())
        with transaction(self.engine, conn) as conn:
            if self._sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:   # a lost token after a database crash costs nothing
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            query = sa.select(_b.c.tokens, _b.c.updated_at, _b.c.paused_until).where(
                _b.c.name == self.name)
            if not self._sqlite:
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None:
                # starts empty: a fresh deployment does not burst
                insert = sa.insert(_b).values(name=self.name, tokens=0.0, updated_at=now,
                                              paused_until=None)
                if self._sqlite:
                    conn.execute(insert.prefix_with("OR IGNORE"))
                else:
                    conn.execute(pg_insert(_b).values(name=self.name, tokens=0.0,
                                                      updated_at=now, paused_until=None)
                                 .on_conflict_do_nothing())
                return Reservation(0, 0.0)
            paused = as_utc(row.paused_until) if row.paused_until is not None else None
            if paused is not None and now < paused:
                return Reservation(0, (paused - now).total_seconds(), paused=True)
            elapsed = max(0.0, (now - as_utc(row.updated_at)).total_seconds())
            tokens = min(self.capacity, row.tokens + elapsed * self.rate) - wanted
            # clocks tick in microseconds: a shortfall below that is rounding, not a debt
            wait = 0.0 if tokens >= -self.rate * 1e-6 else -tokens / self.rate
            if max_wait is not None and wait > max_wait:
                return Reservation(0, wait)
            conn.execute(sa.update(_b).where(_b.c.name == self.name)
                         .values(tokens=tokens, updated_at=now))
            return Reservation(wanted, wait)

    async def acquire(self, wanted: int, db: Callable[..., Awaitable[Reservation]],
                      max_wait: float | None = None) -> int:
        """Reserve tokens and wait until they are due; return how many (1..``wanted``), or
        0 when that would need a single wait longer than ``max_wait`` seconds (a
        flood-control pause: the caller hands its leases back first).

        Args:
            wanted: tokens asked for (>= 1); at most ``chunk`` are granted at once.
            db: runs a blocking call off the event loop (the worker's ``_db``).
            max_wait: the longest single wait accepted, or None for any.
        """
        while True:
            granted, wait, _ = await db(self.reserve, wanted, max_wait)
            if granted:
                if wait > 0:
                    await self._sleep(wait)
                return granted
            if max_wait is not None and wait > max_wait:
                return 0
            await self._sleep(max(wait, 1e-6))

    def paused_for(self) -> float:
        """Seconds left of a flood-control pause on this bucket (0.0 when none)."""
        now = as_utc(self._clock())
        with self.engine.connect() as conn:
            until = conn.execute(sa.select(_b.c.paused_until)
                                 .where(_b.c.name == self.name)).scalar()
        return max(0.0, (as_utc(until) - now).total_seconds()) if until is not None else 0.0

    def pause(self, seconds: float) -> None:
        """Every instance sends nothing on this channel for ``seconds`` from now (flood
        control); the bucket restarts empty after the pause."""
        now = as_utc(self._clock())
        until = now + timedelta(seconds=seconds)
        with self.engine.begin() as conn:
            if self._sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            done = conn.execute(
                sa.update(_b).where(_b.c.name == self.name,
                                    sa.or_(_b.c.paused_until.is_(None),
                                           _b.c.paused_until < until))
                .values(paused_until=until, tokens=0.0, updated_at=until)).rowcount
            if not done and conn.execute(sa.select(_b.c.name).where(
                    _b.c.name == self.name)).first() is None:
                conn.execute(sa.insert(_b).values(name=self.name, tokens=0.0,
                                                  updated_at=until, paused_until=until))
