"""Telegram update handlers: thin adapters from updates to the service and back.

Every handler reads ``update.effective_message`` (or the callback/inline query) and returns
quietly when it is missing, so edited messages, channel posts and odd updates never crash.
Each handler turns its update into a conversation key (:func:`.state.key_of`) and a
:class:`~bot.core.types.Message` or choice id, calls the
:class:`~bot.service.AssistantService` in a worker thread (it may wait on the database),
and renders the reply.
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
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.core import render
from bot.core.engine import split_command
from bot.core.types import Message, Reply
from bot.i18n import SUPPORTED, _, language
from bot.knowledge.refs import EntryRef

from .format import html_parts, keyboard
from .state import CHANNEL, Context, key_of, service_of, state_of

log = logging.getLogger(__name__)

INLINE_KINDS = ("talk", "person", "doctor", "topic")
MAX_INLINE_RESULTS = 20


def _message(update: Update, text: str) -> Message:
    user = update.effective_user
    return Message(text=text, user_id=str(user.id) if user else None)


async def user_language(update: Update, context: Context) -> str | None:
    """The language to write a note in when there is no text to detect it from: the
    conversation's /language choice, else the Telegram app's language (``language_code``,
    "fr-FR" -> "fr") when it is one of SUPPORTED, else None (English)."""
    key = key_of(update)
    if key is not None:
        chosen = await asyncio.to_thread(service_of(context.application).language_of,
                                         CHANNEL, key)
        if chosen:
            return chosen
    user = update.effective_user
    code = (user.language_code or "").split("-")[0].lower() if user else ""
    return code if code in SUPPORTED else None


def thread_of(message: object) -> int | None:
    """The forum topic (``message_thread_id``) a message belongs to, or None.

    Only a topic message's thread id may be sent back: in a group without topics the
    field names a chain of replies, which sendMessage refuses. An inaccessible message (a
    button under a message older than 48 hours) has none."""
    if not getattr(message, "is_topic_message", False):
        return None
    return getattr(message, "message_thread_id", None)


def where(update: Update) -> tuple[int | None, int | None]:
    """Return (chat id, forum topic) to answer ``update`` in. A button under an inline-mode
    result has no chat: (None, None)."""
    chat = update.effective_chat
    return (chat.id if chat else None), thread_of(update.effective_message)


async def answer_quietly(query, text: str | None = None, *, alert: bool = False) -> bool:
    """Answer a callback query, best effort: a query answered late (a backlog after a
    restart, a slow answer) is refused by Telegram as "query is too old", which must not
    lose the work already done. Returns True when Telegram accepted the answer."""
    try:
        await query.answer(text[:200] if text else None, show_alert=alert)
    except TelegramError as exc:
        log.info("callback query not answered: %s", type(exc).__name__)
        return False
    return True


async def say(update: Update, context: Context, text: str,
              markup: InlineKeyboardMarkup | None = None) -> None:
    """Send plain ``text`` where ``update`` came from (its chat and forum topic), then, for a
    pressed button, answer the callback query best effort. A button under an inline-mode
    result has no chat: the text becomes the button's answer (an alert, 200 characters)."""
    chat_id, thread = where(update)
    query = update.callback_query
    if chat_id is not None:
        await context.bot.send_message(chat_id, text, reply_markup=markup,
                                       message_thread_id=thread)
    if query is not None:
        await answer_quietly(query, None if chat_id is not None else text,
                             alert=chat_id is None)


async def answer(update: Update, context: Context, text: str) -> Reply | None:
    """Ask the service to answer ``text`` in the update's conversation (None when the
    update has no conversation)."""
    key = key_of(update)
    if key is None:
        return None
    return await asyncio.to_thread(service_of(context.application).handle, CHANNEL, key,
                                   _message(update, text))


