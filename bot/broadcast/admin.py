"""Announcements as admins handle them (chat commands, ``forumbot announce``): create one
now, send a scheduled one now, cancel, list, report.

Every function is one short transaction on ``engine`` (migrated), channel-agnostic.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.storage.models import (
    MAX_CREATED_BY_CHARS,
    AnnouncementModel,
    DeliveryModel,
    SubscriberModel,
    as_utc,
    utc_now,
)
from bot.storage.subscriptions import UNSUBSCRIBED_ERROR

LANGUAGES = ("en", "fr", "ar", "zh")  # "en" is the ``text`` column, others text_<lang>
TRANSLATED = ("fr", "ar", "zh")

_announcements = cast(sa.Table, AnnouncementModel.__table__)
_deliveries = cast(sa.Table, DeliveryModel.__table__)
_subscribers = cast(sa.Table, SubscriberModel.__table__)


@dataclass(frozen=True)
class AnnouncementReport:
    """What became of one announcement.

    Attributes:
        id: the announcement id.
        status: scheduled, sending, done, cancelled or skipped.
        sent: messages delivered.
        failed: messages that failed for good (errors; unsubscribes are in ``skipped``).
        blocked: subscribers who had blocked the bot.
        skipped: messages not sent on purpose: subscribers who unsubscribed while it was
            being sent, or, for a ``skipped`` announcement (missed by more than the
            maximum age), the active subscribers of its audience.
        pending: messages not yet sent (0 once done).
        unreachable: chats the channel refused for good ("chat not found", "bot was
            kicked", outside WeChat's window without a template): not retried.
        in_doubt: deliveries whose send timed out after the request left, so the channel
            may have the message: each was retried once, so such a subscriber may have it
            twice (counted in ``sent`` too when the retry succeeded) or, when the retry
            timed out as well, perhaps not at all.
        started_at: when sending started, or None.
        finished_at: when it was done or skipped, or None.
        by_channel: the same counts per subscriber channel ("telegram", "wechat"):
            {channel: {"sent": n, "in_doubt": n, "unreachable": n, "failed": n, ...}}.
    """

    id: str
    status: str
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    skipped: int = 0
    pending: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    unreachable: int = 0
    in_doubt: int = 0
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class AnnouncementSummary:
    """One announcement in a list for admins.

    Attributes:
        id, status, send_at (aware UTC), zone, audience (None = everyone), created_by,
        text (the default text), languages (those with a text, "en" first),
        deliveries: count of delivery rows per status ("pending", "sent", "failed",
            "blocked"); statuses without rows are absent.
    """

    id: str
    status: str
    send_at: datetime
    zone: str
    audience: str | None
    created_by: str
    text: str
    languages: tuple[str, ...]
    deliveries: dict[str, int] = field(default_factory=dict)


def texts_of(row) -> dict[str, str]:
    """The texts of an announcement row per language code ("en" for ``text``)."""
    texts = {"en": row.text}
    for lang in TRANSLATED:
        value = getattr(row, f"text_{lang}")
        if value:
            texts[lang] = value
    return texts


def text_for(texts: dict[str, str], language: str | None) -> str:
    """The text for a subscriber's language, else the default ("en") text."""
    return texts.get(language or "en") or texts["en"]


def audience_filter(audience: str | None):
    """SQL condition on ``subscribers`` for an announcement's audience (active ones only)."""
    condition = _subscribers.c.status == "active"
    if audience is not None:
        condition = sa.and_(condition, _subscribers.c.language == audience)
    return condition


def audience_size(conn: Connection, audience: str | None) -> int:
    """Number of active subscribers an announcement with this audience would reach now."""
    return conn.execute(sa.select(sa.func.count()).select_from(_subscribers)
                        .where(audience_filter(audience))).scalar_one()


def _counts(conn: Connection, announcement_id: str) -> dict[str, dict[str, int]]:
    """Delivery counts per channel, then per status ("skipped" for unsubscribes, and
    "in_doubt" for every delivery whose send timed out once, whatever its status)."""
    unsubscribed = sa.case((_deliveries.c.last_error == UNSUBSCRIBED_ERROR, 1), else_=0)
    rows = conn.execute(
        sa.select(_subscribers.c.channel, _deliveries.c.status, unsubscribed,
                  _deliveries.c.in_doubt, sa.func.count())
        .join(_subscribers, _subscribers.c.id == _deliveries.c.subscriber_id)
        .where(_deliveries.c.announcement_id == announcement_id)
        .group_by(_subscribers.c.channel, _deliveries.c.status, unsubscribed,
                  _deliveries.c.in_doubt))
    counts: dict[str, dict[str, int]] = {}
    for channel, status, was_unsubscribed, in_doubt, n in cast(
            "Iterable[tuple[str, str, int, bool, int]]", rows):
        per = counts.setdefault(channel, {})
        key: str | None = "skipped" if status == "failed" and was_unsubscribed else status
        if key == "in_doubt":   # the retry timed out too: counted once, as in doubt
            key = None
        if key is not None:
            per[key] = per.get(key, 0) + n
        if in_doubt:
            per["in_doubt"] = per.get("in_doubt", 0) + n
    return counts


def report_in(conn: Connection, announcement_id: str) -> AnnouncementReport | None:
    """:func:`report` on an open connection."""
    row = conn.execute(sa.select(_announcements)
                       .where(_announcements.c.id == announcement_id)).first()
    if row is None:
        return None
    by_channel = _counts(conn, announcement_id)
    counts: dict[str, int] = {}
    for per in by_channel.values():
        for key, n in per.items():
            counts[key] = counts.get(key, 0) + n
    skipped = counts.get("skipped", 0)
    if row.status == "skipped" and not counts:
        skipped = audience_size(conn, row.audience)
    return AnnouncementReport(
        id=row.id, status=row.status, sent=counts.get("sent", 0),
        failed=counts.get("failed", 0), blocked=counts.get("blocked", 0), skipped=skipped,
        pending=counts.get("pending", 0), started_at=row.started_at,
        finished_at=row.finished_at, unreachable=counts.get("unreachable", 0),
        in_doubt=counts.get("in_doubt", 0), by_channel=by_channel)


REPORT_FIELDS = ("sent", "in_doubt", "unreachable", "failed", "blocked", "skipped", "pending")


def format_report(rep: AnnouncementReport) -> str:
    """Plain-text totals of one announcement for admins: the whole line, then one line
    per channel ("telegram: sent 2, in doubt 1, unreachable 0, failed 0, ...").

    Args:
        rep: from :func:`report`.
    Returns:
        str, lines joined by "\n"; times in UTC.
    """
    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{name.replace('_', ' ')} {values.get(name, 0)}"
                         for name in REPORT_FIELDS)
    totals = {name: getattr(rep, name) for name in REPORT_FIELDS}
    line = f"{rep.id}: {rep.status}; {counts(totals)}"
    if rep.started_at:
        line += f"; started {rep.started_at:%Y-%m-%d %H:%M} UTC"
    if rep.finished_at:
        line += f"; finished {rep.finished_at:%Y-%m-%d %H:%M} UTC"
    return "\n".join([line] + [f"  {channel}: {counts(values)}"
                                for channel, values in sorted(rep.by_channel.items())])


