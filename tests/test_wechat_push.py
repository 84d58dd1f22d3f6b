"""Announcements to WeChat followers against a fake WeChat API on loopback
(tests/fake_wechat_api.py): the 48-hour window, template messages, WeChat's errors, and one
access token shared by every instance. SQLite, and PostgreSQL when TEST_DATABASE_URL is set."""
from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from dbtest import FakeClock
from fake_wechat_api import APP_ID, APP_SECRET, FakeWeChatApi

from bot.broadcast import BroadcastWorker, create_adhoc, report
from bot.channels.wechat.push import AccessTokens, WeChatSender
from bot.storage import Subscriptions, create_engine_for, migrate

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
TEMPLATE = "tmpl-forum-news"


@pytest.fixture
async def api():
    server = FakeWeChatApi()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def client(api):
    async with httpx.AsyncClient(base_url=api.base_url, timeout=5) as c:
        yield c


def sender_for(db, client, clock, template: str | None = TEMPLATE) -> WeChatSender:
    tokens = AccessTokens(db, APP_ID, APP_SECRET, client, clock)
    return WeChatSender(db, tokens, client, template_id=template, clock=clock)


def worker_for(db, sender, clock) -> BroadcastWorker:
    async def sleep(seconds: float) -> None:   # the fake clock moves instead of waiting
        clock.advance(seconds=seconds)
    return BroadcastWorker(db, sender, worker_id="wechat-test", rate_per_second=1000,
                           clock=clock, sleep=sleep)


def followers(db, clock, *, recent: list[str], old: list[str]) -> None:
    """Subscribe followers; ``recent`` wrote within the last hour, ``old`` 3 days ago."""
    subs = Subscriptions(db, clock)
    for openid in recent + old:
        subs.subscribe("wechat", openid)
    for openid in old:
        subs.seen("wechat", openid)
    clock.advance(days=3)
    for openid in recent:
        subs.seen("wechat", openid)
    clock.advance(hours=1)


async def test_inside_the_window_a_customer_message_outside_a_template(db, api, client, clock):
    followers(db, clock, recent=["o-recent"], old=["o-old"])
    Subscriptions(db, clock).subscribe("telegram", "12345")      # not this worker's channel
    aid = create_adhoc(db, "The slides are online.", "admin 1", clock=clock)
    assert await worker_for(db, sender_for(db, client, clock), clock).run_due() == 2
    assert api.custom == [("o-recent", "The slides are online.")]
    assert api.templates == [("o-old", TEMPLATE, "The slides are online.")]
    assert report(db, aid).by_channel["wechat"]["sent"] == 2
    assert report(db, aid).by_channel["telegram"]["pending"] == 1


async def test_without_a_template_followers_outside_the_window_are_unreachable(
        db, api, client, clock):
    followers(db, clock, recent=["o-recent"], old=["o-old"])
    aid = create_adhoc(db, "News", "admin 1", clock=clock)
    await worker_for(db, sender_for(db, client, clock, template=None), clock).run_due()
    rep = report(db, aid)
    assert (rep.sent, rep.unreachable) == (1, 1)
    assert rep.by_channel["wechat"] == {"sent": 1, "unreachable": 1}
    assert "48-hour" in Subscriptions(db, clock).get("wechat", "o-old").last_error


async def test_wechat_errors_are_read_right(db, api, client, clock):
    followers(db, clock, recent=["o-45015", "o-45047", "o-43004", "o-busy", "o-ok"], old=[])
    api.out_of_window.add("o-45015")    # WeChat knows better than our last_seen_at
    api.quota_used.add("o-45047")
    api.unsubscribed.add("o-43004")
    api.busy("o-busy", times=1)
    aid = create_adhoc(db, "News", "admin 1", clock=clock)
    assert await worker_for(db, sender_for(db, client, clock), clock).run_due() == 4
    assert Counter(o for o, _ in api.custom) == Counter({"o-busy": 1, "o-ok": 1})
    assert sorted(o for o, _, _ in api.templates) == ["o-45015", "o-45047"]
    assert Subscriptions(db, clock).get("wechat", "o-43004").status == "blocked"
    rep = report(db, aid)
    assert (rep.sent, rep.blocked, rep.failed) == (4, 1, 0)


async def test_one_token_for_every_instance_refreshed_once_when_refused(
        database_url, api, client, clock, caplog):
    caplog.set_level(logging.DEBUG)
    first_db, second_db = create_engine_for(database_url), create_engine_for(database_url)
    migrate(first_db)
    followers(first_db, clock, recent=["o-1", "o-2"], old=[])
    one = sender_for(first_db, client, clock)
    two = sender_for(second_db, client, clock)     # another instance, its own engine
    await one.send("o-1", "hello")
    await two.send("o-2", "hello")
    assert api.fetches == 1                        # the second instance used the stored one
    api.expire()                                   # 42001: renewed once, by one instance
    await two.send("o-1", "again")
    await one.send("o-2", "again")
    assert api.fetches == 2 and api.refused_tokens == 1   # the other read the new one
    assert [t for _, t in api.custom] == ["hello", "hello", "again", "again"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "TOKEN-" not in logged and APP_SECRET not in logged
    with first_db.connect() as conn:
        stored = conn.execute(sa.text("SELECT token, expires_at FROM access_tokens")).one()
    assert stored.token == api.token
    first_db.dispose()
    second_db.dispose()


async def test_an_expired_stored_token_is_fetched_again(db, api, client, clock):
    followers(db, clock, recent=["o-1"], old=[])
    sender = sender_for(db, client, clock)
    await sender.send("o-1", "one")
    clock.advance(seconds=7200 - 60)              # within the margin before it expires
    await sender.send("o-1", "two")
    assert api.fetches == 2 and api.refused_tokens == 0
    assert clock() - T0 > timedelta(hours=2)