async def send_reply(bot, chat_id: int, reply: Reply, reply_to: int | None = None,
                     extra_row: list | None = None, thread: int | None = None) -> None:
    """Send a reply as one or more HTML messages, every part in forum topic ``thread``
    (message_thread_id) when given; the buttons (the reply's choices, then ``extra_row`` of
    channel buttons) go with the last part."""
    parts = html_parts(reply)
    markup = keyboard(reply)
    if extra_row:
        rows = list(markup.inline_keyboard) if markup else []
        markup = InlineKeyboardMarkup([*rows, extra_row])
    for i, part in enumerate(parts):
        await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML,
                               message_thread_id=thread,
                               reply_markup=markup if i == len(parts) - 1 else None,
                               reply_to_message_id=reply_to if i == 0 else None,
                               allow_sending_without_reply=True)


def addressed_to_me(message: TgMessage, bot) -> bool:
    """In a group: True when the message (its text or a media caption) mentions this bot or
    replies to one of its messages."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        return True
    mention = f"@{bot.username}".lower()
    kinds: list[str | None] = [MessageEntityType.MENTION]
    mentions = [*message.parse_entities(kinds).values(),
                *message.parse_caption_entities(kinds).values()]
    return any(text.lower() == mention for text in mentions)


def without_mention(text: str, username: str) -> str:
    """Return ``text`` without "@username" (any case)."""
    mention = f"@{username}"
    index = text.lower().find(mention.lower())
    return text if index < 0 else (text[:index] + text[index + len(mention):]).strip()


async def on_command(update: Update, context: Context) -> None:
    """Any command the core or the service answers (/start, /help, /sessions, /speakers,
    /doctor ..., /emergency, /about, /language), including a deep-link payload such as
    "/start doctors"."""
    message = update.effective_message
    if message is None or not isinstance(message.text, str) or not message.text:
        return   # no text, or a forged update whose text is not a string
    reply = await answer(update, context, message.text)
    if reply is None:
        return
    extra = None
    service = service_of(context.application)
    if split_command(message.text)[0].split("@")[0].lower() == "start" and \
            service.storage is not None:
        with language(reply.lang):  # a way to get the announcements, right under /start
            extra = [InlineKeyboardButton(_("Subscribe to announcements"),
                                          callback_data="sub:on")]
    await send_reply(context.bot, message.chat_id, reply, extra_row=extra,
                     thread=thread_of(message))


async def on_text(update: Update, context: Context) -> None:
    """Free text: always in private chats; in groups only when addressed to the bot."""
    message = update.effective_message
    if message is None or not isinstance(message.text, str) or not message.text:
        return   # no text, or a forged update whose text is not a string
    text = message.text
    if message.chat.type != ChatType.PRIVATE:
        if not addressed_to_me(message, context.bot):
            return
        text = without_mention(text, context.bot.username)
    await _answer_text(update, context, message, text)


async def on_media(update: Update, context: Context) -> None:
    """A message that is not text (photo, voice, sticker, document, location ...): its
    caption is answered like a text; without one, a short note says that the bot reads
    text, in the user's language. In groups, only when addressed to the bot."""
    message = update.effective_message
    if message is None:
        return
    caption = message.caption or ""
    if message.chat.type != ChatType.PRIVATE:
        if not addressed_to_me(message, context.bot):
            return
        caption = without_mention(caption, context.bot.username)
    if caption.strip():
        await _answer_text(update, context, message, caption)
        return
    with language(await user_language(update, context)):
        note = render.text_only()
    quote = message.message_id if message.chat.type != ChatType.PRIVATE else None
    await context.bot.send_message(message.chat_id, note, message_thread_id=thread_of(message),
                                   reply_to_message_id=quote, allow_sending_without_reply=True)


async def _answer_text(update: Update, context: Context, message: TgMessage,
                       text: str) -> None:
    reply = await answer(update, context, text)
    if reply is None:
        return
    log.debug("answered intent=%s confidence=%.2f", reply.intent, reply.confidence)
    quote = message.message_id if message.chat.type != ChatType.PRIVATE else None
    await send_reply(context.bot, message.chat_id, reply, reply_to=quote,
                     thread=thread_of(message))


