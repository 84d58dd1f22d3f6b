"""TEMPORARY stand-in for the channel-agnostic service (bot.service, issue 12): the two
calls of its contract the web channel uses, over one Assistant. Deleted when the service
lands."""
from __future__ import annotations

from bot.channels.wechat.cache import RecentCache
from bot.core.engine import Assistant
from bot.core.types import Message, Reply


class LocalService:
    """handle / choose / set_language over ``assistant``, languages kept in memory."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self._lang: RecentCache[tuple[str, str], str] = RecentCache(10_000, 12 * 3600.0)
        self._last: RecentCache[tuple[str, str], str] = RecentCache(10_000, 12 * 3600.0)

    def handle(self, channel: str, conversation: str, message: Message) -> Reply:
        key = (channel, conversation)
        reply = self.assistant.reply(Message(message.text, user_id=conversation,
                                             lang=message.lang or self._lang.get(key)))
        self._last.put(key, reply.lang)
        return reply

    def choose(self, channel: str, conversation: str, choice_id: str) -> Reply:
        key = (channel, conversation)
        lang = self._lang.get(key) or self._last.get(key) or "en"
        return self.assistant.choose(choice_id, lang)

    def set_language(self, channel: str, conversation: str, lang: str | None) -> None:
        if lang:
            self._lang.put((channel, conversation), lang)
