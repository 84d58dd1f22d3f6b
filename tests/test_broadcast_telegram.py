"""Subscriptions and announcements end to end: the real Application against the fake Bot
API, a SQLite file, and the broadcast worker running in the bot process."""
from __future__ import annotations

import pytest
from fake_bot_api import FakeBotApi
from telegram_test import text_of

from bot.channels.telegram.app import build_application
from bot.settings import Settings
from bot.storage import Subscriptions, create_engine_for

ADMIN = 4242


@pytest.fixture
def database(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/broadcast.sqlite3"


@pytest.fixture
async def bot(fake, assistant, database):
    settings = Settings(telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url,
                        database_url=database, admin_user_ids=[ADMIN], watch_knowledge=False,
                        broadcast_rate=1000)
    app = build_application(settings, assistant)
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    yield app
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


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
