"""Typed state of the Telegram application (PTB's ``bot_data``), and conversation keys."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram import Chat, Update
from telegram.constants import ChatType
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.service import AssistantService, Reloaders
from bot.settings import SERVICE_ACCOUNTS

if TYPE_CHECKING:
    from bot.broadcast.delivery import BroadcastWorker

CHANNEL = "telegram"


@dataclass
class BotState:
    """What the application keeps between updates.

    Attributes:
        service: the assistant service (knowledge, storage, conversations, reports).
        admins: numeric user ids of admins (ADMIN_USER_IDS).
        watch: reload when the knowledge folder changes (WATCH_KNOWLEDGE).
        reloaders: the folder watcher and SIGHUP handler, while running.
        previews: short token -> announcement text awaiting Send, or ("cancel", id).
        worker: the broadcast worker, when a database is configured.
        broadcast_lock: one broadcast pass at a time in this process.
    """

    service: AssistantService | None = None
    admins: frozenset[int] = frozenset()
    watch: bool = False
    reloaders: Reloaders | None = None
    previews: dict[str, Any] = field(default_factory=dict)
    worker: BroadcastWorker | None = None
    broadcast_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotState]
CONTEXT_TYPES = ContextTypes(bot_data=BotState)


def state_of(app: Application) -> BotState:
    """The application's typed state."""
    state = app.bot_data
    if not isinstance(state, BotState):
        raise TypeError("the Application was built without CONTEXT_TYPES (bot_data=BotState)")
    return state


def service_of(app: Application) -> AssistantService:
    """The application's assistant service."""
    service = state_of(app).service
    if service is None:
        raise RuntimeError("no AssistantService attached to the Telegram application")
    return service


def conversation_key(chat: Chat, user_id: int | None, sender_chat: Chat | None = None) -> str:
    """The service's conversation key of a message: the chat id in a private chat; in a
    group, the chat id and the user id, except for messages sent on behalf of a chat
    (anonymous admins, linked channels) or by Telegram's service accounts (the
    GroupAnonymousBot shared by the anonymous admins of every group), which use the group's
    own key."""
    if chat.type == ChatType.PRIVATE:
        return str(chat.id)
    if sender_chat is not None or user_id is None or user_id in SERVICE_ACCOUNTS:
        return str(chat.id)
    return f"{chat.id}:{user_id}"


def key_of(update: Update) -> str | None:
    """The conversation key of an update (message or callback query), or None."""
    message = update.effective_message
    user = update.effective_user
    if update.callback_query is not None:
        chat = message.chat if message is not None else None
        if chat is None:
            return str(user.id) if user else None
        return conversation_key(chat, user.id if user else None)
    if message is None:
        return None
    return conversation_key(message.chat, user.id if user else None, message.sender_chat)


__all__ = ["CHANNEL", "CONTEXT_TYPES", "BotState", "Context",
           "conversation_key", "key_of", "service_of", "state_of"]
