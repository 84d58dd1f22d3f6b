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
   transaction starts with ``BEGIN IMMEDIATE``, one writer at a time). It then sends
   outside any transaction, a chunk of ``concurrency`` messages at once: per chunk, one
   round trip reserves the chunk's tokens of the shared rate
   (:class:`~bot.broadcast.ratelimit.SharedRateLimiter`) and one re-checks that its
   deliveries are still pending, still leased to this worker and their subscribers still
   active (an unsubscribe during a broadcast takes effect at once); once half of a lease has
   passed, the leases of the rest of the batch are renewed with it. The chunk's results
   (``sent``, ``blocked``, ``failed`` ...) are written in one transaction while the next
   chunk is being sent.
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

The rate is the bot's: every instance takes its tokens from one bucket in the database.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, cast

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
from .ratelimit import Reservation, SharedRateLimiter, transaction

log = logging.getLogger(__name__)

_a = cast(sa.Table, AnnouncementModel.__table__)
_d = cast(sa.Table, DeliveryModel.__table__)
_s = cast(sa.Table, SubscriberModel.__table__)

MAX_BACKOFF_SECONDS = 60.0
MAX_WAIT_IN_PASS = 60.0        # a pass waits for retries due this soon; later ones: next pass
IN_DOUBT_RETRY_SECONDS = 2.0   # the one retry of a timed-out send, after this pause

# The two statements run for every chunk, built once (building SQLAlchemy expressions
# costs more than the database executing them); one statement for a whole chunk, not one
# per message (the "IN" list is expanded at execution).
_PACE = (sa.update(_s).where(_s.c.id.in_(sa.bindparam("sids", expanding=True)))
         .values(next_send_at=sa.bindparam("next", type_=_s.c.next_send_at.type)))
_MARK_SENT = (sa.update(_d)
              .where(_d.c.announcement_id == sa.bindparam("aid"),
                     _d.c.subscriber_id.in_(sa.bindparam("sids", expanding=True)))
              .values(status="sent", attempts=_d.c.attempts + 1, last_error=None,
                      sent_at=sa.bindparam("now", type_=_d.c.sent_at.type),
                      claimed_until=None))


class Blocked(Exception):
    """The user blocked the bot (or deleted the chat): never send to them again."""


class Unreachable(Exception):
    """The chat is gone for good as far as this bot can tell (Telegram: "chat not found",
    "bot was kicked", "user is deactivated"; WeChat: the follower unsubscribed): the
    subscriber is marked ``unreachable`` with the channel's description and skipped from
    then on. Not retried."""


class PermanentError(Exception):
    """This message can never be sent as it is (a Bad Request): the delivery fails with the
    channel's description, at once, without retries; the subscriber stays active."""


class Migrated(Exception):
    """The chat moved to ``new_chat_id`` (a Telegram group upgraded to a supergroup): the
    subscription moves there and the message is sent there."""

    def __init__(self, new_chat_id: str | int) -> None:
        super().__init__(f"the chat moved to {new_chat_id}")
        self.new_chat_id = str(new_chat_id)


