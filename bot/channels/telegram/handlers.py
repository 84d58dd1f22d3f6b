"""Telegram update handlers: thin adapters from updates to the core and back.

Every handler reads ``update.effective_message`` (or the callback/inline query) and returns
quietly when it is missing, so edited messages, channel posts and odd updates never crash.
The knowledge being served lives in ``application.bot_data[HOLDER]`` (a
:class:`~bot.reload.KnowledgeHolder`): each handler reads ``holder.assistant`` once and
answers with that one, so a reload never mixes two versions in one answer.
"""
from __future__ import annotations

import asyncio
import logging

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram import Message as TgMessage
from telegram.constants import ChatType, MessageEntityType, ParseMode
from telegram.ext import ContextTypes

from bot.core import render
from bot.core.engine import Assistant
from bot.core.types import Message, Reply
from bot.i18n import _, language

from .format import html_parts, keyboard

log = logging.getLogger(__name__)

HOLDER = "knowledge"
QUESTIONS = "question_log"    # bot.storage.QuestionLog, when a database is configured
SUBSCRIPTIONS = "subscriptions"  # bot.storage.Subscriptions, when a database is configured
INLINE_KINDS = ("talk", "person", "doctor", "topic")
MAX_INLINE_RESULTS = 20


def assistant_of(context: ContextTypes.DEFAULT_TYPE) -> Assistant:
    """Return the assistant currently serving (the last good knowledge version)."""
    return context.application.bot_data[HOLDER].assistant


LANGUAGE_NAMES = {"en": "English", "fr": "Français", "ar": "العربية", "zh": "中文"}


def preferred_language(context: ContextTypes.DEFAULT_TYPE) -> str | None:
    """Return the language the user chose with /language, or None (detect per message)."""
    data = context.user_data
    return data.get("lang") if data is not None else None


def _message(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> Message:
    user = update.effective_user
    return Message(text=text, user_id=str(user.id) if user else None,
                   lang=preferred_language(context))


async def send_reply(bot, chat_id: int, reply: Reply, reply_to: int | None = None,
                     extra_row: list | None = None) -> None:
    """Send a reply as one or more HTML messages; the buttons (the reply's choices, then
    ``extra_row`` of channel buttons) go with the last part."""
    parts = html_parts(reply)
    markup = keyboard(reply)
    if extra_row:
        rows = list(markup.inline_keyboard) if markup else []
        markup = InlineKeyboardMarkup([*rows, extra_row])
    for i, part in enumerate(parts):
        await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML,
                               reply_markup=markup if i == len(parts) - 1 else None,
                               reply_to_message_id=reply_to if i == 0 else None,
                               allow_sending_without_reply=True)


