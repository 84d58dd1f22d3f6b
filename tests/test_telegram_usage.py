"""Telegram as people really use it, end to end against the fake Bot API: media and
captions, forum topics, commands split by a newline, buttons answered late, buttons under
inline-mode results (no chat)."""
from __future__ import annotations

import asyncio
import time

import pytest
from fake_bot_api import FakeBotApi
from telegram_test import ADMIN, polling_bot, settings_for, text_of

from bot.core.engine import Assistant
from bot.storage import Subscriptions, create_engine_for

BOT = "SummitTestBot"
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
FORUM = -1001234567
TOPIC = 77


def user(user_id: int = 1001, language_code: str = "en") -> dict:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}",
            "language_code": language_code}


def chat(chat_id: int) -> dict:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
    if chat_id == FORUM:
        return {"id": chat_id, "type": "supergroup", "title": "Forum", "is_forum": True}
    return {"id": chat_id, "type": "group", "title": "Group"}


def sends(fake: FakeBotApi, *, chat_id: int = 1001, sender: dict | None = None,
          thread: int | None = None, **content) -> dict:
    """Enqueue a message update with any content (photo, voice, sticker, text ...)."""
    message = {"message_id": fake._new_message_id(chat_id), "date": int(time.time()),
               "chat": chat(chat_id), "from": sender or user(chat_id if chat_id > 0 else 1001),
               **content}
    if thread is not None:
        message.update(message_thread_id=thread, is_topic_message=True)
    return fake.enqueue({"message": message})


def presses(fake: FakeBotApi, data: str, *, chat_id: int | None = 1001, user_id: int = 1001,
            thread: int | None = None, message_id: int = 1) -> dict:
    """Enqueue a callback query: under a bot message in ``chat_id`` (in forum topic
    ``thread``), or with ``chat_id=None`` under an inline-mode result (no message, no chat)."""
    query = {"id": fake._new_query_id(), "from": user(user_id), "data": data,
             "chat_instance": "42"}
    if chat_id is None:
        query["inline_message_id"] = "BAAAAAbCdEf"
    else:
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat(chat_id),
                   "from": fake.bot_user, "text": "..."}
        if thread is not None:
            message.update(message_thread_id=thread, is_topic_message=True)
        query["message"] = message
    return fake.enqueue({"callback_query": query})


PHOTO = [{"file_id": "AgADphoto", "file_unique_id": "p1", "width": 90, "height": 90}]
VOICE = {"file_id": "AwADvoice", "file_unique_id": "v1", "duration": 3}
STICKER = {"file_id": "CAADsticker", "file_unique_id": "s1", "type": "regular", "width": 512,
           "height": 512, "is_animated": False, "is_video": False, "emoji": "\U0001f44d"}


# -- 1. media and captions ---------------------------------------------------------------
async def test_a_caption_is_answered_like_a_text(fake, bot):
    sends(fake, photo=PHOTO, caption="who is cai bin")
    [reply] = await fake.wait_for_sent(1)
    assert "Cai Bin" in text_of(reply)


async def test_voice_and_stickers_get_a_text_only_note_in_the_users_language(fake, bot):
    sends(fake, voice=VOICE)
    sends(fake, chat_id=1002, sender=user(1002, "fr-FR"), sticker=STICKER)
    sends(fake, chat_id=1003, sender=user(1003, "zh-hans"), document={
        "file_id": "BQAD", "file_unique_id": "d1", "file_name": "scan.pdf"})
    await fake.wait_for_sent(3)
    assert "I read text messages" in text_of(fake.sent_to(1001)[0])
    assert "Je lis les messages écrits" in text_of(fake.sent_to(1002)[0])
    assert "文字" in text_of(fake.sent_to(1003)[0])


async def test_media_in_a_group_only_when_addressed(fake, bot):
    sends(fake, chat_id=-500, sticker=STICKER)
    sends(fake, chat_id=-500, photo=PHOTO, caption="our team photo")
    sends(fake, chat_id=-500, photo=PHOTO, caption=f"@{BOT} who is cai bin",
          caption_entities=[{"type": "mention", "offset": 0, "length": len(BOT) + 1}])
    [reply] = await fake.wait_for_sent(1)
    await asyncio.sleep(0.3)
    assert len(fake.sent) == 1 and "Cai Bin" in text_of(reply)


async def test_service_messages_get_no_note(fake, bot):
    sends(fake, chat_id=-500, new_chat_members=[user(1009)])
    sends(fake, text="hello")
    [reply] = await fake.wait_for_sent(1)
    await asyncio.sleep(0.3)
    assert len(fake.sent) == 1 and reply["chat"]["id"] == 1001


