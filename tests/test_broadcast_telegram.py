"""Subscriptions and announcements end to end: the real Application against the fake Bot
API, a SQLite file, and the broadcast worker running in the bot process."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_bot_api import FakeBotApi, free_tcp_port
from telegram import Bot
from telegram_test import ADMIN, text_of

from bot.broadcast import InDoubt, TransientError, create_adhoc
from bot.channels.telegram.aiohttp_request import AiohttpRequest
from bot.channels.telegram.subscribe import TelegramSender
from bot.storage import Subscriptions, create_engine_for, migrate


async def sent_to(fake: FakeBotApi, chat: int, count: int) -> list[dict]:
    await fake._wait_until(lambda: len(fake.sent_to(chat)) >= count, 10,
                           lambda: f"{chat}: {[text_of(m) for m in fake.sent_to(chat)]}")
    return fake.sent_to(chat)


async def announce(fake: FakeBotApi, text: str) -> None:
    before = len(fake.sent_to(ADMIN))
    fake.user_sends(f"/announce {text}", chat_id=ADMIN, user_id=ADMIN)
    [*_, preview] = await sent_to(fake, ADMIN, before + 1)
    assert text_of(preview).endswith(text)
    send = preview["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.user_presses(send, message_id=preview["message_id"], chat_id=ADMIN, user_id=ADMIN)


async def test_subscribe_twice_is_one_subscription_and_start_offers_it(fake, bot, database):
    fake.user_sends("/start", chat_id=501, user_id=501)
    [start] = await sent_to(fake, 501, 1)
    buttons = [b["callback_data"] for row in start["reply_markup"]["inline_keyboard"] for b in row]
    assert "sub:on" in buttons
    fake.user_presses("sub:on", message_id=start["message_id"], chat_id=501, user_id=501)
    fake.user_sends("/subscribe", chat_id=501, user_id=501)
    replies = await sent_to(fake, 501, 3)
    assert text_of(replies[1]).startswith("You are subscribed")
    assert text_of(replies[2]).startswith("You were already subscribed")
    assert Subscriptions(create_engine_for(database)).count_active("telegram") == 1


async def test_an_announcement_reaches_every_subscriber_once_and_the_admin_gets_totals(
        fake, bot):
    for chat in (601, 602, 603):
        fake.user_sends("/subscribe", chat_id=chat, user_id=chat)
        await sent_to(fake, chat, 1)
    fake.user_sends("/unsubscribe", chat_id=603, user_id=603)
    await sent_to(fake, 603, 2)
    fake.block(602)
    await announce(fake, "Slides of the forum are online.")
    admin = await sent_to(fake, ADMIN, 3)
    assert "queued" in text_of(admin[1])
    assert "1 sent, 0 failed, 1 blocked" in text_of(admin[2])
    assert [text_of(m) for m in fake.sent_to(601)][-1] == "Slides of the forum are online."
    assert all("Slides" not in text_of(m) for m in fake.sent_to(603))
    fake.user_sends("/announcements", chat_id=ADMIN, user_id=ADMIN)
    [*_, listing] = await sent_to(fake, ADMIN, 4)
    assert "[done]" in text_of(listing) and "1 blocked" in text_of(listing)


async def test_a_429_during_a_broadcast_is_waited_out(fake, bot):
    fake.user_sends("/subscribe", chat_id=701, user_id=701)
    await sent_to(fake, 701, 1)
    fake.fail_next("sendMessage", status=429, description="Too Many Requests: retry after 1",
                   retry_after=1, chat_id=701)
    await announce(fake, "The programme is online.")
    messages = await sent_to(fake, 701, 2)
    assert text_of(messages[-1]) == "The programme is online."
    report = await sent_to(fake, ADMIN, 3)
    assert "1 sent" in text_of(report[-1])


async def test_forget_deletes_after_confirmation(fake, bot, database):
    fake.user_sends("/subscribe", chat_id=801, user_id=801)
    await sent_to(fake, 801, 1)
    fake.user_sends("/forget", chat_id=801, user_id=801)
    [*_, question] = await sent_to(fake, 801, 2)
    assert [b["callback_data"] for b in question["reply_markup"]["inline_keyboard"][0]] == [
        "forget:yes", "forget:no"]
    fake.user_presses("forget:yes", message_id=question["message_id"], chat_id=801,
                      user_id=801)
    [*_, done] = await sent_to(fake, 801, 3)
    assert text_of(done) == "Everything stored about you has been deleted."
    assert Subscriptions(create_engine_for(database)).get("telegram", 801) is None


async def test_announce_is_not_a_command_for_others(fake, bot):
    fake.user_sends("/announce hello everyone", chat_id=901, user_id=901)
    [reply] = await sent_to(fake, 901, 1)
    assert "I do not know the command /announce" in text_of(reply)


async def test_chat_not_found_is_unreachable_at_once_and_reported(fake, bot, database):
    for chat in (801, 802):
        fake.user_sends("/subscribe", chat_id=chat, user_id=chat)
        await sent_to(fake, chat, 1)
    fake.fail_next("sendMessage", status=400, description="Bad Request: chat not found",
                   chat_id=802, times=5)
    await announce(fake, "Room change for the closing session.")
    report = await sent_to(fake, ADMIN, 3)
    assert "1 sent" in text_of(report[-1]) and "1 unreachable" in text_of(report[-1])
    tries = [p for m, p in fake.calls if m == "sendMessage" and int(p["chat_id"]) == 802]
    assert len(tries) == 2                      # the subscribe reply and one try: no retries
    subscriber = Subscriptions(create_engine_for(database)).get("telegram", 802)
    assert subscriber.status == "unreachable" and "chat not found" in subscriber.last_error.lower()


async def test_a_group_upgraded_to_a_supergroup_still_gets_announcements(fake, bot, database):
    fake.user_sends("/subscribe", chat_id=-901, user_id=901, chat_type="group")
    await sent_to(fake, -901, 1)
    fake.fail_next("sendMessage", status=400,
                   description="Bad Request: group chat was upgraded to a supergroup chat",
                   chat_id=-901, parameters={"migrate_to_chat_id": -100901})
    await announce(fake, "Slides are online.")
    [message] = await sent_to(fake, -100901, 1)
    assert text_of(message) == "Slides are online."
    subs = Subscriptions(create_engine_for(database))
    assert subs.get("telegram", -901) is None
    assert subs.get("telegram", -100901).status == "active"


async def test_the_migrate_service_message_moves_the_subscription(fake, bot, database):
    fake.user_sends("/subscribe", chat_id=-902, user_id=902, chat_type="group")
    await sent_to(fake, -902, 1)
    fake.enqueue({"message": {"message_id": 77, "date": 0,
                                  "chat": {"id": -902, "type": "group", "title": "Midwives"},
                                  "from": {"id": 902, "is_bot": False, "first_name": "A"},
                                  "migrate_to_chat_id": -100902}})
    subs = Subscriptions(create_engine_for(database))
    await fake._wait_until(lambda: subs.get("telegram", -100902) is not None, 10,
                           lambda: "the subscription did not move")
    assert subs.get("telegram", -902) is None


@pytest.fixture
def short_read_timeout(monkeypatch):
    """Broadcast sends time out after 0.5 s (set before the ``bot`` fixture builds the app)."""
    from bot.channels.telegram import subscribe
    monkeypatch.setattr(subscribe, "BROADCAST_READ_TIMEOUT", 0.5)


async def test_a_timed_out_send_is_in_doubt_and_retried_once(short_read_timeout, fake, bot):
    fake.user_sends("/subscribe", chat_id=811, user_id=811)
    await sent_to(fake, 811, 1)
    # Telegram takes the message but answers after the read time-out, twice in a row
    fake.delay_next("sendMessage", seconds=1.5, chat_id=811, times=2)
    await announce(fake, "Session moved to 10:00.")
    report = await sent_to(fake, ADMIN, 3)
    copies = [m for m in fake.sent_to(811) if text_of(m) == "Session moved to 10:00."]
    assert len(copies) == 2                     # at most one extra copy, never three
    assert "1 in doubt" in text_of(report[-1]) and "0 sent" in text_of(report[-1])


async def test_sigterm_during_a_broadcast_stops_within_five_seconds_and_loses_nothing(
        fake, database):
    """``forumbot run`` sending 300 announcements at 20/s (15 s of work) gets SIGTERM
    after a few: it exits within 5 s (a platform's grace is usually 30 s), nothing stays
    leased, and a restart sends every remaining message once."""
    engine = create_engine_for(database)
    migrate(engine)
    subs = Subscriptions(engine)
    for i in range(300):
        subs.subscribe("telegram", 20_000 + i)
    create_adhoc(engine, "Big news", "admin 1")
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url,
           "DATABASE_URL": database, "BROADCAST_RATE": "20", "WATCH_KNOWLEDGE": "false"}
    script = Path(sys.executable).parent / "forumbot"

    def run() -> subprocess.Popen:
        return subprocess.Popen([str(script), "run"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def broadcast() -> list[dict]:
        return [m for m in fake.sent if text_of(m) == "Big news"]

    proc = run()
    try:
        await fake._wait_until(lambda: len(broadcast()) >= 20, 40, lambda: "no broadcast")
    finally:
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(proc.communicate, timeout=30)
    took = time.monotonic() - stopped
    print(f"\nexit {took:.1f} s after SIGTERM, {len(broadcast())} of 300 sent")
    assert took < 5, err[-2000:]
    assert len(broadcast()) < 300
    with engine.connect() as conn:
        leased = conn.exec_driver_sql("SELECT count(*) FROM deliveries WHERE status = 'pending' "
                                      "AND claimed_by IS NOT NULL").scalar()
    assert leased == 0
    env["BROADCAST_RATE"] = "1000"
    proc = run()
    try:
        await fake._wait_until(lambda: len(broadcast()) >= 300, 60,
                               lambda: f"{len(broadcast())} sent")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.communicate, timeout=30)
    chats = [m["chat"]["id"] for m in broadcast()]
    assert len(chats) == len(set(chats)) == 300            # every one once, no duplicate
    engine.dispose()


async def test_the_broadcast_http_client_tells_nothing_sent_from_in_doubt(fake):
    """The broadcast Bot's aiohttp backend: a refused connection is transient (nothing left,
    retried), an answer later than the read time-out is in doubt (Telegram may have it)."""
    request = AiohttpRequest(2, read_timeout=0.3)   # the fake answers after 1 s below
    await request.initialize()
    try:
        closed = f"http://127.0.0.1:{free_tcp_port()}/bot"
        with pytest.raises(TransientError):
            await TelegramSender(Bot(fake.token, base_url=closed, request=request)).send(
                "901", "hello")
        sender = TelegramSender(Bot(fake.token, base_url=fake.base_url, request=request))
        fake.delay_next("sendMessage", seconds=1, chat_id=901)
        with pytest.raises(InDoubt):
            await sender.send("901", "hello")
        await sender.send("902", "hello")
        assert [m["chat"]["id"] for m in await fake.wait_for_sent(2)] == [901, 902]
    finally:
        await request.shutdown()