async def on_choice(update: Update, context: Context) -> None:
    """A pressed button: the chosen answer, in the conversation's language, is sent first
    (in the chat and topic of the button's message), then the callback query is answered,
    best effort. Stale or forged data only gets a polite "that option has expired" notice.
    A button under an inline-mode result (no chat) answers in the user's private chat."""
    query = update.callback_query
    key = key_of(update)
    if query is None or key is None:
        return
    service = service_of(context.application)
    data = query.data or ""
    if not service.knows(data):
        lang = await asyncio.to_thread(service.language_of, CHANNEL, key)
        with language(lang):
            await answer_quietly(query, render.expired())
        return
    reply = await asyncio.to_thread(service.choose, CHANNEL, key, data)
    chat_id, thread = where(update)
    if chat_id is not None:
        await send_reply(context.bot, chat_id, reply, thread=thread)
    else:  # a button under an inline-mode result: the answer goes to the user's own chat
        try:
            await send_reply(context.bot, query.from_user.id, reply)
        except (Forbidden, BadRequest) as exc:  # the user never opened a chat with the bot
            log.info("chosen answer not delivered: %s", type(exc).__name__)
            with language(reply.lang):
                await answer_quietly(query, render.open_chat(), alert=True)
            return
    await answer_quietly(query)


async def on_inline(update: Update, context: Context) -> None:
    """Inline mode ("@ThisBot preeclampsia"): matching talks, speakers and doctors as
    articles the user can send; an urgent message gets the emergency guidance article.
    Inline queries have no chat: the user's private-chat language preference applies."""
    query = update.inline_query
    if query is None:
        return
    text = query.query.strip()
    if not text:
        await query.answer([], cache_time=300)
        return
    service = service_of(context.application)
    assistant = service.assistant
    lang = await asyncio.to_thread(service.language_of, CHANNEL, str(query.from_user.id))
    reply = assistant.reply(Message(text, user_id=str(query.from_user.id), lang=lang))
    results = []
    if reply.intent == "emergency":
        with language(reply.lang):
            results.append(_article("emergency", render.emergency_label(), reply))
    else:
        for key in reply.ids:
            ref = EntryRef.find(key)
            if ref is not None and ref.kind in INLINE_KINDS and len(results) < MAX_INLINE_RESULTS:
                card = assistant.choose(key, reply.lang)  # the results in the query's language
                title = card.text.split("\n", 1)[0]
                results.append(_article(key, title, card))
    await query.answer(results, cache_time=60)


def _article(key: str, title: str, reply: Reply) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=key[:64], title=title[:100], description=reply.text[len(title):][:120].strip(),
        input_message_content=InputTextMessageContent(html_parts(reply)[0],
                                                      parse_mode=ParseMode.HTML))


async def on_error(update: object, context: Context) -> None:
    """Log a failed update (never the message text), tell the admins (at most one notice
    per ten minutes, see :meth:`AssistantService.error_report`) and keep running."""
    update_id = update.update_id if isinstance(update, Update) else None
    error = context.error
    log.error("update %s failed: %s", update_id, type(error).__name__, exc_info=error)
    state = state_of(context.application)
    if state.service is None or error is None:
        return
    kind = _update_kind(update)
    text = state.service.error_report(f"a {kind} (update {update_id})", error)
    if text is None:
        return
    for admin_id in state.admins:
        try:
            await context.bot.send_message(admin_id, text)
        except Exception as exc:  # noqa: BLE001 - an admin who blocked the bot
            log.warning("could not report an error to an admin: %s", type(exc).__name__)


def _update_kind(update: object) -> str:
    if not isinstance(update, Update):
        return "job"
    if update.callback_query is not None:
        return "button press"
    if update.inline_query is not None:
        return "inline query"
    message = update.effective_message
    if message is not None and isinstance(message.text, str) and message.text.startswith("/"):
        return "command"
    return "message"