def report(engine: Engine, announcement_id: str) -> AnnouncementReport | None:
    """Return the delivery totals of one announcement, or None when the id is unknown.

    For a ``skipped`` announcement, ``skipped`` is the number of active subscribers of its
    audience now (no delivery rows were made for it).
    """
    with engine.connect() as conn:
        return report_in(conn, announcement_id)


def create_adhoc(engine: Engine, text: str, created_by: str, send_at: datetime | None = None,
                 *, audience: str | None = None, translations: dict[str, str] | None = None,
                 zone: str = "UTC", clock: Callable[[], datetime] = utc_now) -> str:
    """Store an announcement written by an admin; the broadcast worker sends it when due.

    Args:
        text: the default text (sent to subscribers without a translation); not empty.
        created_by: who wrote it, e.g. "admin 123" (1-200 characters).
        send_at: when to send it (aware datetime); None means now.
        audience: a language code ("fr") to send it only to subscribers of that language,
            or None for everyone.
        translations: texts per language code among fr, ar, zh.
        zone: IANA zone the admin thinks in (kept for display).
        clock: returns the current time (aware).
    Returns:
        the new id, ``"adhoc-<32 hex digits>"``.
    Raises:
        ValueError: on an empty text, a bad created_by, an unknown translation language or
            audience, or a naive send_at.
    """
    if not text or not text.strip():
        raise ValueError("the announcement text is empty")
    if not created_by or len(created_by) > MAX_CREATED_BY_CHARS:
        raise ValueError(f"created_by must be 1 to {MAX_CREATED_BY_CHARS} characters")
    translations = dict(translations or {})
    unknown = set(translations) - set(TRANSLATED)
    if unknown:
        raise ValueError(f"unknown translation language(s) {sorted(unknown)}; "
                         f"use {', '.join(TRANSLATED)}")
    if audience is not None and audience not in LANGUAGES:
        raise ValueError(f"unknown audience {audience!r}; use one of {', '.join(LANGUAGES)}")
    now = as_utc(clock())
    announcement_id = f"adhoc-{uuid.uuid4().hex}"
    with engine.begin() as conn:
        conn.execute(sa.insert(_announcements).values(
            id=announcement_id, text=text,
            **{f"text_{lang}": translations.get(lang) for lang in TRANSLATED},
            send_at=as_utc(send_at) if send_at is not None else now, zone=zone,
            audience=audience, status="scheduled", created_by=created_by, created_at=now))
    return announcement_id


