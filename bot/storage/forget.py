"""/forget: every trace of one person, in every table, removed or anonymised.

One rule per table of the schema (``Base.metadata``), in :data:`RULES`; a table without a
rule makes ``tests/test_forget.py`` fail, so a new table cannot be forgotten here. The rules
run in one transaction, deliveries before the subscribers they belong to.

What is the person's:

* subscribers (and their deliveries): the chats the request came from, and the person's
  own chat on the channel (Telegram: the private chat's id is the user's id; WeChat: the
  OpenID);
* conversations: the keys given, the person's own id, and for a numeric (Telegram) id the
  person's conversation in every group (stored as ``"<chat id>:<user id>"``);
* announcements: ``created_by`` "admin <id>" becomes "admin (forgotten)" (the text was a
  broadcast to everyone and stays);
* knowledge versions: "admin <id>" in a trigger ("/reload by admin 4242") becomes
  "admin (forgotten)".

The other tables hold nothing about a person (each rule says why).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .models import (
    AnnouncementModel,
    ConversationModel,
    DeliveryModel,
    KnowledgeVersionModel,
    SubscriberModel,
)

FORGOTTEN = "admin (forgotten)"   # what replaces "admin <id>"


@dataclass(frozen=True)
class Person:
    """Who asked to be forgotten, on one channel.

    Attributes:
        channel: "telegram", "wechat", "web", ...
        user_id: the person's own id there (Telegram user id, WeChat OpenID, the web
            chat's conversation id), or None when unknown (then only ``chats`` and
            ``conversations`` are forgotten).
        chats: chat ids whose subscription goes (the chat the request came from).
        conversations: stored conversation keys to delete.
    """

    channel: str
    user_id: str | None
    chats: tuple[str, ...] = ()
    conversations: tuple[str, ...] = ()

    def own_chats(self) -> tuple[str, ...]:
        """The chats whose subscriber rows are the person's."""
        return tuple({*self.chats, *([self.user_id] if self.user_id else [])})


@dataclass(frozen=True)
class Rule:
    """What /forget does to one table: ``action`` ("delete", "anonymise" or "nothing"),
    ``why`` (what the table holds about a person), and ``apply(connection, person)``
    returning how many rows changed (None for "nothing")."""

    action: str
    why: str
    apply: Callable[[Connection, Person], int] | None = None


def _table(model: type) -> sa.Table:
    return cast(sa.Table, model.__table__)  # type: ignore[attr-defined]


_subscribers = _table(SubscriberModel)
_deliveries = _table(DeliveryModel)
_conversations = _table(ConversationModel)
_announcements = _table(AnnouncementModel)
_versions = _table(KnowledgeVersionModel)


def _like_literal(text: str) -> str:
    """``text`` for a LIKE pattern with ``\\`` as escape character."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _subscriber_ids(conn: Connection, person: Person) -> list[int]:
    rows: Sequence[int] = conn.execute(sa.select(_subscribers.c.id).where(
        _subscribers.c.channel == person.channel,
        _subscribers.c.chat_id.in_(person.own_chats()))).scalars().all()
    return list(rows)


def _forget_deliveries(conn: Connection, person: Person) -> int:
    ids = _subscriber_ids(conn, person)
    if not ids:
        return 0
    return conn.execute(sa.delete(_deliveries).where(
        _deliveries.c.subscriber_id.in_(ids))).rowcount or 0


def _forget_subscribers(conn: Connection, person: Person) -> int:
    return conn.execute(sa.delete(_subscribers).where(
        _subscribers.c.channel == person.channel,
        _subscribers.c.chat_id.in_(person.own_chats()))).rowcount or 0


def _forget_conversations(conn: Connection, person: Person) -> int:
    keys = {*person.conversations, *([person.user_id] if person.user_id else [])}
    match: sa.ColumnElement[bool] = _conversations.c.conversation.in_(keys)
    if person.user_id and person.user_id.isdigit():
        # Telegram: the person's conversation in each group, "<chat id>:<user id>"
        match = sa.or_(match, _conversations.c.conversation.like(
            "%:" + _like_literal(person.user_id), escape="\\"))
    return conn.execute(sa.delete(_conversations).where(
        _conversations.c.channel == person.channel, match)).rowcount or 0


def _admin_mark(user_id: str) -> re.Pattern[str]:
    """"admin <id>" as a whole word (so forgetting admin 42 leaves admin 4242 alone)."""
    return re.compile(rf"\badmin {re.escape(user_id)}(?![\w-])")


def _anonymise(conn: Connection, table: sa.Table, key: sa.Column, column: sa.Column,
               person: Person) -> int:
    """Replace "admin <id>" by FORGOTTEN in ``column`` of every row mentioning it."""
    if not person.user_id:
        return 0
    mark = _admin_mark(person.user_id)
    rows = conn.execute(sa.select(key, column).where(column.like(
        "%admin " + _like_literal(person.user_id) + "%", escape="\\"))).all()
    changed = 0
    for row_key, text in rows:
        new = mark.sub(FORGOTTEN, str(text))
        if new != text:
            conn.execute(sa.update(table).where(key == row_key).values({column.name: new}))
            changed += 1
    return changed


def _forget_announcement_authors(conn: Connection, person: Person) -> int:
    return _anonymise(conn, _announcements, _announcements.c.id,
                      _announcements.c.created_by, person)


def _forget_reload_triggers(conn: Connection, person: Person) -> int:
    return _anonymise(conn, _versions, _versions.c.id, _versions.c.trigger, person)


# Order matters: deliveries refer to subscribers.
RULES: dict[str, Rule] = {
    "deliveries": Rule("delete", "which announcement went to the person's chats, and when",
                       _forget_deliveries),
    "subscribers": Rule("delete", "the person's chats that asked for announcements",
                        _forget_subscribers),
    "conversations": Rule("delete", "language preference and context of the person's "
                          "conversations (private and in groups)", _forget_conversations),
    "announcements": Rule("anonymise", "created_by names the admin who wrote one",
                          _forget_announcement_authors),
    "knowledge_versions": Rule("anonymise", "a /reload trigger names the admin who asked",
                               _forget_reload_triggers),
    "reply_counts": Rule("nothing", "counts per day, intent and language: no person"),
    "unanswered_questions": Rule("nothing", "question text stored without who asked it "
                                 "(contact details masked), purged after the retention"),
    "rate_buckets": Rule("nothing", "the whole bot's sending rate per channel: no person"),
    "access_tokens": Rule("nothing", "the account's API token: no person"),
    "wechat_nonces": Rule("nothing", "signed requests seen (timestamp, nonce, a keyed hash "
                          "of the message), no id, gone after the replay window"),
}


def forget_person(engine: Engine, person: Person) -> dict[str, int]:
    """Apply every rule of :data:`RULES` for ``person`` in one transaction.

    Returns:
        rows deleted or anonymised per table (tables whose rule is "nothing" omitted).
    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database failed (nothing was changed).
    """
    changed: dict[str, int] = {}
    with engine.begin() as conn:
        for name, rule in RULES.items():
            if rule.apply is not None:
                changed[name] = rule.apply(conn, person)
    return changed


__all__ = ["FORGOTTEN", "RULES", "Person", "Rule", "forget_person"]
