"""Tests of tests/fake_bot_api.py, driven by python-telegram-bot's real Bot and Application."""
from __future__ import annotations

import asyncio
import datetime as dtm
import time

import pytest
import pytest_asyncio
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, MessageHandler, filters
from telegram.request import HTTPXRequest

try:  # tests/ is on sys.path (rootdir-relative, no __init__.py)
    from fake_bot_api import FakeBotApi, free_tcp_port, validate_telegram_html
except ImportError:  # pragma: no cover - if tests/ becomes a package
    from tests.fake_bot_api import FakeBotApi, free_tcp_port, validate_telegram_html

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def fake():
    api = FakeBotApi()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest_asyncio.fixture
async def bot(fake):
    b = Bot(fake.token, base_url=fake.base_url)
    await b.initialize()
    try:
        yield b
    finally:
        await b.shutdown()


def _seconds(value) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


# ---------------------------------------------------------------- basics


async def test_get_me_gives_username(fake, bot):
    me = await bot.get_me()
    assert me.username == "SummitTestBot"
    assert me.id == fake.bot_id
    assert me.is_bot is True
    assert me.supports_inline_queries is True
    assert bot.username == "SummitTestBot"
    assert fake.calls[0][0] == "getMe"


async def test_wrong_token_is_unauthorized(fake):
    # Bot.shutdown() does nothing for a bot whose initialize() failed, so the test owns the
    # HTTP clients and closes them (an unclosed one is a ResourceWarning, an error here).
    requests = (HTTPXRequest(), HTTPXRequest())
    other = Bot(
        "999:WRONG-token-abcdefghijklmnopqrstuvwx",
        base_url=fake.base_url,
        request=requests[0],
        get_updates_request=requests[1],
    )
    try:
        with pytest.raises(InvalidToken):
            await other.initialize()
    finally:
        for request in requests:
            await request.shutdown()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBUserWarning")
async def test_unknown_method_is_404(fake, bot):
    with pytest.raises(Exception) as info:
        await bot.do_api_request("sendDice", api_kwargs={"chat_id": 1})
    assert "not found" in str(info.value).lower()
    assert fake.calls[-1][0] == "sendDice"


# ---------------------------------------------------------------- long polling


async def test_get_updates_times_out_with_empty_list(fake, bot):
    t0 = time.monotonic()
    updates = await bot.get_updates(timeout=1)
    elapsed = time.monotonic() - t0
    assert updates == ()
    assert elapsed >= 0.8   # the server held the long poll (no upper bound: load varies)
    assert fake.calls[-1] == ("getUpdates", {"timeout": 1})


async def test_get_updates_returns_promptly_when_update_arrives(fake, bot):
    t0 = time.monotonic()
    task = asyncio.create_task(bot.get_updates(timeout=60))
    await asyncio.sleep(0.2)
    fake.user_sends("hello there")
    updates = await asyncio.wait_for(task, 30)   # well before the 60 s long poll ends
    assert time.monotonic() - t0 < 30
    assert len(updates) == 1
    msg = updates[0].message
    assert msg.text == "hello there"
    assert msg.chat.id == 1001 and msg.chat.type == "private"
    assert msg.from_user.username == "alice"
    assert isinstance(msg.date, dtm.datetime) and abs(msg.date.timestamp() - time.time()) < 5


async def test_offset_confirms_updates(fake, bot):
    first = fake.user_sends("one")
    second = fake.user_sends("two")
    assert second["update_id"] == first["update_id"] + 1

    updates = await bot.get_updates()
    assert [u.message.text for u in updates] == ["one", "two"]
    # not confirmed yet: delivered again
    assert len(await bot.get_updates()) == 2
    # limit
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [first["update_id"]]
    # confirm the first only
    assert [u.message.text for u in await bot.get_updates(offset=first["update_id"] + 1)] == ["two"]
    assert await bot.get_updates(offset=second["update_id"] + 1) == ()
    assert fake.pending_updates == []


async def test_second_poller_terminates_first(fake, bot):
    # like Telegram: a second bot instance polling kicks the first one's pending long poll
    other = Bot(fake.token, base_url=fake.base_url)
    first = asyncio.create_task(bot.get_updates(timeout=2))
    await asyncio.sleep(0.2)
    async with other:
        assert await other.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="(?i)terminated by other getUpdates"):
        await first


async def test_user_sends_entities_and_callback_shape(fake):
    upd = fake.user_sends("/start@SummitTestBot hi @SummitTestBot")
    ents = upd["message"]["entities"]
    assert ents[0] == {"type": "bot_command", "offset": 0, "length": len("/start@SummitTestBot")}
    assert ents[1]["type"] == "mention" and ents[1]["offset"] == len("/start@SummitTestBot hi ")
    cb = fake.user_presses("x", message_id=upd["message"]["message_id"])
    assert cb["callback_query"]["chat_instance"]
    assert cb["callback_query"]["message"]["message_id"] == upd["message"]["message_id"]
    assert isinstance(cb["callback_query"]["message"]["date"], int)


