"""The broadcast worker: sends due announcements to every active subscriber, on any channel.

How a pass (:meth:`BroadcastWorker.run_due`) works:

1. Announcements due longer ago than ``max_age`` (the bot was down) are marked ``skipped``
   and reported, not sent: a "the session starts in 10 minutes" from yesterday would only
   confuse.
2. Every other due ``scheduled`` announcement becomes ``sending`` and gets one ``pending``
   delivery row per active subscriber of its audience, in the same transaction, by one
   ``INSERT ... SELECT`` inside the database (subscribers are never loaded into Python, so
   memory does not grow with their number).
3. The worker claims a batch of pending deliveries with a lease (``claimed_by``,
   ``claimed_until``) in a short transaction: on PostgreSQL ``SELECT ... FOR UPDATE SKIP
   LOCKED``, so workers of several bot instances take disjoint batches; on SQLite the
   transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time). It then sends
   outside any transaction, one message at a time, paced to ``rate_per_second``, and marks
   each delivery ``sent``, ``blocked`` or ``failed`` right after its send returns. Just
   before each send it re-checks, in one ``UPDATE``, that the delivery is still pending,
   still leased to this worker (the lease is renewed) and its subscriber still active: an
   unsubscribe during a broadcast takes effect at once.
4. An announcement without pending deliveries left is marked ``done`` (by exactly one
   worker: a conditional ``UPDATE``) and ``on_finished`` gets its totals.

Delivery guarantee: **at-least-once, with at most one message in doubt per worker crash.**
A delivery is marked ``sent`` right after the channel accepted it. If the process dies in
between (or the database write fails), that single delivery is still ``pending`` with this
worker's lease; once the lease expires another pass sends it again, so that one subscriber
may get the message twice. The other choice, marking ``sending`` before sending
(at-most-once), would turn the same instant into a message silently never delivered.
These are announcements of a health forum (a room change, a cancelled session, an urgent
notice): a rare duplicate costs a subscriber a second glance, a silent miss can cost them
the information, so we choose the duplicate. Everything not yet sent at the crash is sent
exactly once after the lease expires (or at once after a clean cancellation, which
releases the leases of the batch it did not reach).

Errors the :class:`Sender` raises: :class:`Blocked` (the user blocked the bot: delivery
``blocked``, subscriber ``blocked`` and skipped from then on), :class:`RetryLater` (the
channel's flood control: the worker waits the given seconds, then sends the same message
again), :class:`TransientError` (network trouble, a 5xx: retried with exponential backoff
up to ``max_attempts`` attempts, then ``failed`` with ``last_error``); any other exception
is a permanent failure of that message (``failed``).

The rate is per worker: with several bot instances sending at the same time, give each
BROADCAST_RATE = (the channel's limit) / (number of instances).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.storage.models import (
    MAX_ERROR_CHARS,
    MAX_WORKER_CHARS,
    AnnouncementModel,
    DeliveryModel,
    SubscriberModel,
    as_utc,
    utc_now,
)
from bot.storage.subscriptions import BLOCKED_ERROR, UNSUBSCRIBED_ERROR

from .admin import AnnouncementReport, audience_filter, audience_size, report_in, text_for, texts_of

log = logging.getLogger(__name__)

_a = AnnouncementModel.__table__
_d = DeliveryModel.__table__
_s = SubscriberModel.__table__

MAX_BACKOFF_SECONDS = 60.0

# The two statements run for every message, built once (building SQLAlchemy expressions
# costs more than SQLite executing them).
_THIS = sa.and_(_d.c.announcement_id == sa.bindparam("aid"),
                _d.c.subscriber_id == sa.bindparam("sid"))
_RENEW = (sa.update(_d)
          .where(_THIS, _d.c.status == "pending", _d.c.claimed_by == sa.bindparam("me"),
                 sa.exists().where(_s.c.id == _d.c.subscriber_id, _s.c.status == "active"))
          .values(claimed_until=sa.bindparam("until", type_=_d.c.claimed_until.type)))
_MARK_SENT = (sa.update(_d).where(_THIS)
              .values(status="sent", attempts=_d.c.attempts + 1, last_error=None,
                      sent_at=sa.bindparam("now", type_=_d.c.sent_at.type),
                      claimed_until=None))


class Blocked(Exception):
    """The user blocked the bot (or deleted the chat): never send to them again."""


class RetryLater(Exception):
    """The channel asks to wait ``seconds`` before sending anything again (flood control)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = float(seconds)


class TransientError(Exception):
    """A failure that may pass (network, timeout, server error): retry later."""


