"""WeChat replays over HTTP (issue 14, item 2): a signed query is good for one message and
only within the replay window; the retry cache never gives one follower's answer to another.
"""
from __future__ import annotations

import hashlib
import time

import pytest
from dbtest import FakeClock
from test_wechat import (
    PLAIN,
    TOKEN,
    USER,
    Counting,
    post,
    reply_fields,
    serving,
    text_xml,
)

from bot.channels.wechat.app import PATH, create_app
from bot.service import AssistantService
from bot.storage import Storage
from bot.storage.models import utc_now
from bot.storage.nonces import MemoryNonces, SqlNonces

OTHER = "oOther_follower_456"
SEPTEMBER_2020 = 1600000000  # 2020-09-13 12:26:40 UTC


def signed_at(timestamp: int, nonce: str = "1234567890", **extra) -> dict[str, str]:
    """A query signed with the right token for ``timestamp`` and ``nonce``."""
    signature = hashlib.sha1("".join(sorted([TOKEN, str(timestamp), nonce])).encode()
                             ).hexdigest()
    return {"signature": signature, "timestamp": str(timestamp), "nonce": nonce, **extra}


@pytest.fixture
def counting(assistant) -> Counting:
    return Counting(assistant)


# -- timestamps ---------------------------------------------------------------------------
async def test_a_signature_made_in_september_2020_is_refused(counting):
    async with serving(create_app(counting, PLAIN)) as client:
        message = await post(client, text_xml("Who is Cai Bin?"), **signed_at(SEPTEMBER_2020))
        handshake = await client.get(PATH, params=signed_at(SEPTEMBER_2020, echostr="42"))
    assert message.status_code == 403 and handshake.status_code == 403
    assert counting.calls == 0


async def test_a_timestamp_from_the_future_beyond_the_window_is_refused(counting):
    async with serving(create_app(counting, PLAIN)) as client:
        future = await post(client, text_xml("Who is Cai Bin?", msg_id="11"),
                            **signed_at(int(time.time()) + 3600, "111"))
        recent = await post(client, text_xml("Who is Cai Bin?", msg_id="12"),
                            **signed_at(int(time.time()) - 200, "222"))
    assert future.status_code == 403
    assert "Cai Bin" in reply_fields(recent)["Content"]  # within the default 300 s


async def test_the_window_is_the_setting(counting, monkeypatch):
    async with serving(create_app(counting, PLAIN, replay_window=60)) as client:
        response = await post(client, text_xml("Who is Cai Bin?"),
                              **signed_at(int(time.time()) - 120))
    assert response.status_code == 403


@pytest.mark.parametrize("value", ["0", "10", "100000", "five minutes"])
def test_a_bad_replay_window_setting_stops_start_up(forumbot_here, monkeypatch, value):
    monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("WECHAT_REPLAY_WINDOW_SECONDS", value)
    ran = forumbot_here("wechat")
    assert ran.returncode == 2
    assert "WECHAT_REPLAY_WINDOW_SECONDS" in ran.stderr and len(ran.stderr.splitlines()) == 1


# -- nonces -------------------------------------------------------------------------------
async def test_a_copied_query_with_another_body_is_refused(counting):
    query = signed_at(int(time.time()), "987654321")
    async with serving(create_app(counting, PLAIN)) as client:
        first = await post(client, text_xml("Who is Cai Bin?", msg_id="21"), **query)
        forged = await post(client, text_xml("/forget", msg_id="22", sender=OTHER), **query)
    assert "Cai Bin" in reply_fields(first)["Content"]
    assert forged.status_code == 403
    assert counting.calls == 1  # the forged message never reached the assistant


async def test_a_handshake_query_cannot_carry_a_message(counting):
    # a leaked handshake URL: its signed query is spent on the handshake (plain mode signs no
    # body); the same handshake again is still answered
    query = signed_at(int(time.time()), "5150", echostr="777")
    async with serving(create_app(counting, PLAIN)) as client:
        first = await client.get(PATH, params=query)
        again = await client.get(PATH, params=query)
        forged = await post(client, text_xml("/stats", msg_id="77"),
                            **{k: v for k, v in query.items() if k != "echostr"})
    assert first.text == "777" and again.text == "777"
    assert forged.status_code == 403 and counting.calls == 0