# ---------------------------------------------------------------- sending


async def test_send_message_returns_message_and_is_recorded(fake, bot):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    msg = await bot.send_message(1001, "hello <b>world</b>", parse_mode="HTML", reply_markup=markup)
    assert msg.text == "hello <b>world</b>"
    assert msg.chat.id == 1001
    assert msg.from_user.id == fake.bot_id and msg.from_user.is_bot
    assert msg.reply_markup == markup
    assert isinstance(msg.date, dtm.datetime)
    msg2 = await bot.send_message(1001, "again")
    assert msg2.message_id == msg.message_id + 1

    assert len(fake.sent) == 2
    first = fake.sent[0]
    assert first["text"] == "hello <b>world</b>"
    assert first["parse_mode"] == "HTML"
    assert first["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    assert isinstance(first["date"], int)
    assert fake.sent_to(1001) == fake.sent and fake.sent_to(42) == []
    params = await fake.wait_for_call("sendMessage")
    assert params["chat_id"] == 1001 and params["text"] == "hello <b>world</b>"
    assert (await fake.wait_for_call("sendMessage"))["text"] == "again"


@pytest.mark.parametrize(
    "text",
    ["<b>x", "a & b", "<br>", "<b><i>x</b></i>", "x</b>", "<span>s</span>", "&nbsp;"],
)
async def test_html_validation_rejects(bot, text):
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(1001, text, parse_mode="HTML")


async def test_html_validation_accepts_valid_markup(fake, bot):
    ok = 'a &amp; b <b>x</b> <a href="https://x.org/?a=1&amp;b=2">l</a> <pre><code class="language-py">1 &lt; 2</code></pre> &#128512;'
    await bot.send_message(1001, "a &amp; b <b>x</b>", parse_mode="HTML")
    await bot.send_message(1001, ok, parse_mode="HTML")
    # without parse_mode nothing is parsed
    await bot.send_message(1001, "a & b <b>x", parse_mode=None)
    assert len(fake.sent) == 3
    assert validate_telegram_html("a &amp; b <b>x</b>") == "a & b x"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_retry_after_injection(fake, bot):
    fake.fail_next("sendMessage", status=429, description="Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(1001, "hi")
    assert _seconds(info.value.retry_after) == 7
    await bot.send_message(1001, "hi")  # only the next call failed
    assert len(fake.sent) == 1


async def test_fail_next_for_one_chat_only(fake, bot):
    fake.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user", chat_id=7, times=2)
    await bot.send_message(8, "fine")
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(7, "no")
    await bot.send_message(7, "fine now")
    assert [m["text"] for m in fake.sent] == ["fine", "fine now"]


async def test_block_makes_send_forbidden(fake, bot):
    await bot.send_message(1001, "before")
    fake.block(1001)
    with pytest.raises(Forbidden, match="(?i)blocked by the user"):
        await bot.send_message(1001, "after")
    await bot.send_message(2002, "other chat is fine")
    assert [m["text"] for m in fake.sent] == ["before", "other chat is fine"]


async def test_too_long_message_is_bad_request(fake, bot):
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(1001, "x" * 4097)
    await bot.send_message(1001, "x" * 4096)
    with pytest.raises(BadRequest, match="(?i)text is empty"):
        await bot.send_message(1001, "   ")
    assert len(fake.sent) == 1


async def test_callback_data_over_64_bytes_is_rejected(bot):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Too long", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(1001, "pick", reply_markup=markup)


# ---------------------------------------------------------------- callbacks, edits, inline, misc


async def test_answer_callback_query_recorded(fake, bot):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    sent = await bot.send_message(1001, "Question?", reply_markup=markup)
    fake.user_presses("yes", message_id=sent.message_id)
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert query.data == "yes"
    assert query.chat_instance
    assert query.message.message_id == sent.message_id and query.message.text == "Question?"
    assert query.from_user.id == 1001

    assert await query.answer("Thanks!") is True
    assert fake.callback_answers[0]["text"] == "Thanks!"
    assert fake.callback_answers[0]["callback_query_id"] == query.id
    with pytest.raises(BadRequest, match="(?i)query ID is invalid"):
        await query.answer()  # answering twice is an error on Telegram too

    edited = await query.edit_message_text("Answered: yes")
    assert edited.text == "Answered: yes" and edited.reply_markup is None
    assert fake.message(1001, sent.message_id)["text"] == "Answered: yes"
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await query.edit_message_text("Answered: yes")
    assert fake.sent[0]["text"] == "Question?"  # `sent` keeps what was sent
    assert [e["method"] for e in fake.edits] == ["editMessageText"]


async def test_edit_reply_markup_and_user_edits(fake, bot):
    sent = await bot.send_message(1001, "menu")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    res = await bot.edit_message_reply_markup(1001, sent.message_id, reply_markup=markup)
    assert res.reply_markup == markup
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=1001, message_id=999)
    user_msg = fake.user_sends("typo")["message"]
    with pytest.raises(BadRequest, match="(?i)can't be edited"):
        await bot.edit_message_text("x", chat_id=1001, message_id=user_msg["message_id"])
    fake.user_edits(user_msg["message_id"], "fixed")
    updates = await bot.get_updates()
    assert updates[-1].edited_message.text == "fixed"
    assert updates[-1].edited_message.edit_date is not None


async def test_inline_query_answer_recorded(fake, bot):
    fake.user_inline_query("doctor")
    (update,) = await bot.get_updates()
    assert update.inline_query.query == "doctor"
    result = InlineQueryResultArticle("r1", "Dr. X", InputTextMessageContent("Dr. X, anaesthesia"))
    assert await update.inline_query.answer([result], cache_time=0) is True
    answer = fake.inline_answers[0]
    assert answer["results"][0]["id"] == "r1"
    assert answer["results"][0]["input_message_content"]["message_text"] == "Dr. X, anaesthesia"


async def test_commands_chat_and_chat_action(fake, bot):
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()

    fake.user_sends("hi", username="bob", first_name="Bob", chat_id=55, user_id=55)
    chat = await bot.get_chat(55)
    assert chat.type == "private" and chat.username == "bob"
    assert await bot.send_chat_action(55, "typing") is True
    assert fake.chat_actions[0]["action"] == "typing"
    assert await bot.close() is True and await bot.log_out() is True


async def test_webhook_state_and_conflict(fake, bot):
    fake.user_sends("pending")
    assert (await bot.get_webhook_info()).pending_update_count == 1
    assert await bot.set_webhook("https://example.org/hook", secret_token="s3cret", max_connections=5)
    assert fake.webhook["url"] == "https://example.org/hook"
    assert fake.webhook["secret_token"] == "s3cret"
    info = await bot.get_webhook_info()
    assert info.url == "https://example.org/hook" and info.max_connections == 5
    with pytest.raises(Conflict):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert fake.webhook is None
    assert fake.pending_updates == []
    assert (await bot.get_webhook_info()).url == ""


# ---------------------------------------------------------------- full Application


async def _echo(update, context):
    await update.message.reply_text(f"echo: {update.message.text}")


async def _start(update, context):
    await update.message.reply_text("Welcome!")


def _build_app(fake):
    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    return app


async def test_application_polling_end_to_end(fake):
    app = _build_app(fake)
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        fake.user_sends("hello bot")
        group_msg = fake.user_sends(
            "/start@SummitTestBot", chat_id=-100200, chat_type="supergroup", user_id=2002, username="bob"
        )["message"]
        sent = await fake.wait_for_sent(2, timeout=3)
        by_chat = {m["chat"]["id"]: m for m in sent}
        assert by_chat[1001]["text"] == "echo: hello bot"
        assert by_chat[-100200]["text"] == "Welcome!"
        # PTB quotes in groups: the reply points at the user's message
        assert by_chat[-100200]["reply_to_message"]["message_id"] == group_msg["message_id"]
        assert by_chat[-100200]["chat"]["type"] == "supergroup"
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    # the updater's last getUpdates confirmed everything it fetched
    assert fake.pending_updates == []
    assert fake.calls[0][0] == "getMe"
    assert "deleteWebhook" in [name for name, _ in fake.calls]


async def test_application_webhook_end_to_end(fake):
    app = _build_app(fake)
    port = free_tcp_port()
    await app.initialize()
    await app.start()
    await app.updater.start_webhook(
        listen="127.0.0.1",
        port=port,
        url_path="hook",
        webhook_url=f"http://127.0.0.1:{port}/hook",
        secret_token="s3cret",
    )
    try:
        assert fake.webhook["url"] == f"http://127.0.0.1:{port}/hook"
        assert fake.webhook["secret_token"] == "s3cret"
        update = fake.user_sends("via webhook")
        url = fake.webhook["url"]
        assert await fake.post_update_to_webhook(url, update, "wrong") == 403
        assert await fake.post_update_to_webhook(url, update, "s3cret") == 200
        sent = await fake.wait_for_sent(1, timeout=3)
        assert sent[0]["text"] == "echo: via webhook"
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def test_wait_for_sent_times_out_with_details(fake, bot):
    await bot.send_message(1001, "only one")
    with pytest.raises(TimeoutError, match="(?i)only one"):
        await fake.wait_for_sent(2, timeout=0.2)