class Sender(Protocol):
    """One channel's way to send a text to a chat (Telegram, WeChat, a test fake)."""

    async def send(self, chat_id: str, text: str) -> None:
        """Send ``text`` to ``chat_id``.

        Raises:
            Blocked, RetryLater, TransientError: as described in the module docstring;
            any other exception is a permanent failure of this message.
        """


@dataclass(frozen=True)
class _Claimed:
    announcement_id: str
    subscriber_id: int
    chat_id: str
    language: str | None
    attempts: int


class _Pacer:
    """Token bucket on the injected clock: on average at most ``rate`` acquisitions per
    second, bursts of at most ``capacity`` (1 below 100/s: strict pacing). Starts empty."""

    def __init__(self, rate: float, clock: Callable[[], datetime],
                 sleep: Callable[[float], Awaitable[None]]) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate * 0.01)
        self.tokens = 0.0
        self.clock, self.sleep = clock, sleep
        self.last: float | None = None
        self.paused_until = 0.0

    def _now(self) -> float:
        return self.clock().timestamp()

    async def acquire(self) -> None:
        while True:
            now = self._now()
            if now < self.paused_until:
                await self.sleep(self.paused_until - now)
                continue
            if self.last is not None:
                self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now
            # clocks tick in microseconds: a shortfall below that is rounding, not a debt
            if self.tokens >= 1.0 - max(1e-9, self.rate * 1e-6):
                self.tokens = max(0.0, self.tokens - 1.0)
                return
            await self.sleep((1.0 - self.tokens) / self.rate)

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` from now (flood control)."""
        now = self._now()
        self.paused_until = max(self.paused_until, now + seconds)
        self.tokens, self.last = 0.0, self.paused_until


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


class BroadcastWorker:
    """Sends due announcements through one :class:`Sender`; see the module docstring.

    Run :meth:`run_due` periodically (e.g. every 30 s from the channel's job queue). Any
    number of workers may run on one PostgreSQL database; on SQLite, several are safe too
    but take turns at every write.
    """

    def __init__(self, engine: Engine, sender: Sender, *, worker_id: str,
                 rate_per_second: float = 25.0, batch: int = 200, lease_seconds: float = 60,
                 max_attempts: int = 5, max_age: timedelta = timedelta(hours=6),
                 clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 on_finished: Callable[[AnnouncementReport], Awaitable[None]] | None = None,
                 ) -> None:
        """Args:
            engine: SQLite or PostgreSQL engine, migrated.
            sender: the channel's sender.
            worker_id: names this worker in the leases (1-100 characters; unique per
                process, e.g. "telegram@host:pid").
            rate_per_second: average send rate (> 0) of this worker.
            batch: deliveries claimed per transaction (>= 1); lowered when the rate is so
                low that a batch would outlast half its lease.
            lease_seconds: how long a claimed delivery stays reserved to this worker
                (renewed before each send); after a crash, the time before another worker
                sends what this one had claimed.
            max_attempts: sends tried per delivery on TransientError before it fails.
            max_age: announcements due longer ago than this are skipped, not sent.
            clock: returns aware datetimes (tests fake it).
            sleep: ``asyncio.sleep`` or a fake (tests: advances the fake clock).
            on_finished: awaited once per announcement that ends (done or skipped), by the
                worker that ended it; its exceptions are logged, not raised.
        Raises:
            ValueError: on an argument out of range.
        """
        if not worker_id or len(worker_id) > MAX_WORKER_CHARS:
            raise ValueError(f"worker_id must be 1 to {MAX_WORKER_CHARS} characters")
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be positive, got {rate_per_second}")
        if batch < 1 or max_attempts < 1 or lease_seconds <= 0:
            raise ValueError("batch and max_attempts must be >= 1, lease_seconds > 0")
        self.engine, self.sender, self.worker_id = engine, sender, worker_id
        self.rate = float(rate_per_second)
        self.batch = max(1, min(batch, int(self.rate * lease_seconds / 2)))
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts, self.max_age = max_attempts, max_age
        self._clock, self._sleep, self.on_finished = clock, sleep, on_finished
        self._pacer = _Pacer(self.rate, clock, sleep)
        self._sqlite = engine.dialect.name == "sqlite"
        self._texts: dict[str, dict[str, str]] = {}

    # --- helpers ---------------------------------------------------------------------

    def _now(self) -> datetime:
        return as_utc(self._clock())

    def _begin_write(self, conn: Connection) -> None:
        if self._sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    async def _db(self, fn, *args):
        """Run a short blocking database call off the event loop (the bot keeps
        answering users meanwhile)."""
        return await asyncio.to_thread(fn, *args)

    async def _report(self, reports: list[AnnouncementReport]) -> None:
        for rep in reports:
            log.info("announcement %s %s: sent %d, failed %d, blocked %d, skipped %d",
                     rep.id, rep.status, rep.sent, rep.failed, rep.blocked, rep.skipped)
            if self.on_finished is not None:
                try:
                    await self.on_finished(rep)
                except Exception:  # noqa: BLE001 - a report must not stop the sending
                    log.exception("on_finished failed for announcement %s", rep.id)

    # --- one pass --------------------------------------------------------------------

    async def run_due(self) -> int:
        """One pass: skip stale announcements, start due ones, deliver every claimable
        pending delivery, finish announcements with nothing pending.

        Returns:
            the number of messages this worker sent in this pass.
        Raises:
            sqlalchemy.exc.SQLAlchemyError: when the database fails (what was sent stays
            marked; the next pass resumes).
        """
        await self._report(await self._db(self._skip_stale))
        await self._db(self._start_due)
        sent = 0
        while True:
            batch = await self._db(self._claim)
            if not batch:
                break
            sent += await self._deliver(batch)
            await self._report(await self._db(self._finish))
        await self._report(await self._db(self._finish))
        return sent

    def _skip_stale(self) -> list[AnnouncementReport]:
        now = self._now()
        reports = []
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.update(_a).where(_a.c.status == "scheduled",
                                    _a.c.send_at < now - self.max_age)
                .values(status="skipped", finished_at=now)
                .returning(_a.c.id, _a.c.audience, _a.c.started_at)).all()
            for row in rows:
                reports.append(AnnouncementReport(
                    id=row.id, status="skipped", skipped=audience_size(conn, row.audience),
                    started_at=row.started_at, finished_at=now))
        return reports

    def _start_due(self) -> None:
        now = self._now()
        with self.engine.connect() as conn:
            due = conn.execute(sa.select(_a.c.id, _a.c.audience)
                               .where(_a.c.status == "scheduled", _a.c.send_at <= now)
                               .order_by(_a.c.send_at, _a.c.id)).all()
        for row in due:
            with self.engine.begin() as conn:
                self._begin_write(conn)
                started = conn.execute(
                    sa.update(_a).where(_a.c.id == row.id, _a.c.status == "scheduled")
                    .values(status="sending", started_at=now)).rowcount
                if not started:
                    continue  # another worker started it, or it was cancelled meanwhile
                audience = (sa.select(sa.literal(row.id, sa.String), _s.c.id,
                                      sa.literal("pending", sa.String),
                                      sa.literal(0, sa.Integer))
                            .where(audience_filter(row.audience)))
                conn.execute(sa.insert(_d).from_select(
                    ["announcement_id", "subscriber_id", "status", "attempts"], audience))
                log.info("announcement %s: sending started", row.id)

    def _claim(self) -> list[_Claimed]:
        now = self._now()
        with self.engine.begin() as conn:
            self._begin_write(conn)
            query = (sa.select(_d.c.announcement_id, _d.c.subscriber_id, _d.c.attempts,
                               _s.c.chat_id, _s.c.language)
                     .join(_s, _s.c.id == _d.c.subscriber_id)
                     .join(_a, _a.c.id == _d.c.announcement_id)
                     .where(_d.c.status == "pending", _a.c.status == "sending",
                            sa.or_(_d.c.claimed_until.is_(None), _d.c.claimed_until < now))
                     .order_by(_a.c.send_at, _d.c.announcement_id, _d.c.subscriber_id)
                     .limit(self.batch))
            if not self._sqlite:
                query = query.with_for_update(skip_locked=True, of=_d)
            rows = conn.execute(query).all()
            if not rows:
                return []
            keys = [(r.announcement_id, r.subscriber_id) for r in rows]
            conn.execute(sa.update(_d)
                         .where(sa.tuple_(_d.c.announcement_id, _d.c.subscriber_id).in_(keys))
                         .values(claimed_by=self.worker_id, claimed_until=now + self.lease))
            for aid in {r.announcement_id for r in rows} - set(self._texts):
                row = conn.execute(sa.select(_a).where(_a.c.id == aid)).one()
                self._texts[aid] = texts_of(row)
        return [_Claimed(r.announcement_id, r.subscriber_id, r.chat_id, r.language,
                         r.attempts) for r in rows]

    def _finish(self) -> list[AnnouncementReport]:
        now = self._now()
        pending = sa.exists().where(_d.c.announcement_id == _a.c.id, _d.c.status == "pending")
        reports = []
        with self.engine.connect() as conn:
            ids = conn.execute(sa.select(_a.c.id).where(_a.c.status == "sending", ~pending)
                               ).scalars().all()
        for aid in ids:
            with self.engine.begin() as conn:
                done = conn.execute(sa.update(_a).where(_a.c.id == aid,
                                                        _a.c.status == "sending", ~pending)
                                    .values(status="done", finished_at=now)).rowcount
                if done:
                    reports.append(report_in(conn, aid))
            self._texts.pop(aid, None)
        return reports

    # --- delivering ------------------------------------------------------------------

    def _key(self, item: _Claimed):
        return sa.and_(_d.c.announcement_id == item.announcement_id,
                       _d.c.subscriber_id == item.subscriber_id)

    def _confirm(self, item: _Claimed) -> bool:
        """Renew the lease if the delivery is still ours, pending, and its subscriber
        active; settle it when the subscriber is no longer active."""
        now = self._now()
        with self.engine.begin() as conn:
            if conn.execute(_RENEW, {"aid": item.announcement_id, "sid": item.subscriber_id,
                                     "me": self.worker_id,
                                     "until": now + self.lease}).rowcount:
                return True
            status = conn.execute(sa.select(_s.c.status)
                                  .where(_s.c.id == item.subscriber_id)).scalar()
            if status in ("blocked", "unsubscribed"):  # left pending by a direct DB edit
                blocked = status == "blocked"
                conn.execute(sa.update(_d).where(self._key(item), _d.c.status == "pending")
                             .values(status="blocked" if blocked else "failed",
                                     last_error=BLOCKED_ERROR if blocked else UNSUBSCRIBED_ERROR,
                                     claimed_by=None, claimed_until=None))
        return False

    def _mark(self, item: _Claimed, status: str, error: str | None = None) -> None:
        now = self._now()
        with self.engine.begin() as conn:
            if status == "sent":  # the common case, one prepared statement
                conn.execute(_MARK_SENT, {"aid": item.announcement_id,
                                          "sid": item.subscriber_id, "now": now})
                return
            values = {"attempts": _d.c.attempts + 1, "last_error": error}
            if status == "sent":
                values["sent_at"] = now
            if status != "pending":  # settled; a retried one keeps its lease while waiting
                values["status"] = status
                values["claimed_until"] = None
            conn.execute(sa.update(_d).where(self._key(item)).values(**values))
            if status == "blocked":
                conn.execute(sa.update(_s).where(_s.c.id == item.subscriber_id,
                                                 _s.c.status == "active")
                             .values(status="blocked", updated_at=now))
                conn.execute(sa.update(_d).where(_d.c.subscriber_id == item.subscriber_id,
                                                 _d.c.status == "pending")
                             .values(status="blocked", last_error=BLOCKED_ERROR,
                                     claimed_by=None, claimed_until=None))

    def _release(self, items: list[_Claimed]) -> None:
        if not items:
            return
        keys = [(i.announcement_id, i.subscriber_id) for i in items]
        with self.engine.begin() as conn:
            conn.execute(sa.update(_d)
                         .where(sa.tuple_(_d.c.announcement_id, _d.c.subscriber_id).in_(keys),
                                _d.c.claimed_by == self.worker_id, _d.c.status == "pending")
                         .values(claimed_by=None, claimed_until=None))

    async def _deliver(self, batch: list[_Claimed]) -> int:
        sent = 0
        for index, item in enumerate(batch):
            try:
                sent += await self._deliver_one(item)
            except BaseException:
                # Crash or cancellation: ``item`` may have been sent (in doubt, its lease
                # runs out); the rest of the batch was not, hand it back at once.
                try:
                    self._release(batch[index + 1:])
                except Exception:  # noqa: BLE001 - the leases expire anyway
                    log.exception("could not release the claimed deliveries")
                raise
        return sent

    async def _deliver_one(self, item: _Claimed) -> int:
        attempts = item.attempts
        text = text_for(self._texts[item.announcement_id], item.language)
        while True:
            await self._pacer.acquire()
            if not await self._db(self._confirm, item):
                return 0
            try:
                await self.sender.send(item.chat_id, text)
            except RetryLater as exc:
                log.info("flood control: waiting %.1f s", exc.seconds)
                self._pacer.pause(exc.seconds)
                continue
            except Blocked as exc:
                await self._db(self._mark, item, "blocked", _error_text(exc) or BLOCKED_ERROR)
                return 0
            except TransientError as exc:
                attempts += 1
                if attempts >= self.max_attempts:
                    await self._db(self._mark, item, "failed", _error_text(exc))
                    return 0
                await self._db(self._mark, item, "pending", _error_text(exc))
                await self._sleep(min(MAX_BACKOFF_SECONDS, 2.0 ** (attempts - 1)))
                continue
            except Exception as exc:  # noqa: BLE001 - any other error fails this message
                log.warning("announcement %s: permanent failure: %s", item.announcement_id,
                            _error_text(exc))
                await self._db(self._mark, item, "failed", _error_text(exc))
                return 0
            await self._db(self._mark, item, "sent")
            return 1
