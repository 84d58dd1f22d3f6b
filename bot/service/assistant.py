"""The channel-agnostic assistant service: what lives longer than one message.

Channels (console, Telegram, WeChat, web) parse their updates into a channel name, a
conversation key and a :class:`~bot.core.types.Message` or a picked choice id, call
:meth:`AssistantService.handle` or :meth:`AssistantService.choose`, and render the
:class:`~bot.core.types.Reply`. The service:

* serves the current knowledge version (a :class:`~bot.reload.KnowledgeHolder`; reload
  triggers call :meth:`reload`), reading it once per message;
* keeps each conversation's state (language preference until /forget; the entries, choices
  and language of the last reply, as context for follow-ups, dropped after CONTEXT_TTL of
  silence) in a :class:`~bot.storage.ConversationStore`: the database when one is
  configured, so every instance shares it, otherwise memory;
* answers the commands every channel shares: /language, /subscribe, /unsubscribe, /forget,
  and for admins /reload, /version, /unanswered, /stats (reports as plain text);
* records each answered question in the question log.

Nothing here imports a chat platform. Methods block on the database (a few ms): an async
channel calls them in a worker thread.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.core import render
from bot.core.engine import Assistant
from bot.core.normalize import normalize
from bot.core.types import Choice, Context, Message, Reply
from bot.i18n import SUPPORTED, _, language
from bot.reload import KnowledgeHolder, ReloadResult, Version
from bot.storage.conversations import ConversationState, ConversationStore, MemoryConversations, check_key
from bot.storage.forget import Person, forget_person
from bot.storage.models import MAX_CONVERSATION_CHARS, utc_now
from bot.storage.store import Storage

from . import reports

log = logging.getLogger(__name__)

CONTEXT_TTL = timedelta(minutes=30)        # silence after which follow-ups start afresh
CONVERSATION_RETENTION = timedelta(days=1)    # rows without a preference, then purged
ERROR_REPORT_INTERVAL = timedelta(minutes=10)  # at most one error report to admins per ...
RELOAD_ANSWER_WAIT = 4.0                   # s an admin's /reload waits for its report
LANGUAGE_PREFIX = "lang:"                  # choice ids of the /language menu
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "ar": "العربية", "zh": "中文"}
# inside a sentence French writes a language's name in lower case ("en français")
IN_A_SENTENCE = {**LANGUAGE_NAMES, "fr": "français"}
AUTO = "auto"
USER_COMMANDS = ("language", "subscribe", "unsubscribe", "forget")
ADMIN_COMMANDS = ("reload", "version", "unanswered", "stats")


def _command(text: str) -> tuple[str, list[str]] | None:
    """("/Stats@Bot 7" ->) ("stats", ["7"]), or None when ``text`` is not a command."""
    if not text.startswith("/"):
        return None
    word, *args = text[1:].split()
    return word.split("@", 1)[0].lower(), args


def _logged(text: str, reply: Reply) -> dict[str, Any]:
    """The question log's record of answering ``text`` with ``reply`` (no user id)."""
    return {"question": text, "intent": reply.intent, "lang": reply.lang,
            "answered": reply.intent != "fallback",
            "closest": reply.candidates[0].key if reply.candidates else None}


def _number(args: list[str], default: int, maximum: int) -> int:
    if args and args[0].isdigit():
        return max(1, min(int(args[0]), maximum))
    return default


