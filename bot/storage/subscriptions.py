"""Who asked for announcements, per channel and chat.

A subscriber is one chat on one channel (``("telegram", "123456")``). Its status is
``active`` (receives announcements), ``blocked`` (the channel told us the user blocked the
bot; set by the broadcast worker) or ``unsubscribed`` (the user asked to stop). Only an
explicit :meth:`Subscriptions.subscribe` makes a chat active again.

Every method is one short transaction, safe to share between threads and between bot
processes on one database: rows are changed by conditional statements (``INSERT ... ON
CONFLICT``, ``UPDATE ... WHERE status = ...``), never read and written back.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .models import (
    MAX_CHANNEL_CHARS,
    MAX_CHAT_ID_CHARS,
    MAX_LANG_CHARS,
    DeliveryModel,
    SubscriberModel,
    as_utc,
    utc_now,
)
from .questions import _insert_for

_subscribers = cast(sa.Table, SubscriberModel.__table__)
_deliveries = cast(sa.Table, DeliveryModel.__table__)

UNSUBSCRIBED_ERROR = "unsubscribed"  # last_error of a delivery dropped by unsubscribe()
BLOCKED_ERROR = "blocked by the user"


@dataclass(frozen=True)
class Subscriber:
    """One subscriber as stored.

    Attributes:
        id: row id.
        channel: "telegram", "wechat", ...
        chat_id: the channel's chat id, as text.
        language: preferred language code ("fr") or None.
        status: "active", "blocked", "unsubscribed" or "unreachable" (the channel said
            the chat is gone: "chat not found", "bot was kicked"; see ``last_error``).
        subscribed_at: when it last became active (aware, UTC).
        unsubscribed_at: when it last unsubscribed, or None.
        updated_at: last change (aware, UTC).
        next_send_at: per-chat pacing of broadcasts (aware, UTC), or None.
        last_seen_at: the user's last message (aware, UTC), or None: WeChat lets an
            account write freely for 48 hours after it.
        last_error: the channel's description when unreachable, else None.
    """

    id: int
    channel: str
    chat_id: str
    language: str | None
    status: str
    subscribed_at: datetime
    unsubscribed_at: datetime | None
    updated_at: datetime
    next_send_at: datetime | None = None
    last_seen_at: datetime | None = None
    last_error: str | None = None


def _key(channel: str, chat_id: str | int) -> tuple[str, str]:
    chat = str(chat_id)
    if not channel or len(channel) > MAX_CHANNEL_CHARS:
        raise ValueError(f"channel must be 1 to {MAX_CHANNEL_CHARS} characters, got {channel!r}")
    if not chat or len(chat) > MAX_CHAT_ID_CHARS:
        raise ValueError(f"chat_id must be 1 to {MAX_CHAT_ID_CHARS} characters")
    return channel, chat


def normalize_language(language: str | None) -> str | None:
    """``"fr-FR"`` -> ``"fr"``; None or empty stays None.

    Raises:
        ValueError: when the code is longer than 16 characters.
    """
    if not language:
        return None
    code = language.strip().lower().replace("_", "-").split("-")[0]
    if not code:
        return None
    if len(code) > MAX_LANG_CHARS:
        raise ValueError(f"language must be at most {MAX_LANG_CHARS} characters")
    return code


class Subscriptions:
    """Subscribe, unsubscribe and forget chats; used by every channel."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        """Work on ``engine`` (migrated); ``clock`` returns aware datetimes (tests fake it)."""
        self._engine = engine
        self._insert = _insert_for(engine)
        self._clock = clock

    def _now(self) -> datetime:
        return as_utc(self._clock())

    def _where(self, channel: str, chat_id: str | int):
        channel, chat = _key(channel, chat_id)
        return sa.and_(_subscribers.c.channel == channel, _subscribers.c.chat_id == chat)

    def subscribe(self, channel: str, chat_id: str | int, language: str | None = None) -> bool:
        """Make the chat an active subscriber.

        Args:
            channel: "telegram", "wechat" (1-32 characters).
            chat_id: the chat's id (text or int; 1-64 characters as text).
            language: preferred language ("fr", "fr-FR" is kept as "fr"); None keeps the
                one stored before.
        Returns:
            True when the chat is newly active (first subscription, or back after
            unsubscribing or being blocked); False when it already was (its language is
            updated when one is given). Calling it twice leaves one row.
        Raises:
            ValueError: on an empty or too long channel, chat id or language.
        """
        channel, chat = _key(channel, chat_id)
        language = normalize_language(language)
        now = self._now()
        with self._engine.begin() as conn:
            inserted = conn.execute(
                self._insert(_subscribers)
                .values(channel=channel, chat_id=chat, language=language, status="active",
                        subscribed_at=now, unsubscribed_at=None, updated_at=now)
                .on_conflict_do_nothing(index_elements=["channel", "chat_id"])
                .returning(_subscribers.c.id)).first()
            if inserted is not None:
                return True
            where = self._where(channel, chat)
            values: dict[str, object] = {"updated_at": now}
            if language is not None:
                values["language"] = language
            revived = conn.execute(
                sa.update(_subscribers).where(where, _subscribers.c.status != "active")
                .values(status="active", subscribed_at=now, unsubscribed_at=None,
                        last_error=None, **values))
            if revived.rowcount:
                return True
            if language is not None:
                conn.execute(sa.update(_subscribers).where(where).values(**values))
            return False

    def unsubscribe(self, channel: str, chat_id: str | int) -> bool:
        """Stop announcements to the chat, at once.

        Its pending deliveries (of an announcement being sent right now) are marked
        ``failed`` with last_error "unsubscribed" in the same transaction, so the worker
        does not send them (it re-checks each delivery just before sending).

        Returns:
            True when the chat was active; False when it was unknown, blocked or already
            unsubscribed (a blocked chat becomes unsubscribed all the same).
        """
        now = self._now()
        where = self._where(channel, chat_id)
        with self._engine.begin() as conn:
            was_active = True
            row = conn.execute(
                sa.update(_subscribers).where(where, _subscribers.c.status == "active")
                .values(status="unsubscribed", unsubscribed_at=now, updated_at=now)
                .returning(_subscribers.c.id)).first()
            if row is None:
                was_active = False
                row = conn.execute(
                    sa.update(_subscribers).where(where, _subscribers.c.status == "blocked")
                    .values(status="unsubscribed", unsubscribed_at=now, updated_at=now)
                    .returning(_subscribers.c.id)).first()
            if row is not None:
                conn.execute(
                    sa.update(_deliveries)
                    .where(_deliveries.c.subscriber_id == row.id,
                           _deliveries.c.status == "pending")
                    .values(status="failed", last_error=UNSUBSCRIBED_ERROR, claimed_until=None,
                            claimed_by=None))
        return was_active

    def mark_blocked(self, channel: str, chat_id: str | int) -> bool:
        """Record that the user blocked the bot: no announcement is sent to them any more
        (their pending deliveries become ``blocked``) until they subscribe again.

        Returns:
            True when the chat was active.
        """
        now = self._now()
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.update(_subscribers)
                .where(self._where(channel, chat_id), _subscribers.c.status == "active")
                .values(status="blocked", updated_at=now)
                .returning(_subscribers.c.id)).first()
            if row is None:
                return False
            conn.execute(
                sa.update(_deliveries)
                .where(_deliveries.c.subscriber_id == row.id, _deliveries.c.status == "pending")
                .values(status="blocked", last_error=BLOCKED_ERROR, claimed_until=None,
                        claimed_by=None))
            return True

    def seen(self, channel: str, chat_id: str | int) -> None:
        """Record that the user of this chat just wrote to the bot (``last_seen_at``):
        WeChat lets an account send customer-service messages for 48 hours after it.
        A chat that never subscribed is left alone (nothing is stored about it)."""
        now = self._now()
        with self._engine.begin() as conn:
            conn.execute(sa.update(_subscribers).where(self._where(channel, chat_id))
                         .values(last_seen_at=now))

    def move(self, channel: str, old_chat_id: str | int, new_chat_id: str | int) -> bool:
        """Move a subscription to the chat's new id (a Telegram group upgraded to a
        supergroup: ``migrate_to_chat_id``). True when a row moved; when the new id is
        subscribed already, the old row is removed instead (False)."""
        _, new = _key(channel, new_chat_id)
        now = self._now()
        with self._engine.begin() as conn:
            if conn.execute(sa.select(_subscribers.c.id)
                            .where(self._where(channel, new))).first() is not None:
                conn.execute(sa.delete(_subscribers).where(self._where(channel, old_chat_id)))
                return False
            return conn.execute(sa.update(_subscribers)
                                .where(self._where(channel, old_chat_id))
                                .values(chat_id=new, updated_at=now)).rowcount == 1

    def forget(self, channel: str, chat_id: str | int) -> int:
        """Delete everything stored about the chat: its subscriber row and its deliveries.

        Returns:
            the number of rows deleted (0 when the chat is unknown).
        """
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(_subscribers.c.id)
                               .where(self._where(channel, chat_id))).first()
            if row is None:
                return 0
            deleted = conn.execute(sa.delete(_deliveries)
                                   .where(_deliveries.c.subscriber_id == row.id)).rowcount
            deleted += conn.execute(sa.delete(_subscribers)
                                    .where(_subscribers.c.id == row.id)).rowcount
            return deleted

    def get(self, channel: str, chat_id: str | int) -> Subscriber | None:
        """Return the stored subscriber, or None when the chat never subscribed (or was
        forgotten)."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(_subscribers)
                               .where(self._where(channel, chat_id))).first()
        return None if row is None else Subscriber(**row._mapping)

    def count_active(self, channel: str | None = None) -> int:
        """Number of active subscribers (of one channel, or of all)."""
        query = sa.select(sa.func.count()).select_from(_subscribers).where(
            _subscribers.c.status == "active")
        if channel is not None:
            query = query.where(_subscribers.c.channel == channel)
        with self._engine.connect() as conn:
            return conn.execute(query).scalar_one()