def cancel(engine: Engine, announcement_id: str) -> bool:
    """Cancel a scheduled announcement; True when it was scheduled (one already sending,
    done, skipped or cancelled is left alone: False)."""
    with engine.begin() as conn:
        return conn.execute(
            sa.update(_announcements)
            .where(_announcements.c.id == announcement_id,
                   _announcements.c.status == "scheduled")
            .values(status="cancelled")).rowcount == 1


def send_now(engine: Engine, announcement_id: str, *,
             clock: Callable[[], datetime] = utc_now) -> bool:
    """Make a scheduled announcement due now (``send_at`` = now): the running bot's worker
    sends it at its next pass. True when it was scheduled; False otherwise."""
    with engine.begin() as conn:
        return conn.execute(
            sa.update(_announcements)
            .where(_announcements.c.id == announcement_id,
                   _announcements.c.status == "scheduled")
            .values(send_at=as_utc(clock()))).rowcount == 1


def list_announcements(engine: Engine, *, limit: int = 100) -> list[AnnouncementSummary]:
    """Return announcements, latest ``send_at`` first, with delivery counts per status."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_announcements)
                            .order_by(_announcements.c.send_at.desc(), _announcements.c.id)
                            .limit(limit)).all()
        counts: dict[str, dict[str, int]] = {}
        if rows:
            counted = conn.execute(
                sa.select(_deliveries.c.announcement_id, _deliveries.c.status, sa.func.count())
                .where(_deliveries.c.announcement_id.in_([r.id for r in rows]))
                .group_by(_deliveries.c.announcement_id, _deliveries.c.status))
            for aid, status, n in cast("Iterable[tuple[str, str, int]]", counted):
                counts.setdefault(aid, {})[status] = n
    return [AnnouncementSummary(
        id=r.id, status=r.status, send_at=r.send_at, zone=r.zone, audience=r.audience,
        created_by=r.created_by, text=r.text, languages=tuple(texts_of(r)),
        deliveries=counts.get(r.id, {})) for r in rows]
