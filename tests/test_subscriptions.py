"""bot.storage.subscriptions against a real SQLite file and, when TEST_DATABASE_URL is set,
PostgreSQL (a fresh schema per test, as in test_storage.py)."""
from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from dbtest import BACKENDS, PG_URL, FakeClock
from sqlalchemy.engine import make_url

from bot.broadcast import create_adhoc
from bot.storage import Subscriptions, create_engine_for, migrate

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    """A migrated engine on an empty database: a SQLite file, or a fresh PG schema."""
    if request.param == "sqlite":
        engine = create_engine_for(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    admin = create_engine_for(PG_URL)
    schema = f"test_{secrets.token_hex(6)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = create_engine_for(url.render_as_string(hide_password=False))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def subs(db, clock) -> Subscriptions:
    return Subscriptions(db, clock)


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def add_pending_delivery(engine, clock, subscriber_id: int) -> str:
    aid = create_adhoc(engine, "hello", "admin 1", clock=clock)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE announcements SET status = 'sending' WHERE id = :a"),
                     {"a": aid})
        conn.execute(sa.text("INSERT INTO deliveries (announcement_id, subscriber_id, status, "
                             "attempts) VALUES (:a, :s, 'pending', 0)"),
                     {"a": aid, "s": subscriber_id})
    return aid


def delivery(engine, aid: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT * FROM deliveries WHERE announcement_id = :a"),
                                 {"a": aid}).one()._mapping)


def test_subscribe_twice_is_one_active_row(subs, db, clock):
    assert subs.subscribe("telegram", "1001", "fr-FR") is True
    clock.advance(minutes=5)
    assert subs.subscribe("telegram", "1001") is False
    assert count(db, "subscribers") == 1
    got = subs.get("telegram", "1001")
    assert (got.status, got.language, got.subscribed_at) == ("active", "fr", T0)
    assert got.updated_at == T0                                  # nothing changed
    assert subs.subscribe("telegram", 1001, "ar") is False   # int chat ids are the same chat
    assert subs.get("telegram", "1001").language == "ar"
    assert subs.subscribe("wechat", "1001") is True           # another channel, another chat
    assert subs.count_active() == 2
    assert subs.count_active("telegram") == 1


def test_unsubscribe_then_only_an_explicit_subscribe_reactivates(subs, clock):
    subs.subscribe("telegram", "7", "en")
    clock.advance(hours=1)
    assert subs.unsubscribe("telegram", "7") is True
    got = subs.get("telegram", "7")
    assert (got.status, got.unsubscribed_at) == ("unsubscribed", T0 + timedelta(hours=1))
    assert subs.unsubscribe("telegram", "7") is False
    assert subs.unsubscribe("telegram", "unknown") is False
    assert subs.count_active() == 0
    clock.advance(hours=1)
    assert subs.subscribe("telegram", "7") is True
    got = subs.get("telegram", "7")
    assert (got.status, got.unsubscribed_at, got.language) == ("active", None, "en")
    assert got.subscribed_at == T0 + timedelta(hours=2)


def test_blocked_stays_blocked_until_subscribe(subs):
    subs.subscribe("telegram", "8")
    assert subs.mark_blocked("telegram", "8") is True
    assert subs.mark_blocked("telegram", "8") is False
    assert subs.get("telegram", "8").status == "blocked"
    assert subs.count_active() == 0
    assert subs.subscribe("telegram", "8") is True
    assert subs.get("telegram", "8").status == "active"
    subs.mark_blocked("telegram", "8")
    assert subs.unsubscribe("telegram", "8") is False   # was not active
    assert subs.get("telegram", "8").status == "unsubscribed"


def test_unsubscribe_drops_pending_deliveries_at_once(subs, db, clock):
    subs.subscribe("telegram", "9")
    aid = add_pending_delivery(db, clock, subs.get("telegram", "9").id)
    subs.unsubscribe("telegram", "9")
    row = delivery(db, aid)
    assert (row["status"], row["last_error"]) == ("failed", "unsubscribed")


def test_mark_blocked_blocks_pending_deliveries(subs, db, clock):
    subs.subscribe("telegram", "10")
    aid = add_pending_delivery(db, clock, subs.get("telegram", "10").id)
    subs.mark_blocked("telegram", "10")
    assert delivery(db, aid)["status"] == "blocked"


def test_forget_deletes_the_subscriber_and_its_deliveries(subs, db, clock):
    subs.subscribe("telegram", "11")
    subs.subscribe("telegram", "12")
    sid = subs.get("telegram", "11").id
    add_pending_delivery(db, clock, sid)
    add_pending_delivery(db, clock, sid)
    assert subs.forget("telegram", "11") == 3
    assert subs.get("telegram", "11") is None
    assert count(db, "deliveries") == 0
    assert count(db, "subscribers") == 1
    assert subs.forget("telegram", "11") == 0
    assert count(db, "announcements") == 2   # the announcements themselves stay


def test_cascade_deletes_deliveries_with_their_subscriber(subs, db, clock):
    subs.subscribe("telegram", "13")
    add_pending_delivery(db, clock, subs.get("telegram", "13").id)
    with db.begin() as conn:
        conn.execute(sa.text("DELETE FROM subscribers"))
    assert count(db, "deliveries") == 0


def test_bad_input_is_rejected(subs):
    with pytest.raises(ValueError):
        subs.subscribe("", "1")
    with pytest.raises(ValueError):
        subs.subscribe("telegram", "")
    with pytest.raises(ValueError):
        subs.subscribe("telegram", "x" * 65)
    with pytest.raises(ValueError):
        subs.subscribe("telegram", "1", "x" * 17)