def addressed_to_me(message: TgMessage, bot) -> bool:
    """In a group: True when the message mentions this bot or replies to one of its messages."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        return True
    mention = f"@{bot.username}".lower()
    return any(text.lower() == mention for text in
               message.parse_entities([MessageEntityType.MENTION]).values())


def without_mention(text: str, username: str) -> str:
    """Return ``text`` without "@username" (any case)."""
    mention = f"@{username}"
    index = text.lower().find(mention.lower())
    return text if index < 0 else (text[:index] + text[index + len(mention):]).strip()


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any command (/start, /help, /sessions, /speakers, /doctor ..., /emergency, /about):
    the core parses it, including a deep-link payload such as "/start doctors"."""
    message = update.effective_message
    if message is None or not message.text:
        return
    reply = assistant_of(context).reply(_message(update, context, message.text))
    extra = None
    if message.text.split()[0].split("@")[0] == "/start" and \
            context.application.bot_data.get(SUBSCRIPTIONS) is not None:
        with language(reply.lang):  # a way to get the announcements, right under /start
            extra = [InlineKeyboardButton(_("Subscribe to announcements"),
                                          callback_data="sub:on")]
    await send_reply(context.bot, message.chat_id, reply, extra_row=extra)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Free text: always in private chats; in groups only when addressed to the bot."""
    message = update.effective_message
    if message is None or not message.text:
        return
    text = message.text
    if message.chat.type != ChatType.PRIVATE:
        if not addressed_to_me(message, context.bot):
            return
        text = without_mention(text, context.bot.username)
    reply = assistant_of(context).reply(_message(update, context, text))
    log.debug("answered intent=%s confidence=%.2f", reply.intent, reply.confidence)
    await record_question(context, text, reply)
    quote = message.message_id if message.chat.type != ChatType.PRIVATE else None
    await send_reply(context.bot, message.chat_id, reply, reply_to=quote)


async def record_question(context: ContextTypes.DEFAULT_TYPE, text: str, reply: Reply) -> None:
    """Count the reply, and keep the question when the bot could not answer it (for the
    admins' /unanswered). Never the user's id; a storage failure never stops answering."""
    questions = context.application.bot_data.get(QUESTIONS)
    if questions is None:
        return
    closest = reply.candidates[0].key if reply.candidates else None
    try:
        await asyncio.to_thread(questions.record, question=text, intent=reply.intent,
                                lang=reply.lang, answered=reply.intent != "fallback",
                                closest=closest)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not record a question: %s", type(exc).__name__)


async def on_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/language [en|fr|ar|zh|auto]: the user's choice wins over detection from then on;
    without an argument, buttons offer the four languages."""
    message = update.effective_message
    if message is None or context.user_data is None:
        return
    wanted = (context.args[0].lower() if context.args else "")
    if wanted in LANGUAGE_NAMES or wanted == "auto":
        await _set_language(context, message.chat_id, wanted)
        return
    buttons = InlineKeyboardMarkup(
        [[InlineKeyboardButton(name, callback_data=f"lang:{code}")]
         for code, name in LANGUAGE_NAMES.items()] +
        [[InlineKeyboardButton("Auto", callback_data="lang:auto")]])
    await context.bot.send_message(message.chat_id, "Language / Langue / اللغة / 语言",
                                   reply_markup=buttons)


async def _set_language(context: ContextTypes.DEFAULT_TYPE, chat_id: int, code: str) -> None:
    if code == "auto":
        context.user_data.pop("lang", None)
    else:
        context.user_data["lang"] = code
    with language(code if code != "auto" else None):
        text = render.language_set(LANGUAGE_NAMES.get(code))
    await context.bot.send_message(chat_id, text)


async def on_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A pressed button: always answers the callback query, then sends the chosen answer.
    Stale or forged data only gets a polite "that option has expired" notice."""
    query = update.callback_query
    if query is None:
        return
    assistant = assistant_of(context)
    lang = preferred_language(context)
    code = (query.data or "").removeprefix("lang:")
    if query.data and query.data.startswith("lang:") and \
            (code in LANGUAGE_NAMES or code == "auto") and context.user_data is not None:
        await query.answer()
        chat_id = query.message.chat.id if query.message else query.from_user.id
        await _set_language(context, chat_id, code)
        return
    if not assistant.knows(query.data or ""):
        with language(lang):
            await query.answer(render.expired())
        return
    reply = assistant.choose(query.data, lang or "en")
    await query.answer()
    chat_id = query.message.chat.id if query.message else query.from_user.id
    await send_reply(context.bot, chat_id, reply)


async def on_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Inline mode ("@ThisBot preeclampsia"): matching talks, speakers and doctors as
    articles the user can send; an urgent message gets the emergency guidance article."""
    query = update.inline_query
    if query is None:
        return
    text = query.query.strip()
    if not text:
        await query.answer([], cache_time=300)
        return
    assistant = assistant_of(context)
    reply = assistant.reply(_message(update, context, text))
    results = []
    if reply.intent == "emergency":
        with language(reply.lang):
            results.append(_article("emergency", render.emergency_label(), reply))
    else:
        for key in reply.ids:
            if key.split(":", 1)[0] in INLINE_KINDS and len(results) < MAX_INLINE_RESULTS:
                card = assistant.choose(key, reply.lang)  # the results in the query's language
                title = card.text.split("\n", 1)[0]
                results.append(_article(key, title, card))
    await query.answer(results, cache_time=60)


def _article(key: str, title: str, reply: Reply) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=key[:64], title=title[:100], description=reply.text[len(title):][:120].strip(),
        input_message_content=InputTextMessageContent(html_parts(reply)[0],
                                                      parse_mode=ParseMode.HTML))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a failed update (never the message text) and keep the bot running."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed: %s", update_id, type(context.error).__name__,
              exc_info=context.error)