class RetryLater(Exception):
    """The channel asks to wait ``seconds`` before sending anything again (flood control)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = float(seconds)


class InDoubt(Exception):
    """The request left but no answer came back (a read time-out): the channel may have
    delivered the message. Retried at most once, and reported as "in doubt"."""


class TransientError(Exception):
    """A failure that may pass and where nothing was delivered (connection refused, a
    5xx, a busy channel): retried with backoff, without holding up other deliveries."""


class Sender(Protocol):
    """One channel's way to send a text to a chat (Telegram, WeChat, a test fake).

    Optional attributes a sender may have: ``channel`` (str, the subscribers' channel it
    serves: the worker then claims only those) and ``min_interval(chat_id) -> float``
    (seconds between two messages to one chat; Telegram: 1 s, 3 s in groups).
    """

    async def send(self, chat_id: str, text: str) -> None:
        """Send ``text`` to ``chat_id``.

        Raises:
            Blocked, Unreachable, PermanentError, Migrated, RetryLater, InDoubt,
            TransientError: as described in the module docstring; any other exception is
            a permanent failure of this message.
        """


@dataclass(frozen=True)
class _Claimed:
    announcement_id: str
    subscriber_id: int
    chat_id: str
    language: str | None
    attempts: int
    in_doubt: bool
    leased_until: datetime   # as set by the claim


@dataclass
class _Outcome:
    """What one send came to; written with the others of its chunk in one transaction."""

    item: _Claimed
    status: str                      # sent, blocked, unreachable, failed, retry, doubt, later
    error: str | None = None
    wait: float = 0.0                # seconds before this delivery may be tried again


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


class BroadcastWorker:
    """Sends due announcements through one :class:`Sender`; see the module docstring.

    Run :meth:`run_due` periodically (e.g. every 10 s from the channel's job queue). Any
    number of workers may run on one PostgreSQL database; on SQLite, several are safe too
    but take turns at every write. :meth:`stop` (on SIGTERM) ends a pass within seconds.
    """

    def __init__(self, engine: Engine, sender: Sender, *, worker_id: str,
                 rate_per_second: float = 25.0, batch: int = 200, lease_seconds: float = 60,
                 max_attempts: int = 5, max_age: timedelta = timedelta(hours=6),
                 concurrency: int | None = None, channel: str | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], Awaitable[None]] | None = None,
                 on_finished: Callable[[AnnouncementReport], Awaitable[None]] | None = None,
                 on_migrated: Callable[[str, str, str], None] | None = None,
                 ) -> None:
        """Args:
            engine: SQLite or PostgreSQL engine, migrated.
            sender: the channel's sender.
            worker_id: names this worker in the leases (1-100 characters; unique per
                process, e.g. "telegram@host:pid").
            rate_per_second: messages per second for the whole bot on this channel, all
                instances together (> 0): a token bucket in the database
                (:class:`~bot.broadcast.ratelimit.SharedRateLimiter`).
            batch: deliveries claimed per transaction (>= 1); lowered when the rate is so
                low that a batch would outlast half its lease.
            lease_seconds: how long a claimed delivery stays reserved to this worker
                (renewed just before each send); after a crash, the time before another
                worker sends what this one had claimed.
            max_attempts: sends tried per delivery on TransientError before it fails.
            max_age: announcements due longer ago than this are skipped, not sent.
            concurrency: messages sent at once (>= 1); default 1 below 50 messages/s,
                else one twenty-fifth of the rate (40 at 1,000/s). Also bounds the
                messages in doubt after a kill -9 (results are written per chunk, while
                the next chunk is sent: at most two chunks).
            channel: send only to subscribers of this channel (default: the sender's
                ``channel`` attribute; None = every subscriber). Also names the bucket.
            clock: returns aware datetimes (tests fake it).
            sleep: ``asyncio.sleep``-like (tests: advances the fake clock); by default
                waits are cut short by :meth:`stop`.
            on_finished: awaited once per announcement that ends (done or skipped), by the
                worker that ended it; its exceptions are logged, not raised.
            on_migrated: called as (channel, old chat id, new chat id) after a chat moved
                (the service moves the conversation state); exceptions are logged.
        Raises:
            ValueError: on an argument out of range.
        """
        if not worker_id or len(worker_id) > MAX_WORKER_CHARS:
            raise ValueError(f"worker_id must be 1 to {MAX_WORKER_CHARS} characters")
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be positive, got {rate_per_second}")
        if batch < 1 or max_attempts < 1 or lease_seconds <= 0:
            raise ValueError("batch and max_attempts must be >= 1, lease_seconds > 0")
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.engine, self.sender, self.worker_id = engine, sender, worker_id
        self.rate = float(rate_per_second)
        self.batch = max(1, min(batch, int(self.rate * lease_seconds / 2)))
        self.lease_seconds = float(lease_seconds)
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts, self.max_age = max_attempts, max_age
        self.concurrency = concurrency or (1 if self.rate < 50 else int(self.rate / 25))
        self.channel = channel if channel is not None else getattr(sender, "channel", None)
        self._clock, self.on_finished, self.on_migrated = clock, on_finished, on_migrated
        self._fake_sleep = sleep
        self._stopping = False
        self._backoff = 0.0   # s to wait after a pass's batch when the bucket is in debt
        self._stop_event: asyncio.Event | None = None
        self.limiter = SharedRateLimiter(engine, self.channel or "all", self.rate, clock,
                                         self._wait)
        self.limiter.chunk = self.concurrency   # a chunk of tokens is one chunk of sends
        self.limiter.capacity = float(self.limiter.chunk)
        self._sqlite = engine.dialect.name == "sqlite"
        self._texts: dict[str, dict[str, str]] = {}
        interval = getattr(sender, "min_interval", None)
        self._interval: Callable[[str], float] = interval if callable(interval) else (
            lambda chat_id: 0.0)

    # --- helpers ---------------------------------------------------------------------

    def _now(self) -> datetime:
        return as_utc(self._clock())

    def _begin_write(self, conn: Connection) -> None:
        if self._sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _fast_commit(self, conn: Connection) -> None:
        """PostgreSQL: this transaction's commit does not wait for the disk flush. A
        database crash can then lose the last fraction of a second of "sent" marks, and
        those messages are sent again: the at-least-once promise a bot crash has anyway."""
        if not self._sqlite:
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    async def _db(self, fn, *args):
        """Run a short blocking database call off the event loop (the bot keeps
        answering users meanwhile)."""
        return await asyncio.to_thread(fn, *args)

    async def _wait(self, seconds: float) -> None:
        """Wait ``seconds`` (the injected sleep in tests); :meth:`stop` cuts it short."""
        if self._fake_sleep is not None:
            await self._fake_sleep(seconds)
            return
        if self._stop_event is None:
            self._stop_event = asyncio.Event()
            if self._stopping:
                self._stop_event.set()
        try:
            await asyncio.wait_for(self._stop_event.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            pass

    def stop(self) -> None:
        """Stop claiming (call on SIGTERM, from the event loop's thread): the pass sends
        what is in flight, hands the rest of its batch back at once (other instances or
        the next start send it) and returns; waits are cut short."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping

    async def _report(self, reports: list[AnnouncementReport]) -> None:
        for rep in reports:
            log.info("announcement %s %s: sent %d, in doubt %d, unreachable %d, failed %d, "
                     "blocked %d, skipped %d", rep.id, rep.status, rep.sent, rep.in_doubt,
                     rep.unreachable, rep.failed, rep.blocked, rep.skipped)
            if self.on_finished is not None:
                try:
                    await self.on_finished(rep)
                except Exception:  # noqa: BLE001 - a report must not stop the sending
                    log.exception("on_finished failed for announcement %s", rep.id)

    # --- one pass --------------------------------------------------------------------

    async def run_due(self) -> int:
        """One pass: skip stale announcements, start due ones, deliver every claimable
        pending delivery (waiting for retries due within MAX_WAIT_IN_PASS seconds), finish
        announcements with nothing pending.

        Returns:
            the number of messages this worker sent in this pass.
        Raises:
            sqlalchemy.exc.SQLAlchemyError: when the database fails (what was sent stays
            marked; the next pass resumes).
        """
        await self._report(await self._db(self._skip_stale))
        await self._db(self._start_due)
        sent = 0
        while not self._stopping:
            paused = await self._db(self.limiter.paused_for)
            if paused > 0:   # flood control: wait it out holding no lease, or leave it
                if paused > MAX_WAIT_IN_PASS:
                    break
                await self._wait(paused)
                continue
            batch = await self._db(self._claim)
            if not batch:
                wait = await self._db(self._next_retry)
                if wait is None or wait > MAX_WAIT_IN_PASS:
                    break
                await self._wait(wait)
                continue
            self._backoff = 0.0
            sent += await self._deliver(batch)
            await self._report(await self._db(self._finish))
            if self._backoff > 0:   # the shared bucket is deep in debt: let it recover
                if self._backoff > MAX_WAIT_IN_PASS:
                    break
                await self._wait(self._backoff)
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
            if not self._sqlite:
                # Fresh statistics for the rows just added: without them PostgreSQL
                # guesses an announcement has a handful of deliveries (and a fresh list a
                # handful of subscribers) and reads all of them for every chunk instead of
                # the chunk's by index.
                with self.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE deliveries, subscribers")

    def _claimable(self, now: datetime):
        condition = sa.and_(_d.c.status == "pending",
                            sa.or_(_d.c.claimed_until.is_(None), _d.c.claimed_until <= now),
                            sa.or_(_s.c.next_send_at.is_(None), _s.c.next_send_at <= now))
        if self.channel is not None:
            condition = sa.and_(condition, _s.c.channel == self.channel)
        return condition

    def _claim(self) -> list[_Claimed]:
        """Lease up to ``batch`` pending deliveries, at most one per chat, the earliest
        announcement's first. Per-chat pacing: a chat is not claimed before its
        ``next_send_at`` (set when a message to it was sent) nor, while several
        announcements are being sent, while another worker holds a delivery to it."""
        now = self._now()
        with self.engine.begin() as conn:
            self._begin_write(conn)
            condition = self._claimable(now)
            sending: Sequence[str] = conn.execute(
                sa.select(_a.c.id).where(_a.c.status == "sending")
                .order_by(_a.c.send_at, _a.c.id)).scalars().all()
            if len(sending) > 1:
                other = _d.alias("other")
                condition = sa.and_(condition, ~sa.exists().where(
                    other.c.subscriber_id == _d.c.subscriber_id,
                    other.c.status == "pending", other.c.claimed_by.is_not(None),
                    other.c.claimed_until > now))
            rows: list[sa.Row] = []
            seen: set[int] = set()
            for aid in sending:
                # one announcement at a time, in subscriber order: PostgreSQL walks the
                # (announcement, status, subscriber) index and stops after the batch,
                # instead of reading and sorting every pending delivery for every batch
                query = (sa.select(_d.c.announcement_id, _d.c.subscriber_id, _d.c.attempts,
                                   _d.c.in_doubt, _s.c.chat_id, _s.c.language)
                         .join(_s, _s.c.id == _d.c.subscriber_id)
                         .where(_d.c.announcement_id == aid, condition)
                         .order_by(_d.c.subscriber_id)
                         .limit(self.batch - len(rows)))
                if not self._sqlite:
                    query = query.with_for_update(skip_locked=True, of=_d)
                for r in conn.execute(query).all():
                    if r.subscriber_id not in seen:   # a second announcement waits its turn
                        seen.add(r.subscriber_id)
                        rows.append(r)
                if len(rows) >= self.batch:
                    break
            if not rows:
                return []
            conn.execute(sa.update(_d)
                         .where(_of(rows))
                         .values(claimed_by=self.worker_id, claimed_until=now + self.lease))
            for aid in {r.announcement_id for r in rows} - set(self._texts):
                row = conn.execute(sa.select(_a).where(_a.c.id == aid)).one()
                self._texts[aid] = texts_of(row)
        return [_Claimed(r.announcement_id, r.subscriber_id, r.chat_id, r.language,
                         r.attempts, bool(r.in_doubt), now + self.lease) for r in rows]

    def _next_retry(self) -> float | None:
        """Seconds until the earliest pending delivery that waits for its retry time or
        its chat's pacing (and that no other worker holds), or None when there is none."""
        now = self._now()
        waiting = sa.and_(_d.c.status == "pending", _a.c.status == "sending",
                          _d.c.claimed_by.is_(None))
        if self.channel is not None:
            waiting = sa.and_(waiting, _s.c.channel == self.channel)
        joined = _d.join(_s, _s.c.id == _d.c.subscriber_id).join(
            _a, _a.c.id == _d.c.announcement_id)
        with self.engine.connect() as conn:
            retry = conn.execute(sa.select(sa.func.min(_d.c.claimed_until)).select_from(joined)
                                 .where(waiting, _d.c.claimed_until > now)).scalar()
            paced = conn.execute(sa.select(sa.func.min(_s.c.next_send_at)).select_from(joined)
                                 .where(waiting, _s.c.next_send_at > now)).scalar()
        times = [as_utc(t) for t in (retry, paced) if t is not None]
        if not times:
            return None
        return max(0.0, (min(times) - now).total_seconds())

    def _finish(self) -> list[AnnouncementReport]:
        now = self._now()
        pending = sa.exists().where(_d.c.announcement_id == _a.c.id, _d.c.status == "pending")
        reports: list[AnnouncementReport] = []
        with self.engine.connect() as conn:
            ids: Sequence[str] = conn.execute(sa.select(_a.c.id).where(_a.c.status == "sending", ~pending)
                               ).scalars().all()
        for aid in ids:
            with self.engine.begin() as conn:
                done = conn.execute(sa.update(_a).where(_a.c.id == aid,
                                                        _a.c.status == "sending", ~pending)
                                    .values(status="done", finished_at=now)).rowcount
                if done:
                    report = report_in(conn, aid)
                    assert report is not None  # the announcement was updated just above
                    reports.append(report)
            self._texts.pop(aid, None)
        return reports

    # --- delivering ------------------------------------------------------------------

    def _confirm(self, items: list[_Claimed], conn: Connection | None = None
                 ) -> list[_Claimed]:
        """Check, by a read, that ``items`` are still ours, pending, with an active
        subscriber; settle those whose subscriber left. Returns the ones to send. Runs on
        ``conn`` if given."""
        # the subscribers' ids twice over: PostgreSQL then reads only these rows of both
        # tables, whatever its statistics say
        mine = sa.and_(_of(items), _d.c.status == "pending", _d.c.claimed_by == self.worker_id,
                       sa.exists().where(_s.c.id == _d.c.subscriber_id,
                                         _s.c.id.in_([i.subscriber_id for i in items]),
                                         _s.c.status == "active"))
        keys = (_d.c.announcement_id, _d.c.subscriber_id)
        with transaction(self.engine, conn) as conn:
            self._fast_commit(conn)
            renewed = {tuple(r) for r in conn.execute(sa.select(*keys).where(mine))}
            lost = [i for i in items if (i.announcement_id, i.subscriber_id) not in renewed]
            for item in lost:
                status = conn.execute(sa.select(_s.c.status)
                                      .where(_s.c.id == item.subscriber_id)).scalar()
                if status in ("blocked", "unsubscribed", "unreachable"):
                    final = "failed" if status == "unsubscribed" else status
                    conn.execute(sa.update(_d).where(_key(item), _d.c.status == "pending")
                                 .values(status=final,
                                         last_error=UNSUBSCRIBED_ERROR if final == "failed"
                                         else BLOCKED_ERROR if final == "blocked"
                                         else "the chat was unreachable",
                                         claimed_by=None, claimed_until=None))
        return [i for i in items if (i.announcement_id, i.subscriber_id) in renewed]

    def _record(self, outcomes: list[_Outcome]) -> None:
        """Write the results of one chunk in one transaction (sent ones in one
        executemany)."""
        if not outcomes:
            return
        now = self._now()
        with self.engine.begin() as conn:
            self._fast_commit(conn)
            sent = [o.item for o in outcomes if o.status == "sent"]
            by_announcement: dict[str, list[int]] = {}
            for item in sent:
                by_announcement.setdefault(item.announcement_id, []).append(item.subscriber_id)
            for aid, sids in by_announcement.items():
                conn.execute(_MARK_SENT, {"aid": aid, "sids": sids, "now": now})
            # pacing counts from the send itself (the claim set a first, earlier mark)
            self._pace(conn, [(i.subscriber_id, i.chat_id) for i in sent], now)
            for o in outcomes:
                if o.status == "sent":
                    continue
                key = _key(o.item)
                if o.status in ("retry", "doubt", "later"):
                    # back in the queue, unleased, not before its time: others go on
                    values: dict = {"claimed_by": None,
                                    "claimed_until": now + timedelta(seconds=o.wait),
                                    "last_error": o.error}
                    if o.status != "later":
                        values["attempts"] = _d.c.attempts + 1
                    if o.status == "doubt":
                        values["in_doubt"] = True
                    conn.execute(sa.update(_d).where(key).values(**values))
                    continue
                conn.execute(sa.update(_d).where(key).values(
                    status=o.status, attempts=_d.c.attempts + 1, last_error=o.error,
                    claimed_until=None))
                if o.status in ("blocked", "unreachable"):
                    sub = _s.c.id == o.item.subscriber_id
                    conn.execute(sa.update(_s).where(sub, _s.c.status == "active")
                                 .values(status=o.status, updated_at=now,
                                         last_error=o.error if o.status == "unreachable"
                                         else None))
                    conn.execute(sa.update(_d).where(_d.c.subscriber_id == o.item.subscriber_id,
                                                     _d.c.status == "pending")
                                 .values(status=o.status,
                                         last_error=BLOCKED_ERROR if o.status == "blocked"
                                         else o.error,
                                         claimed_by=None, claimed_until=None))

    def _pace(self, conn: Connection, chats: list[tuple[int, str]], now: datetime) -> None:
        """Set when each of ``chats`` ((subscriber id, chat id) pairs) may get its next
        message: ``now`` + the sender's ``min_interval`` (one UPDATE per interval)."""
        by_interval: dict[float, list[int]] = {}
        for subscriber_id, chat_id in chats:
            interval = self._interval(chat_id)
            if interval > 0:
                by_interval.setdefault(interval, []).append(subscriber_id)
        for interval, sids in by_interval.items():
            conn.execute(_PACE, {"sids": sids, "next": now + timedelta(seconds=interval)})

    def _move_chat(self, item: _Claimed, new_chat_id: str) -> bool:
        """Move the subscriber of ``item`` to ``new_chat_id``; False when that chat is
        subscribed already (then this row is retired and the delivery settled)."""
        now = self._now()
        with self.engine.begin() as conn:
            self._begin_write(conn)
            row = conn.execute(sa.select(_s.c.channel).where(
                _s.c.id == item.subscriber_id)).one()
            taken = conn.execute(sa.select(_s.c.id).where(
                _s.c.channel == row.channel, _s.c.chat_id == new_chat_id)).first()
            if taken is None:
                conn.execute(sa.update(_s).where(_s.c.id == item.subscriber_id)
                             .values(chat_id=new_chat_id, updated_at=now))
                return True
            conn.execute(sa.update(_s).where(_s.c.id == item.subscriber_id)
                         .values(status="unsubscribed", unsubscribed_at=now, updated_at=now))
            conn.execute(sa.update(_d).where(_d.c.subscriber_id == item.subscriber_id,
                                             _d.c.status == "pending")
                         .values(status="failed", last_error=UNSUBSCRIBED_ERROR,
                                 claimed_by=None, claimed_until=None))
            return False

    def _release(self, items: list[_Claimed]) -> None:
        if not items:
            return
        with self.engine.begin() as conn:
            conn.execute(sa.update(_d)
                         .where(_of(items),
                                _d.c.claimed_by == self.worker_id, _d.c.status == "pending")
                         .values(claimed_by=None, claimed_until=None))

    def _reserve(self, items: list[_Claimed], renew: list[_Claimed] | None
                 ) -> tuple[Reservation, list[_Claimed]]:
        """One thread hop per chunk: reserve rate tokens for up to ``len(items)`` sends,
        renew the leases of ``renew`` (the rest of the batch) when given, then confirm the
        items granted (:meth:`_confirm`). Returns the reservation and the items to send."""
        with self.engine.connect() as conn:
            reservation = self.limiter.reserve(len(items), self.lease_seconds / 4, conn)
            if not reservation.granted:
                return reservation, []
            if renew:
                with transaction(self.engine, conn) as conn:
                    self._fast_commit(conn)
                    conn.execute(sa.update(_d).where(_of(renew), _d.c.status == "pending",
                                                     _d.c.claimed_by == self.worker_id)
                                 .values(claimed_until=self._now() + self.lease))
            return reservation, self._confirm(items[:reservation.granted], conn)

    async def _deliver(self, batch: list[_Claimed]) -> int:
        sent = 0
        index = 0
        # The results of a chunk are written while the next chunk is being sent (one write
        # in flight at a time): a database round trip does not stall the sending.
        writing: asyncio.Task | None = None
        # the batch's leases are renewed, all at once, once half of a lease has passed
        leased_until = min(i.leased_until for i in batch)
        try:
            while index < len(batch) and not self._stopping:
                renew = None
                if leased_until - self._now() < self.lease / 2:
                    renew, leased_until = batch[index:], self._now() + self.lease
                reservation, valid = await self._db(
                    self._reserve, batch[index:index + self.concurrency], renew)
                if not reservation.granted:
                    if reservation.paused:   # flood control: run_due waits, holding no lease
                        break
                    if reservation.wait > self.lease_seconds / 4:
                        # the shared bucket is in debt for longer than that (many instances
                        # at a low rate): hand the batch back and let it recover
                        self._backoff = reservation.wait - self.lease_seconds / 4
                        break
                    await self._wait(reservation.wait)   # the bucket's row was just created
                    continue
                if reservation.wait > 0:
                    await self._wait(reservation.wait)   # the reserved tokens become due
                if self._stopping:
                    break   # this chunk was not sent: it goes back with the rest below
                chunk = batch[index:index + reservation.granted]
                index += len(chunk)
                results = await asyncio.gather(*(self._attempt(i) for i in valid),
                                               return_exceptions=True)
                outcomes = [r for r in results if isinstance(r, _Outcome)]
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(self._db(self._record, outcomes))
                sent += sum(o.status == "sent" for o in outcomes)
                crash = next((r for r in results if isinstance(r, BaseException)), None)
                if crash is not None:
                    raise crash
                pause = max((o.wait for o in outcomes if o.status == "later"), default=0.0)
                if pause:
                    log.info("flood control: every instance waits %.1f s", pause)
                    await self._db(self.limiter.pause, pause)
        except BaseException:
            # Crash or cancellation: the chunk in flight may have been sent (in doubt, its
            # lease runs out); the rest of the batch was not, hand it back at once.
            try:
                if writing is not None:
                    await asyncio.shield(writing)   # what is known to be sent stays marked
            except BaseException:  # noqa: BLE001 - the lease covers an unwritten chunk
                log.exception("could not write the results of the last chunk")
            try:
                self._release(batch[index:])
            except Exception:  # noqa: BLE001 - the leases expire anyway
                log.exception("could not release the claimed deliveries")
            raise
        if writing is not None:
            await writing
        if index < len(batch):   # stopping or pausing: what was not sent goes back now
            await self._db(self._release, batch[index:])
        return sent

    async def _attempt(self, item: _Claimed) -> _Outcome:
        """Send one delivery and say what came of it (never raises an Exception)."""
        text = text_for(self._texts[item.announcement_id], item.language)
        chat_id, moved = item.chat_id, False
        while True:
            try:
                await self.sender.send(chat_id, text)
                return _Outcome(item, "sent")
            except Migrated as exc:
                if moved or not await self._db(self._move_chat, item, exc.new_chat_id):
                    return _Outcome(item, "failed", _error_text(exc))
                log.info("a subscribed chat moved; sending there")
                if self.on_migrated is not None:
                    try:
                        self.on_migrated(self.channel or "", chat_id, exc.new_chat_id)
                    except Exception:  # noqa: BLE001 - the delivery matters more
                        log.exception("on_migrated failed")
                chat_id, moved = exc.new_chat_id, True
            except RetryLater as exc:
                return _Outcome(item, "later", _error_text(exc), wait=exc.seconds)
            except Blocked as exc:
                return _Outcome(item, "blocked", _error_text(exc) or BLOCKED_ERROR)
            except Unreachable as exc:
                return _Outcome(item, "unreachable", _error_text(exc))
            except InDoubt as exc:
                if item.in_doubt:   # retried once already: give up, counted in doubt
                    return _Outcome(item, "in_doubt", _error_text(exc))
                return _Outcome(item, "doubt", _error_text(exc), wait=IN_DOUBT_RETRY_SECONDS)
            except TransientError as exc:
                if item.attempts + 1 >= self.max_attempts:
                    return _Outcome(item, "failed", _error_text(exc))
                return _Outcome(item, "retry", _error_text(exc),
                                wait=min(MAX_BACKOFF_SECONDS, 2.0 ** item.attempts))
            except Exception as exc:  # noqa: BLE001 - any other error fails this message
                log.warning("announcement %s: permanent failure: %s", item.announcement_id,
                            _error_text(exc))
                return _Outcome(item, "failed", _error_text(exc))


def _of(items: Sequence[_Claimed] | Sequence[sa.Row]) -> sa.ColumnElement[bool]:
    """WHERE clause for the deliveries of ``items`` (claimed ones, or rows with
    ``announcement_id`` and ``subscriber_id``): per announcement, its subscriber ids in one
    IN list. PostgreSQL reads these by index; a list of (announcement, subscriber) pairs
    made it read every pending delivery of the announcement, for every chunk."""
    by_announcement: dict[str, list[int]] = {}
    for item in items:
        by_announcement.setdefault(item.announcement_id, []).append(item.subscriber_id)
    return sa.or_(*(sa.and_(_d.c.announcement_id == aid, _d.c.subscriber_id.in_(sids))
                    for aid, sids in by_announcement.items()))


def _key(item: _Claimed):
    return sa.and_(_d.c.announcement_id == item.announcement_id,
                   _d.c.subscriber_id == item.subscriber_id)