# -- 2. forum topics ---------------------------------------------------------------------
async def test_a_command_in_a_forum_topic_is_answered_in_that_topic(fake, bot):
    command = f"/sessions@{BOT}"
    sends(fake, chat_id=FORUM, thread=TOPIC, text=command,
          entities=[{"type": "bot_command", "offset": 0, "length": len(command)}])
    sends(fake, chat_id=FORUM, thread=TOPIC, sticker=STICKER,
          reply_to_message={"message_id": 1, "date": 0, "chat": chat(FORUM),
                            "from": fake.bot_user, "text": "..."})
    await fake.wait_for_sent(2)
    calls = fake.calls_of("sendMessage")
    assert len(calls) == 2 and all(c.get("message_thread_id") == TOPIC for c in calls)


async def test_a_button_in_a_forum_topic_is_answered_in_that_topic(fake, bot):
    presses(fake, "specialty:midwifery", chat_id=FORUM, thread=TOPIC)
    [reply] = await fake.wait_for_sent(1)
    assert "Refki Ilham" in text_of(reply)
    assert fake.calls_of("sendMessage")[0].get("message_thread_id") == TOPIC


async def test_every_part_of_a_split_reply_stays_in_the_topic(fake, knowledge):
    talks = [t.model_copy(update={"summary": "A long summary sentence. " * 120})
             for t in knowledge.talks]
    assistant = Assistant(knowledge.model_copy(update={"talks": talks}))
    async with polling_bot(settings_for(fake), assistant):
        sends(fake, chat_id=FORUM, thread=TOPIC, text=f"@{BOT} who talked about hemorrhage",
              entities=[{"type": "mention", "offset": 0, "length": len(BOT) + 1}])
        await fake.wait_for_sent(2)
        await asyncio.sleep(0.3)
        calls = fake.calls_of("sendMessage")
        assert len(calls) >= 2 and all(c.get("message_thread_id") == TOPIC for c in calls)


async def test_the_general_topic_and_plain_groups_get_no_thread(fake, bot):
    sends(fake, chat_id=-500, text="/sessions", message_thread_id=12,  # a reply chain
          entities=[{"type": "bot_command", "offset": 0, "length": 9}])
    await fake.wait_for_sent(1)
    assert "message_thread_id" not in fake.calls_of("sendMessage")[0]


# -- 3. a command and its argument on two lines ------------------------------------------
@pytest.mark.parametrize("separator", ["\n", "\t", "\u00a0", "\r\n", "\u3000"])
async def test_a_command_split_from_its_argument_by_any_whitespace(fake, bot, separator):
    sends(fake, text=f"/doctor{separator}midwife",
          entities=[{"type": "bot_command", "offset": 0, "length": 7}])
    [reply] = await fake.wait_for_sent(1)
    assert "Refki Ilham" in text_of(reply) and "do not know the command" not in text_of(reply)


# -- 4. buttons answered late, buttons without a chat ------------------------------------
async def test_a_button_pressed_long_ago_still_gets_its_answer(fake, bot):
    fake.fail_next("answerCallbackQuery", status=400, description=TOO_OLD)
    presses(fake, "specialty:midwifery")
    [reply] = await fake.wait_for_sent(1)
    assert "Refki Ilham" in text_of(reply)
    fake.fail_next("answerCallbackQuery", status=400, description=TOO_OLD)
    presses(fake, "sub:on", user_id=1001)
    [_, subscribed] = await fake.wait_for_sent(2)
    assert text_of(subscribed).startswith("You are subscribed")


async def test_an_announcement_send_pressed_late_is_sent(fake, bot):
    fake.user_sends("/subscribe", chat_id=601, user_id=601)
    await fake._wait_until(lambda: fake.sent_to(601), 5, lambda: "no /subscribe reply")
    fake.user_sends("/announce The slides are online.", chat_id=ADMIN, user_id=ADMIN)
    await fake._wait_until(lambda: fake.sent_to(ADMIN), 5, lambda: "no preview")
    [preview] = fake.sent_to(ADMIN)
    send = preview["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.fail_next("answerCallbackQuery", status=400, description=TOO_OLD)
    fake.user_presses(send, message_id=preview["message_id"], chat_id=ADMIN, user_id=ADMIN)
    await fake._wait_until(lambda: len(fake.sent_to(601)) >= 2, 10,
                           lambda: f"{[text_of(m) for m in fake.sent]}")
    assert text_of(fake.sent_to(601)[-1]) == "The slides are online."
    assert "queued" in text_of(fake.sent_to(ADMIN)[1])


async def test_subscribe_and_forget_buttons_under_an_inline_result(fake, bot, database):
    presses(fake, "sub:on", chat_id=None, user_id=1201)
    answer = await fake.wait_for_call("answerCallbackQuery")
    assert answer["text"].startswith("You are subscribed")
    store = Subscriptions(create_engine_for(database))
    assert store.get("telegram", 1201) is not None
    presses(fake, "forget:yes", chat_id=None, user_id=1201)
    answer = await fake.wait_for_call("answerCallbackQuery")
    assert answer["text"] == "Everything stored about you has been deleted."
    assert store.get("telegram", 1201) is None
    presses(fake, "talk:no-such-talk", chat_id=None, user_id=1201)
    answer = await fake.wait_for_call("answerCallbackQuery")
    assert "expired" in answer["text"]
    assert fake.sent == []
