"""No log line carries what a user wrote or who they are, at any level and whichever library
writes it: python-telegram-bot's DEBUG update dumps and Bot API parameters, and its CRITICAL
"could not decode" record with the raw update, pass through the same formatter."""
from __future__ import annotations

import asyncio
import contextlib
import io
import logging

import pytest
from telegram_test import text_of

from bot import logs
from bot.channels.telegram.app import build_application
from bot.settings import Settings

USER_ID = 987654321
# what identifies the user, or what they wrote: none of it may reach the log
PRIVATE = ["Zanzibar", str(USER_ID), "Khadija", "khadija_b", "0612345678", "61 23 45",
           "k.b@example.org", "Mauritius"]


@pytest.fixture
def log_buffer(fake):
    """The root logger as ``forumbot`` configures it at LOG_LEVEL=DEBUG, into a buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buffer = io.StringIO()
    logs.configure("DEBUG", [fake.token], stream=buffer)
    yield buffer
    root.handlers[:], _ = saved[0], root.setLevel(saved[1])


async def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_debug_and_critical_lines_carry_no_user_text_or_id(fake, assistant, log_buffer):
    settings = Settings(telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url,
                        database_url="", watch_knowledge=False)
    app = build_application(settings, assistant)
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        fake.user_sends("Zanzibar: who is cai bin? call 06 12 34 56 78 or k.b@example.org",
                        chat_id=USER_ID, user_id=USER_ID, username="khadija_b",
                        first_name="Khadija")
        [reply] = await fake.wait_for_sent(1)
        assert "Cai Bin" in text_of(reply)
        # an update PTB cannot decode (a message without chat and date): logged at CRITICAL
        fake.enqueue({"message": {"message_id": 7, "text": "Mauritius 0612345678",
                                  "from": {"id": USER_ID, "first_name": "Khadija",
                                           "is_bot": False}}})
        await wait_for(lambda: "CRITICAL" in log_buffer.getvalue())
    finally:
        with contextlib.suppress(KeyError):  # the undecodable update's error, re-raised
            await app.updater.stop()
        await app.stop()
        await app.shutdown()
    text = log_buffer.getvalue()
    # the test saw the lines that used to carry the data
    assert "Processing update" in text and "sendMessage" in text and "CRITICAL" in text
    for private in PRIVATE:
        assert private.lower() not in text.lower(), [ln for ln in text.splitlines()
                                                     if private.lower() in ln.lower()]
    assert fake.token.split(":")[1] not in text


@pytest.mark.parametrize("msg,args,hidden", [
    ("Received data was: %r", ({"message": {"text": "Zanzibar", "from": {"id": 4242}}},),
     ["Zanzibar", "4242"]),
    ("Webhook received data: %s", ('{"message": {"text": "Zanzibar"}}',), ["Zanzibar"]),
    ("bad value: %s", (ValueError("first_name='Khadija' text='Zanzibar' id=4242"),),
     ["Khadija", "Zanzibar", "4242"]),
    ("knowledge loaded (%s)", ("/reload by admin 4242",), ["4242"]),
    ("parse failed for %s", ("<xml><Content><![CDATA[Zanzibar]]></Content></xml>",),
     ["Zanzibar"]),
    ("user wrote to %s from %s", ("k.b@example.org", "+212612345678"),
     ["example.org", "612345678"]),
    # a database error's text shows the statement's parameters, a WeChat openid among them
    ("could not record: %s", (RuntimeError("[parameters: ('wechat', "
                                           "'oWx3s5Qm8Y2jK9dLpR4tVbN7cZ1e')]"),),
     ["oWx3s5Qm8Y2jK9dLpR4tVbN7cZ1e"]),
])
def test_the_formatter_withholds_user_data_of_any_shape(msg, args, hidden):
    record = logging.LogRecord("telegram.ext", logging.CRITICAL, __file__, 1, msg, args, None)
    text = logs.SafeFormatter([], full_tracebacks=True).format(record)
    for value in hidden:
        assert value not in text, text
    assert msg.split(" ")[0] in text  # the line itself stays, only the data goes