async def test_the_same_message_again_is_a_retry_answered_once(counting):
    query = signed_at(int(time.time()), "55555")
    body = text_xml("Who is Cai Bin?", msg_id="31")
    async with serving(create_app(counting, PLAIN)) as client:
        first = await post(client, body, **query)
        again = await post(client, body, **query)
    assert again.content == first.content and counting.calls == 1


async def test_every_instance_on_one_database_refuses_the_copy(assistant, database_url):
    one, two = Storage.open(database_url), Storage.open(database_url)
    first_calls, second_calls = Counting(assistant), Counting(assistant)
    query = signed_at(int(time.time()), "3141592653")
    try:
        async with serving(create_app(AssistantService(first_calls, one), PLAIN)) as a, \
                serving(create_app(AssistantService(second_calls, two), PLAIN)) as b:
            answered = await post(a, text_xml("Who is Cai Bin?", msg_id="41"), **query)
            copied = await post(b, text_xml("/subscribe", msg_id="42", sender=OTHER), **query)
    finally:
        one.close()
        two.close()
    assert answered.status_code == 200 and copied.status_code == 403
    assert second_calls.calls == 0


def test_claims_expire_when_their_window_has_passed(db):
    clock = FakeClock(utc_now())
    nonces = SqlNonces(db, clock=clock)
    now = int(clock().timestamp())
    assert nonces.claim(now, "1", "a" * 64, 300)
    assert not nonces.claim(now, "1", "b" * 64, 300)
    clock.advance(seconds=301)
    assert nonces.claim(now + 301, "2", "c" * 64, 300)  # purges the first one meanwhile
    with db.connect() as conn:
        left = conn.exec_driver_sql("SELECT nonce FROM wechat_nonces").scalars().all()
    assert left == ["2"]


def test_memory_claims_expire_too():
    clock = FakeClock(utc_now())
    nonces = MemoryNonces(clock=clock)
    now = int(clock().timestamp())
    assert nonces.claim(now, "1", "a" * 64, 300) and not nonces.claim(now, "1", "b" * 64, 300)
    clock.advance(seconds=301)
    nonces.claim(now + 301, "2", "c" * 64, 300)
    assert len(nonces) == 1


# -- the retry cache ----------------------------------------------------------------------
async def test_the_same_msgid_from_another_follower_gets_their_own_answer(counting):
    async with serving(create_app(counting, PLAIN)) as client:
        first = reply_fields(await post(client, text_xml("Who is Cai Bin?", msg_id="777"),
                                        **signed_at(int(time.time()), "1")))
        other = reply_fields(await post(client, text_xml("/emergency", msg_id="777",
                                                         sender=OTHER),
                                        **signed_at(int(time.time()), "2")))
    assert first["ToUserName"] == USER and other["ToUserName"] == OTHER
    assert "Cai Bin" not in other["Content"] and other["Content"] != first["Content"]
    assert counting.calls == 2



async def test_a_timestamp_with_a_leading_zero_is_refused(counting):
    # "0" + timestamp with the nonce's leading "0" moved would sign the same (no separator)
    now = int(time.time())
    async with serving(create_app(counting, PLAIN)) as client:
        first = await post(client, text_xml("Who is Cai Bin?", msg_id="31"),
                           **signed_at(now, "0123456780"))
        query = signed_at(now, "0123456780")
        query.update(timestamp="0" + str(now), nonce="012345678")
        forged = await post(client, text_xml("/stats", msg_id="32"), **query)
    assert "Cai Bin" in reply_fields(first)["Content"]
    assert forged.status_code == 403 and counting.calls == 1


class Broken(MemoryNonces):
    def claim(self, *args, **kwargs):
        raise RuntimeError("database is locked")


async def test_a_nonce_that_cannot_be_stored_is_503_and_nothing_is_answered(counting):
    async with serving(create_app(counting, PLAIN, nonces=Broken())) as client:
        response = await post(client, text_xml("Who is Cai Bin?", msg_id="41"),
                              **signed_at(int(time.time()), "4141"))
    assert response.status_code == 503 and counting.calls == 0


def test_a_reply_is_kept_for_retries_as_long_as_the_replay_window(counting):
    # an exact copy inside a long window is answered from the cache, never run again
    # (a replayed /subscribe would undo an /unsubscribe made since)
    long_window = create_app(counting, PLAIN, replay_window=3600).state.webhook
    default = create_app(counting, PLAIN).state.webhook
    assert long_window.retries.ttl == 3600 and default.retries.ttl == 300
