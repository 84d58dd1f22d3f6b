"""Telegram handlers offline: updates go through ``Application.process_update``; the bot's
request object refuses network access and records what the bot would have sent."""
from __future__ import annotations

import json
import time

import pytest
from telegram import Update
from telegram.ext import ApplicationBuilder
from telegram.request import BaseRequest

from bot.channels.telegram.app import COMMANDS, attach, register_handlers
from bot.channels.telegram.format import MAX_MESSAGE, html_parts, keyboard, split_lines
from bot.channels.telegram.state import CONTEXT_TYPES
from bot.core.types import Choice, Reply
from bot.service import AssistantService

TOKEN = "123456:OFFLINE-token-abcdefghijklmnopqrstu"
BOT = {"id": 123456, "is_bot": True, "first_name": "Summit", "username": "SummitTestBot"}


class OfflineRequest(BaseRequest):
    """Answers the few Bot API methods the handlers use, from memory; anything else is a
    network access and fails the test."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    @property
    def read_timeout(self):
        return 1.0

    async def initialize(self):
        pass

    async def shutdown(self):
        pass

    async def do_request(self, url, method, request_data=None, **_):
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        self.calls.append((name, params))
        if name == "getMe":
            result = BOT
        elif name == "sendMessage":
            result = {"message_id": len(self.calls), "date": int(time.time()), "from": BOT,
                      "chat": {"id": params["chat_id"], "type": "private"},
                      "text": params["text"]}
        elif name in ("answerCallbackQuery", "answerInlineQuery", "setMyCommands"):
            result = True
        else:
            raise AssertionError(f"network access refused: {name}")
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def sent(self) -> list[dict]:
        return [p for name, p in self.calls if name == "sendMessage"]


@pytest.fixture
async def app(assistant):
    request = OfflineRequest()
    application = (ApplicationBuilder().token(TOKEN).request(request)
                   .context_types(CONTEXT_TYPES)
                   .get_updates_request(OfflineRequest()).build())
    attach(application, AssistantService(assistant))
    register_handlers(application)
    await application.initialize()
    application.request_log = request
    yield application
    await application.shutdown()


def message_update(text, *, chat_type="private", chat_id=42, update_id=1, entities=None,
                   reply_to=None, edited=False):
    message = {"message_id": 7, "date": int(time.time()), "text": text,
               "chat": {"id": chat_id, "type": chat_type},
               "from": {"id": 99, "is_bot": False, "first_name": "Amina"}}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0,
                                "length": len(text.split()[0])}]
    if entities:
        message["entities"] = entities
    if reply_to:
        message["reply_to_message"] = reply_to
    return {"update_id": update_id, ("edited_message" if edited else "message"): message}


async def push(app, data) -> list[dict]:
    await app.process_update(Update.de_json(data, app.bot))
    return app.request_log.sent()


async def test_private_question_is_answered_in_html(app):
    [sent] = await push(app, message_update("Cai Bin"))
    assert sent["parse_mode"] == "HTML" and sent["chat_id"] == 42
    assert sent["text"].startswith("<b>Cai Bin.</b>")
    assert "postpartum hemorrhage" in sent["text"]


async def test_command_with_deep_link_payload(app):
    [sent] = await push(app, message_update("/start doctors"))
    assert "Find a Doctor lists" in sent["text"]


async def test_unknown_command_in_private_is_explained(app):
    [sent] = await push(app, message_update("/frobnicate"))
    assert "I do not know the command /frobnicate" in sent["text"]


async def test_group_small_talk_is_ignored_but_a_mention_is_answered(app):
    assert await push(app, message_update("lovely forum", chat_type="group", chat_id=-1)) == []
    mention = [{"type": "mention", "offset": 0, "length": len("@SummitTestBot")}]
    [sent] = await push(app, message_update("@SummitTestBot who is qin jing", chat_type="group",
                                            chat_id=-1, entities=mention))
    assert "Party Committee" in sent["text"]
    assert sent["reply_parameters"]["message_id"] == 7


async def test_edited_message_and_empty_update_do_not_crash(app):
    assert await push(app, message_update("hello", edited=True)) == []
    assert await push(app, {"update_id": 5}) == []


async def test_callback_is_always_answered(app):
    data = {"update_id": 3, "callback_query": {
        "id": "cb1", "chat_instance": "ci", "data": "person:li-jinbao",
        "from": {"id": 99, "is_bot": False, "first_name": "Amina"},
        "message": {"message_id": 9, "date": int(time.time()),
                    "chat": {"id": 42, "type": "private"}, "text": "menu"}}}
    [sent] = await push(app, data)
    answers = [p for name, p in app.request_log.calls if name == "answerCallbackQuery"]
    assert answers and "Li Jinbao" in sent["text"]


async def test_command_menu_matches_the_registered_commands():
    names = [name for name, _ in COMMANDS]
    assert names == ["start", "help", "sessions", "speakers", "doctor", "emergency", "about",
                     "language", "subscribe", "unsubscribe", "forget"]


def test_split_keeps_every_character_and_the_limit():
    text = "\n".join(f"line {i} with <markup> & more " * 12 for i in range(80))
    parts = split_lines(text)
    assert "\n".join(parts) == text
    assert all(len(p.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
               <= MAX_MESSAGE for p in parts)


def test_html_parts_escape_everything():
    reply = Reply(intent="speaker", text="A <b> & C\nsecond <line>")
    assert html_parts(reply) == ["<b>A &lt;b&gt; &amp; C</b>\nsecond &lt;line&gt;"]


def test_keyboard_drops_ids_over_64_bytes():
    reply = Reply(intent="fallback", text="?", choices=(
        Choice("person:cai-bin", "Cai Bin"), Choice("talk:" + "é" * 40, "too long")))
    markup = keyboard(reply)
    assert [b.callback_data for row in markup.inline_keyboard for b in row] == ["person:cai-bin"]


def inline_update(query: str, update_id: int = 5) -> dict:
    return {"update_id": update_id, "inline_query": {
        "id": "iq1", "query": query, "offset": "",
        "from": {"id": 99, "is_bot": False, "first_name": "Amina"}}}


@pytest.mark.parametrize("query,lang,title", [
    ("qui a parlé de la prééclampsie", "fr", "Brini Jihane : Prise en charge clinique"),
    ("谁讲了子痫前期", "zh", "Brini Jihane：子痫前期的临床管理与病例分析"),
    ("من تحدث عن تسمم الحمل", "ar", "التدبير السريري لتسمم الحمل"),
    ("ma femme saigne beaucoup", "fr", "Urgence : appelez maintenant"),
])
async def test_inline_results_are_written_in_the_language_of_the_query(app, query, lang, title):
    from langcheck import reply_language
    await app.process_update(Update.de_json(inline_update(query), app.bot))
    [(_, params)] = [c for c in app.request_log.calls if c[0] == "answerInlineQuery"]
    results = json.loads(params["results"]) if isinstance(params["results"], str) \
        else params["results"]
    assert results and any(title in r["title"] for r in results), [r["title"] for r in results]
    for r in results:
        body = r["input_message_content"]["message_text"]
        assert reply_language(body) == lang, body[:120]