class AssistantService:
    """Answers every channel's messages from one knowledge version, with memory.

    Args:
        knowledge: a KnowledgeHolder (reloadable) or an Assistant (served as is).
        storage: the opened database, or None (no question log, no subscriptions,
            conversations in memory).
        conversations: where conversation states live; default: the database's, or memory.
        admins: channel -> user ids (as str) of admins there, e.g. {"telegram": {"4242"}}.
        clock: returns the current time, aware UTC (tests pass a fake one).
        context_ttl: silence after which a conversation's context is ignored.
    """

    def __init__(self, knowledge: KnowledgeHolder | Assistant, storage: Storage | None = None,
                 *, conversations: ConversationStore | None = None,
                 admins: Mapping[str, Iterable[str]] | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 context_ttl: timedelta = CONTEXT_TTL) -> None:
        self.holder = (knowledge if isinstance(knowledge, KnowledgeHolder)
                       else KnowledgeHolder.fixed(knowledge))
        self.storage = storage
        self.conversations: ConversationStore = (
            conversations if conversations is not None
            else storage.conversations if storage is not None else MemoryConversations())
        self.admins = {channel: frozenset(str(i) for i in ids)
                       for channel, ids in (admins or {}).items()}
        self.clock = clock
        self.context_ttl = context_ttl
        self._error_lock = threading.Lock()
        self._last_error_report: datetime | None = None
        self._errors_unreported = 0
        self._names: tuple[Assistant, dict[str, str]] | None = None
        if storage is not None:
            self._record_version(self.holder.version, True, 0)
            self.holder.listen(self._record_version)

    # -- knowledge ------------------------------------------------------------------------
    @property
    def assistant(self) -> Assistant:
        """The Assistant serving now (read it once per message)."""
        return self.holder.assistant

    @property
    def version(self) -> Version:
        """The knowledge version serving now."""
        return self.holder.version

    def reload(self, trigger: str, *, force: bool = False) -> ReloadResult:
        """Validate the knowledge folder again and serve it when it is good: valid, and
        its test questions (tests.yaml) passing unless ``force`` (blocks for the build,
        about a second); the last good version keeps serving otherwise."""
        return self.holder.reload(trigger, force=force)

    def reload_report(self, result: ReloadResult) -> str:
        """The admins' plain-text report of a reload."""
        return reports.describe(result)

    def _record_version(self, version: Version, ok: bool, errors: int) -> None:
        if self.storage is not None:
            self.storage.versions.record(version=version.version, git_commit=version.git_commit,
                                         trigger=version.trigger, ok=ok, errors=errors)

    def knows(self, choice_id: str) -> bool:
        """True when ``choice_id`` is a choice the service can answer now (a /language
        option or an entry of the serving knowledge)."""
        if choice_id.startswith(LANGUAGE_PREFIX):
            return choice_id[len(LANGUAGE_PREFIX):] in (*LANGUAGE_NAMES, AUTO)
        return self.assistant.knows(choice_id)

    # -- conversations --------------------------------------------------------------------
    @staticmethod
    def _key(conversation: str) -> str:
        """The stored key: the channel's key, or a hash of it when too long to store."""
        if len(conversation) <= MAX_CONVERSATION_CHARS:
            return conversation
        return "sha256:" + hashlib.sha256(conversation.encode("utf-8")).hexdigest()

    def state_of(self, channel: str, conversation: str) -> ConversationState:
        """Return the conversation's state now: its context is dropped when older than
        ``context_ttl``; an unknown conversation (or a failing database) gives an empty
        state.

        Raises:
            ValueError: an empty channel or conversation key.
        """
        key = self._key(conversation)
        check_key(channel, key)
        try:
            state = self.conversations.load(channel, key)
        except Exception as exc:  # noqa: BLE001 - answer without memory rather than not at all
            log.warning("could not load a conversation: %s", type(exc).__name__)
            state = None
        if state is None:
            return ConversationState(channel, key)
        if state.updated_at is None or self.clock() - state.updated_at > self.context_ttl:
            return state.without_context()
        return state

    def _save(self, state: ConversationState) -> None:
        try:
            self.conversations.save(replace(state, updated_at=self.clock()))
        except Exception as exc:  # noqa: BLE001 - the answer is already there
            log.warning("could not save a conversation: %s", type(exc).__name__)

    def _remember(self, state: ConversationState, reply: Reply,
                  question: str | None = None) -> None:
        """Keep what the reply was about (entries it named; otherwise the earlier ones),
        the choices it showed and its language; count the reply in the question log when
        it answered a ``question`` (not a command or a picked choice). With the
        conversations in the database, both are one transaction (one commit per message)."""
        entries = self.assistant.k.entries
        ids = reply.ids if any(key in entries for key in reply.ids) else state.ids
        state = replace(state, ids=ids, choices=tuple(c.id for c in reply.choices),
                        reply_lang=reply.lang)
        storage = self.storage
        if storage is None or self.conversations is not storage.conversations:
            self._save(state)
            if question is not None:
                self._record(question, reply)
            return
        try:
            with storage.turn() as conn:
                storage.conversations.save(replace(state, updated_at=self.clock()), conn=conn)
                if question is not None:
                    storage.questions.record(**_logged(question, reply), conn=conn)
        except Exception as exc:  # noqa: BLE001 - the answer is already there
            log.warning("could not store a message: %s", type(exc).__name__)

    def language_of(self, channel: str, conversation: str) -> str | None:
        """The language preference of the conversation, or None (detected per message)."""
        return self.state_of(channel, conversation).language

    def conversation_language(self, channel: str, conversation: str) -> str | None:
        """The language to answer a message without text in (an event, a menu button):
        the preference, else the language of the last reply within the context's time,
        else None."""
        state = self.state_of(channel, conversation)
        return state.language or state.reply_lang

    def set_language(self, channel: str, conversation: str, lang: str | None) -> None:
        """Answer the conversation in ``lang`` from now on ("en", "fr", "ar", "zh"), or
        detect the language of each message (None or "auto"); kept until /forget.

        Raises:
            ValueError: an unsupported language code.
        """
        if lang == AUTO:
            lang = None
        if lang is not None and lang not in SUPPORTED:
            raise ValueError(f"unsupported language {lang!r}: one of {', '.join(SUPPORTED)}")
        state = self.state_of(channel, conversation)
        self._save(replace(state, language=lang))

    # -- messages -------------------------------------------------------------------------
    def handle(self, channel: str, conversation: str, message: Message) -> Reply:
        """Answer one message of a conversation.

        Args:
            channel: "telegram", "wechat", "console", "web", ...
            conversation: the channel's conversation key (Telegram: the chat id, plus the
                user id in groups; WeChat: the OpenID; web: the cookie's id).
            message: the text; ``message.lang`` overrides the stored preference when set;
                ``message.user_id`` identifies admins.
        Returns:
            the reply; the conversation's state and the question log are updated.
        Raises:
            ValueError: an empty channel or conversation key.
        """
        state = self.state_of(channel, conversation)
        text = message.text.strip()
        command = _command(text)
        if command is not None:
            name, args = command
            if name in USER_COMMANDS:
                return self._user_command(state, name, args, message.lang, message.user_id)
            if name in ADMIN_COMMANDS and self.is_admin(channel, message.user_id):
                return self._admin_command(state, name, args)
        else:
            chosen = self._language_named(text)
            if chosen is not None:
                return self._language_chosen(state, chosen)
        assistant = self.assistant
        context = (Context(ids=state.ids, choices=state.choices, lang=state.reply_lang)
                   if state.ids or state.choices else None)
        reply = assistant.reply(replace(message, lang=message.lang or state.language,
                                        context=context))
        self._remember(state, reply, text if command is None else None)
        return reply

    def choose(self, channel: str, conversation: str, choice_id: str) -> Reply:
        """Answer a choice the user picked (a button, a number), in the conversation's
        language (its preference, else the language of its last reply).

        Returns:
            the answer; an unknown, stale or forged ``choice_id`` gets the "option has
            expired" fallback (check :meth:`knows` first to answer it otherwise).
        """
        state = self.state_of(channel, conversation)
        if choice_id.startswith(LANGUAGE_PREFIX) and self.knows(choice_id):
            return self._language_chosen(state, choice_id[len(LANGUAGE_PREFIX):])
        lang = state.language or state.reply_lang or "en"
        reply = self.assistant.choose(choice_id, lang)
        self._remember(state, reply)
        return reply

    def _record(self, text: str, reply: Reply) -> None:
        """Count the reply; keep the question when it was not answered (no user id)."""
        if self.storage is None:
            return
        try:
            self.storage.questions.record(**_logged(text, reply))
        except Exception as exc:  # noqa: BLE001 - a storage failure never stops answering
            log.warning("could not record a question: %s", type(exc).__name__)

    # -- language -------------------------------------------------------------------------
    def _language_named(self, text: str) -> str | None:
        """The language a message only names ("français", "中文"), or None."""
        if len(text) > 40:
            return None
        return self._language_names().get(normalize(text))

    def _language_names(self) -> dict[str, str]:
        """Normalised language name -> code, from the serving knowledge's vocabulary;
        built once per knowledge version (normalising them per message cost ~0.4 ms)."""
        assistant = self.assistant
        cached = self._names
        if cached is None or cached[0] is not assistant:
            names: dict[str, str] = {}
            for code, spelled in assistant.k.vocabulary.languages.items():
                for name in spelled:
                    names.setdefault(normalize(name), code)
            self._names = cached = (assistant, names)
        return cached[1]

    def _language_chosen(self, state: ConversationState, code: str) -> Reply:
        lang = None if code == AUTO else code
        self._save(replace(state, language=lang))
        shown = lang or state.reply_lang or "en"
        with language(shown):
            text = render.language_set(IN_A_SENTENCE.get(code))
        return Reply(intent="command", text=text, lang=shown)

    def _language_menu(self, state: ConversationState) -> Reply:
        choices = tuple(Choice(f"{LANGUAGE_PREFIX}{code}", name)
                        for code, name in LANGUAGE_NAMES.items())
        return Reply(intent="command", text="Language / Langue / اللغة / 语言",
                     choices=(*choices, Choice(f"{LANGUAGE_PREFIX}{AUTO}", "Auto")),
                     lang=state.language or state.reply_lang or "en")

    # -- commands -------------------------------------------------------------------------
    def _user_command(self, state: ConversationState, name: str, args: list[str],
                      asked_in: str | None = None,
                      user: str | None = None) -> Reply:
        lang = asked_in or state.language or state.reply_lang or "en"
        if name == "language":
            wanted = args[0].lower() if args else ""
            if wanted in LANGUAGE_NAMES or wanted == AUTO:
                return self._language_chosen(state, wanted)
            return self._language_menu(state)
        chat = state.conversation
        if name == "subscribe":
            text = self.subscribe(state.channel, chat, state.conversation, lang=asked_in)
        elif name == "unsubscribe":
            text = self.unsubscribe(state.channel, chat, state.conversation, lang=asked_in)
        else:
            text = self.forget(state.channel, chat, state.conversation, user)
        return Reply(intent="command", text=text, lang=lang)

    def is_admin(self, channel: str, user_id: str | None) -> bool:
        """True when ``user_id`` is an admin on ``channel`` (numeric Telegram ids from
        ADMIN_USER_IDS, WeChat OpenIDs from WECHAT_ADMIN_OPENIDS)."""
        return user_id is not None and str(user_id) in self.admins.get(channel, frozenset())

    def _admin_command(self, state: ConversationState, name: str, args: list[str]) -> Reply:
        if name == "reload":
            force = [a.lower() for a in args] == ["force"]
            pending = self.holder.start_reload(
                f"/reload {'force ' if force else ''}by admin on {state.channel}", force=force)
            try:  # a passive-reply channel (WeChat) must answer within seconds
                text = self.reload_report(pending.result(timeout=RELOAD_ANSWER_WAIT))
            except FutureTimeout:
                text = ("The reload is still running; the current version keeps serving "
                        "meanwhile. Send /version in a minute to see which one serves.")
        elif name == "version":
            text = self.version_report()
        elif name == "unanswered":
            text = self.unanswered_report(_number(args, 10, 50))
        else:
            text = self.stats_report(_number(args, 7, 366))
        return Reply(intent="command", text=text, lang="en")

    # -- subscriptions --------------------------------------------------------------------
    def subscribe(self, channel: str, chat: str, conversation: str | None = None, *,
                  lang: str | None = None) -> str:
        """Subscribe the chat to announcements (one subscription per chat, however often
        asked); returns the confirmation in ``lang`` (the language the request was written
        in, e.g. WeChat's "订阅"), else the conversation's language."""
        lang = lang or self._lang_for(channel, conversation or chat)
        with language(lang):
            if self.storage is None:
                return _("Subscriptions are not available on this bot.")
            new = self.storage.subscriptions.subscribe(channel, chat, lang)
            return (_("You are subscribed to the forum's announcements. Send /unsubscribe to "
                      "stop.") if new else
                    _("You were already subscribed to the forum's announcements."))

    def unsubscribe(self, channel: str, chat: str, conversation: str | None = None, *,
                    lang: str | None = None) -> str:
        """Stop announcements to the chat, at once; returns the confirmation (in ``lang``
        when given, else the conversation's language)."""
        with language(lang or self._lang_for(channel, conversation or chat)):
            if self.storage is None:
                return _("Subscriptions are not available on this bot.")
            done = self.storage.subscriptions.unsubscribe(channel, chat)
            return (_("You are unsubscribed: no more announcements will be sent to you.")
                    if done else _("You were not subscribed."))

    def forget(self, channel: str, chat: str, conversation: str | None = None,
               user: str | None = None) -> str:
        """Delete or anonymise everything stored about the person, in every table
        (:mod:`bot.storage.forget`): the chat's and the person's subscriptions and
        deliveries, their conversations (language preference, context; in groups too),
        and "admin <id>" in announcements and the knowledge version log; returns the
        confirmation (in the language the conversation had).

        Args:
            channel, chat: the channel and the chat the request came from.
            conversation: the conversation key (default ``chat``).
            user: the person's id on the channel (Telegram user id; WeChat's OpenID and
                the web chat's id are the conversation key, the default).
        """
        conversation = conversation or chat
        lang = self._lang_for(channel, conversation)
        key = self._key(conversation)
        if self.storage is not None:
            forget_person(self.storage.engine, Person(
                channel, user or conversation, chats=(chat,), conversations=(key,)))
        self.conversations.forget(channel, key)
        with language(lang):
            return _("Everything stored about you has been deleted.")

    def _lang_for(self, channel: str, conversation: str) -> str:
        state = self.state_of(channel, conversation)
        return state.language or state.reply_lang or "en"

    # -- admin reports --------------------------------------------------------------------
    def version_report(self) -> str:
        """The /version report (plain text)."""
        return reports.version_text(self.version)

    def unanswered_report(self, limit: int = 10) -> str:
        """The /unanswered report: the ``limit`` most frequent unanswered questions."""
        if self.storage is None:
            return "No database is configured."
        return reports.unanswered_text(self.storage.questions.unanswered(limit=limit))

    def stats_report(self, days: int = 7) -> str:
        """The /stats report over the last ``days`` days (UTC dates)."""
        if self.storage is None:
            return "No database is configured."
        until = self.clock().date()
        stats = self.storage.questions.stats(until - timedelta(days=days - 1), until)
        return reports.stats_text(stats, days)

    def purge(self) -> int:
        """Delete question-log rows past their retention, and conversations silent for a
        day that keep no language preference; returns how many rows."""
        removed = 0
        try:
            removed += self.conversations.purge(self.clock() - CONVERSATION_RETENTION)
        except Exception as exc:  # noqa: BLE001 - the next purge tries again
            log.warning("could not purge conversations: %s", type(exc).__name__)
        if self.storage is not None:
            removed += self.storage.questions.purge()
        return removed

    def error_report(self, where: str, error: BaseException) -> str | None:
        """The admins' notice of a failed update, at most one per ERROR_REPORT_INTERVAL
        (None when one was sent more recently; the skipped ones are counted in the next).
        It names the handler and the error type only: never the message or a token."""
        now = self.clock()
        with self._error_lock:
            last = self._last_error_report
            if last is not None and now - last < ERROR_REPORT_INTERVAL:
                self._errors_unreported += 1
                return None
            skipped, self._errors_unreported = self._errors_unreported, 0
            self._last_error_report = now
        more = f" ({skipped} more error(s) since the last report)" if skipped else ""
        return (f"Error while handling {where}: {type(error).__name__}{more}. The bot keeps "
                "running; the log has the details.")

    def close(self) -> None:
        """Close the database connections."""
        if self.storage is not None:
            self.storage.close()


__all__ = ["ADMIN_COMMANDS", "CONTEXT_TTL", "LANGUAGE_NAMES", "USER_COMMANDS",
           "AssistantService"]
