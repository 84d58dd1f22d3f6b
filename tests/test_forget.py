"""/forget is complete (issue 14, item 5): every table of the schema has a rule, and after
/forget no table holds the person's id, on SQLite and PostgreSQL, while other people's rows
stay."""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from bot.broadcast.admin import create_adhoc
from bot.core.engine import Assistant
from bot.core.types import Message
from bot.service import AssistantService
from bot.storage import Storage
from bot.storage.forget import FORGOTTEN, RULES
from bot.storage.models import (
    AccessTokenModel,
    Base,
    DeliveryModel,
    RateBucketModel,
    utc_now,
)

ADMIN = "4242"        # a Telegram admin who subscribed, chatted and announced
OTHER_ADMIN = "42"    # a prefix of the first: must survive
GROUP = "-1005550001"
OPENID = "oPerson_Open-ID_77"


def test_every_table_has_a_forget_rule():
    assert set(Base.metadata.tables) == set(RULES), (
        "give each table a rule in bot/storage/forget.py (what /forget does to it)")
    assert {rule.action for rule in RULES.values()} <= {"delete", "anonymise", "nothing"}


def seed(storage: Storage, service: AssistantService) -> None:
    """Rows in every table: the person's (ADMIN, OPENID), and other people's."""
    tell = lambda who, text, channel="telegram", key=None: service.handle(  # noqa: E731
        channel, key or who, Message(text, user_id=who))
    tell(ADMIN, "/language fr")
    tell(ADMIN, "/subscribe")
    tell(ADMIN, "who is cai bin", key=f"{GROUP}:{ADMIN}")
    service.subscribe("telegram", GROUP, f"{GROUP}:{ADMIN}")
    tell("1001", "/language ar")
    tell("1001", "/subscribe")
    tell(OTHER_ADMIN, "/subscribe")
    tell(OPENID, "/subscribe", "wechat")
    tell(OPENID, "/language zh", "wechat")
    for who in (ADMIN, OTHER_ADMIN):
        storage.versions.record(version="abc123abc123", git_commit=None,
                                trigger=f"/reload by admin {who}", ok=True, errors=0)
        create_adhoc(storage.engine, "The programme is online.", f"admin {who}",
                     utc_now() + timedelta(days=1))
    storage.wechat_nonces.claim(int(utc_now().timestamp()), "123", "a" * 64, 300)
    with storage.engine.begin() as conn:
        announcement = conn.exec_driver_sql("SELECT id FROM announcements").scalars().first()
        for subscriber in conn.exec_driver_sql("SELECT id FROM subscribers").scalars():
            conn.execute(sa.insert(DeliveryModel.__table__).values(
                announcement_id=announcement, subscriber_id=subscriber, status="sent",
                attempts=1))
        conn.execute(sa.insert(RateBucketModel.__table__).values(
            name="telegram", tokens=1.0, updated_at=utc_now()))
        conn.execute(sa.insert(AccessTokenModel.__table__).values(
            app_id="wx1234567890abcdef", token="secret", expires_at=utc_now()))


def traces(storage: Storage, person: str) -> dict[str, list[tuple]]:
    """Rows of each table with ``person`` as a whole value or word in any column."""
    word = re.compile(rf"(?<![\w-]){re.escape(person)}(?![\w-])")
    found: dict[str, list[tuple]] = {}
    with storage.engine.connect() as conn:
        for name, table in Base.metadata.tables.items():
            rows = conn.execute(sa.select(table)).all()
            hits = [tuple(r) for r in rows if any(word.search(str(v)) for v in r)]
            if hits:
                found[name] = hits
    return found


def counts(storage: Storage) -> dict[str, int]:
    with storage.engine.connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in Base.metadata.tables.items()}


def test_forget_leaves_no_trace_of_the_person_in_any_table(assistant: Assistant,
                                                            database_url):
    storage = Storage.open(database_url)
    try:
        service = AssistantService(assistant, storage)
        seed(storage, service)
        assert set(traces(storage, ADMIN)) == {"subscribers", "conversations",
                                               "announcements", "knowledge_versions"}
        before = counts(storage)
        # as Telegram's /forget button in the group calls it: chat, conversation, user
        service.forget("telegram", GROUP, f"{GROUP}:{ADMIN}", ADMIN)
        assert traces(storage, ADMIN) == {}
        after = counts(storage)
        # the person's private and group subscriptions and conversations are gone ...
        assert before["subscribers"] - after["subscribers"] == 2
        assert before["conversations"] - after["conversations"] == 2
        assert before["deliveries"] - after["deliveries"] == 2
        # ... "admin 4242" is anonymised where a record must stay ...
        assert traces(storage, FORGOTTEN.split()[-1]).keys() == {"announcements",
                                                                  "knowledge_versions"}
        # ... and nobody else lost anything (admin 42, user 1001, the WeChat follower)
        for other in (OTHER_ADMIN, "1001", OPENID):
            assert traces(storage, other), other
        for name in ("reply_counts", "unanswered_questions", "rate_buckets",
                     "access_tokens", "wechat_nonces", "announcements",
                     "knowledge_versions"):
            assert after[name] == before[name], name
        service.handle("wechat", OPENID, Message("/forget", user_id=OPENID))
        assert traces(storage, OPENID) == {}
        assert traces(storage, "1001")
    finally:
        storage.close()
