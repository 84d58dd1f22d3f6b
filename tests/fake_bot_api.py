"""A small, faithful fake of the Telegram Bot API HTTP server, for end-to-end tests.

It serves ``http://127.0.0.1:PORT/bot<TOKEN>/<method>`` with aiohttp, so the real
python-telegram-bot (PTB 22) ``Bot`` / ``Application`` can talk to it over real HTTP in
polling and webhook modes::

    fake = FakeBotApi()
    await fake.start()
    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    ...
    fake.user_sends("/start")
    sent = await fake.wait_for_sent(1)
    ...
    await fake.stop()

Request decoding follows PTB's ``HTTPXRequest``: parameters arrive as
``application/x-www-form-urlencoded`` (or ``multipart/form-data`` when files are attached)
where every value is a string and non-string values (numbers, booleans, ``reply_markup``,
``commands``, ``results``, ``allowed_updates``...) are JSON-encoded inside the field.
Plain JSON bodies and query-string parameters are accepted too, as Telegram does.

Responses use Telegram's envelope: ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}``.

Everything runs on the event loop that called :meth:`FakeBotApi.start`; call the
``user_*`` / ``enqueue`` / ``fail_next`` / ``block`` helpers from that loop's thread.
"""
from __future__ import annotations

import asyncio
import copy
import json
import re
import socket
import time
from collections.abc import Callable
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

__all__ = ["FakeBotApi", "ApiError", "validate_telegram_html", "free_tcp_port"]

DEFAULT_TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"

MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64

#: Fields whose values are plain strings in a form body (never JSON-decoded).
_STRING_FIELDS = frozenset(
    {
        "text",
        "parse_mode",
        "caption",
        "query",
        "callback_query_id",
        "inline_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "language_code",
        "next_offset",
        "switch_pm_text",
        "switch_pm_parameter",
        "action",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
        "description",
        "short_description",
        "name",
    }
)

#: Update types Telegram does not deliver unless explicitly listed in allowed_updates.
_OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_ALLOWED_HTML_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del",
        "a", "code", "pre", "tg-spoiler", "span", "blockquote",
    }
)

_HTML_ENTITY_RE = re.compile(r"&(?:amp|lt|gt|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_LEADING_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,32})?")
_MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b")

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_BAD_QUERY_ID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class ApiError(Exception):
    """Raised inside method handlers; becomes a Telegram error envelope."""

    def __init__(self, status: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def free_tcp_port() -> int:
    """A currently free TCP port on 127.0.0.1 (e.g. for PTB's webhook server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def validate_telegram_html(text: str) -> str:
    """Check ``text`` the way Telegram parses ``parse_mode="HTML"`` (at a basic level).

    Returns the plain text (tags removed, entities decoded); raises :class:`ValueError` with a
    Telegram-style message ("Unsupported start tag ...", "Can't find end tag ...") otherwise.
    """
    plain: list[str] = []
    stack: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            m = _HTML_ENTITY_RE.match(text, i)
            if not m:
                raise ValueError(
                    "Character '&' is reserved and must be escaped with &amp; "
                    f"at byte offset {_byte_offset(text, i)}"
                )
            ent = m.group(0)
            if ent.startswith("&#x") or ent.startswith("&#X"):
                plain.append(chr(min(int(ent[3:-1], 16), 0x10FFFF)))
            elif ent.startswith("&#"):
                plain.append(chr(min(int(ent[2:-1]), 0x10FFFF)))
            else:
                plain.append({"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"'}[ent])
            i = m.end()
            continue
        if ch != "<":
            plain.append(ch)
            i += 1
            continue
        begin = i
        i += 1
        if i >= n:
            raise ValueError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[i] != "/":
            # start tag
            j = i
            while j < n and not text[j].isspace() and text[j] not in ">/":
                j += 1
            name = text[i:j].lower()
            if not name:
                raise ValueError(f"Empty tag name at byte offset {_byte_offset(text, begin)}")
            if name not in _ALLOWED_HTML_TAGS:
                raise ValueError(
                    f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}'
                )
            attrs: dict[str, str] = {}
            i = j
            while True:
                while i < n and text[i].isspace():
                    i += 1
                if i >= n:
                    raise ValueError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
                if text[i] == ">":
                    i += 1
                    break
                a = i
                while i < n and (text[i].isalnum() or text[i] in "-_"):
                    i += 1
                attr_name = text[a:i].lower()
                if not attr_name:
                    raise ValueError(
                        f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                        f"at byte offset {_byte_offset(text, begin)}"
                    )
                while i < n and text[i].isspace():
                    i += 1
                value = ""
                if i < n and text[i] == "=":
                    i += 1
                    while i < n and text[i].isspace():
                        i += 1
                    if i >= n:
                        raise ValueError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
                    if text[i] in "\"'":
                        quote = text[i]
                        end = text.find(quote, i + 1)
                        if end < 0:
                            raise ValueError(
                                f"Unclosed start tag at byte offset {_byte_offset(text, begin)}"
                            )
                        value = text[i + 1 : end]
                        i = end + 1
                    else:
                        v = i
                        while i < n and not text[i].isspace() and text[i] != ">":
                            i += 1
                        value = text[v:i]
                attrs[attr_name] = value
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise ValueError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}'
                )
            stack.append(name)
        else:
            # end tag
            i += 1
            j = i
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            name = text[i:j].lower()
            if not stack:
                raise ValueError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            i = j
            while i < n and text[i].isspace():
                i += 1
            if i >= n or text[i] != ">":
                raise ValueError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            i += 1
            expected = stack[-1]
            if name != expected:
                raise ValueError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
                    f'expected "</{expected}>", found "</{name}>"'
                )
            stack.pop()
    if stack:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(plain)


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def _update_type(update: dict) -> str | None:
    for key in update:
        if key != "update_id":
            return key
    return None


def _as_int(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


class FakeBotApi:
    """Loopback fake of the Telegram Bot API. See the module docstring."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "SummitTestBot",
        bot_id: int = 123456,
        *,
        bot_first_name: str = "Summit Test Bot",
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.bot_first_name = bot_first_name

        # what the bot did
        self.calls: list[tuple[str, dict]] = []
        self.sent: list[dict] = []
        self.edits: list[dict] = []
        self.callback_answers: list[dict] = []
        self.inline_answers: list[dict] = []
        self.chat_actions: list[dict] = []
        # state
        self.webhook: dict | None = None
        self.commands: dict[tuple[str, str], list[dict]] = {}
        self.pending_updates: list[dict] = []
        self.blocked: set[int] = set()

        self._next_update_id = 100_000
        self._next_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict] = {}
        self._chats: dict[int, dict] = {}
        self._users: dict[int, dict] = {}
        self._open_callback_queries: set[str] = set()
        self._open_inline_queries: set[str] = set()
        self._next_query_id = 1
        self._faults: list[dict] = []
        self._delays: list[dict] = []
        self._allowed_updates: list[str] | None = None
        self._poller: dict | None = None
        self._call_cursor: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

        self._handlers: dict[str, Callable[[dict], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getChat": self._get_chat,
            "sendChatAction": self._send_chat_action,
            "close": self._close,
            "logOut": self._log_out,
        }
        self._methods_lower = {name.lower(): name for name in self._handlers}

    # ------------------------------------------------------------------ server lifecycle

    async def start(self) -> None:
        """Start the aiohttp server on 127.0.0.1 on a free port."""
        if self._runner is not None:
            return
        self._closing = False
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Wake any long poll (it answers ``[]``) and shut the server down."""
        if self._runner is None:
            return
        self._closing = True
        self._notify()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/bot`` - for ``ApplicationBuilder().base_url(...)``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------------ simulated users

    @property
    def bot_user(self) -> dict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _user(self, user_id: int, username: str | None = None, first_name: str | None = None) -> dict:
        user = self._users.get(user_id)
        if user is None:
            user = {
                "id": user_id,
                "is_bot": False,
                "first_name": first_name or f"User{user_id}",
                "language_code": "en",
            }
            if username:
                user["username"] = username
            self._users[user_id] = user
        else:
            if first_name:
                user["first_name"] = first_name
            if username:
                user["username"] = username
        return dict(user)

    def _chat(self, chat_id: int) -> dict:
        chat = self._chats.get(chat_id)
        if chat is not None:
            return dict(chat)
        if chat_id > 0:
            user = self._users.get(chat_id)
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"] if user else f"User{chat_id}"}
            if user and user.get("username"):
                chat["username"] = user["username"]
        elif str(chat_id).startswith("-100"):
            chat = {"id": chat_id, "type": "supergroup", "title": f"Test Supergroup {chat_id}"}
        else:
            chat = {"id": chat_id, "type": "group", "title": f"Test Group {chat_id}"}
        return chat

    def _new_message_id(self, chat_id: int) -> int:
        mid = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = mid + 1
        return mid

    def _remember_message(self, message: dict) -> None:
        try:
            chat_id = int(message["chat"]["id"])
            mid = int(message["message_id"])
        except (KeyError, TypeError, ValueError):
            return
        self._messages[(chat_id, mid)] = message
        if self._next_message_id.get(chat_id, 1) <= mid:
            self._next_message_id[chat_id] = mid + 1
        self._chats.setdefault(chat_id, dict(message["chat"]))

    def message(self, chat_id: int, message_id: int) -> dict | None:
        """Current state of a message the fake knows about (after edits)."""
        msg = self._messages.get((chat_id, message_id))
        return copy.deepcopy(msg) if msg is not None else None

    def _auto_entities(self, text: str) -> list[dict]:
        entities: list[dict] = []
        command_end = 0
        m = _LEADING_COMMAND_RE.match(text)
        if m:
            command_end = m.end()
            entities.append({"type": "bot_command", "offset": 0, "length": _utf16_len(m.group(0))})
        for m in _MENTION_RE.finditer(text):
            if m.start() < command_end:
                continue
            entities.append(
                {
                    "type": "mention",
                    "offset": _utf16_len(text[: m.start()]),
                    "length": _utf16_len(m.group(0)),
                }
            )
        return entities

    def user_sends(
        self,
        text: str,
        *,
        chat_id: int = 1001,
        user_id: int = 1001,
        chat_type: str = "private",
        username: str = "alice",
        first_name: str = "Alice",
        reply_to_message_id: int | None = None,
        entities: list[dict] | None = None,
    ) -> dict:
        """Enqueue an Update with a text message from a user; returns the update dict."""
        user = self._user(user_id, username, first_name)
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": first_name}
            if username:
                chat["username"] = username
        elif chat_type == "channel":
            chat = {"id": chat_id, "type": "channel", "title": f"Test Channel {chat_id}"}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": f"Test Group {chat_id}"}
        self._chats[chat_id] = chat
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": dict(chat),
            "text": text,
        }
        if chat_type == "channel":
            message["sender_chat"] = dict(chat)
        else:
            message["from"] = user
        ents = entities if entities is not None else self._auto_entities(text)
        if ents:
            message["entities"] = ents
        if reply_to_message_id is not None:
            message["reply_to_message"] = self._reply_target(chat_id, reply_to_message_id)
        self._messages[(chat_id, message["message_id"])] = message
        key = "channel_post" if chat_type == "channel" else "message"
        return self.enqueue({key: copy.deepcopy(message)})

    def _reply_target(self, chat_id: int, message_id: int) -> dict:
        target = self._messages.get((chat_id, message_id))
        if target is None:
            return {"message_id": message_id, "date": int(time.time()), "chat": self._chat(chat_id)}
        target = copy.deepcopy(target)
        target.pop("reply_to_message", None)  # Telegram does not nest replies further
        target.pop("parse_mode", None)
        return target

    def user_presses(self, callback_data: str, *, message_id: int, chat_id: int = 1001, user_id: int = 1001) -> dict:
        """Enqueue a callback_query update: the user pressed an inline button under a message."""
        msg = self._messages.get((chat_id, message_id))
        if msg is None:
            # A message the fake never saw: pretend it was the bot's (without text).
            msg = {
                "message_id": message_id,
                "from": self.bot_user,
                "chat": self._chat(chat_id),
                "date": int(time.time()),
            }
            self._messages[(chat_id, message_id)] = msg
        public = copy.deepcopy(msg)
        public.pop("parse_mode", None)
        query_id = self._new_query_id()
        self._open_callback_queries.add(query_id)
        return self.enqueue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id),
                    "message": public,
                    "chat_instance": str((chat_id * 2654435761) % (2**62)),
                    "data": callback_data,
                }
            }
        )

    def user_inline_query(self, query: str, *, user_id: int = 1001) -> dict:
        query_id = self._new_query_id()
        self._open_inline_queries.add(query_id)
        return self.enqueue(
            {
                "inline_query": {
                    "id": query_id,
                    "from": self._user(user_id),
                    "query": query,
                    "offset": "",
                    "chat_type": "sender",
                }
            }
        )

    def user_edits(self, message_id: int, text: str, *, chat_id: int = 1001) -> dict:
        """Enqueue an edited_message update for a message a user sent earlier."""
        msg = self._messages.get((chat_id, message_id))
        if msg is None:
            msg = {
                "message_id": message_id,
                "from": self._user(chat_id) if chat_id > 0 else self._user(1001),
                "chat": self._chat(chat_id),
                "date": int(time.time()) - 1,
            }
            self._messages[(chat_id, message_id)] = msg
        msg["text"] = text
        msg["edit_date"] = int(time.time())
        ents = self._auto_entities(text)
        if ents:
            msg["entities"] = ents
        else:
            msg.pop("entities", None)
        key = "edited_channel_post" if msg["chat"].get("type") == "channel" else "edited_message"
        return self.enqueue({key: copy.deepcopy(msg)})

    def _new_query_id(self) -> str:
        qid = str(4_000_000_000_000_000_000 + self._next_query_id)
        self._next_query_id += 1
        return qid

    def _prepare_update(self, update: dict) -> dict:
        if "update_id" not in update:
            update = {"update_id": self._next_update_id, **update}
        self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            if isinstance(update.get(key), dict):
                self._remember_message(copy.deepcopy(update[key]))
        cq = update.get("callback_query")
        if isinstance(cq, dict) and "id" in cq:
            self._open_callback_queries.add(str(cq["id"]))
        iq = update.get("inline_query")
        if isinstance(iq, dict) and "id" in iq:
            self._open_inline_queries.add(str(iq["id"]))
        return update

    def enqueue(self, update: dict) -> dict:
        """Queue a raw update for getUpdates (update_id assigned if missing); returns it."""
        update = self._prepare_update(update)
        self.pending_updates.append(update)
        self._notify()
        return update

    # ------------------------------------------------------------------ inspection / waiting

    def sent_to(self, chat_id: int) -> list[dict]:
        return [m for m in self.sent if m["chat"]["id"] == chat_id]

    def calls_of(self, method: str) -> list[dict]:
        return [params for name, params in self.calls if name == method]

    def _notify(self) -> None:
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    async def _wait_until(self, predicate: Callable[[], Any], timeout: float, describe: Callable[[], str]) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ev = self._changed
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(describe())
            try:
                await asyncio.wait_for(ev.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_for_sent(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Wait until ``len(sent) >= count``; returns a copy of ``sent``."""
        return await self._wait_until(
            lambda: list(self.sent) if len(self.sent) >= count else None,
            timeout,
            lambda: (
                f"expected {count} sent message(s) within {timeout}s, got {len(self.sent)}: "
                f"{[(m['chat']['id'], m.get('text')) for m in self.sent]!r}; "
                f"methods called: {[name for name, _ in self.calls if name != 'getUpdates']!r}"
            ),
        )

    async def wait_for_call(self, method: str, timeout: float = 5.0) -> dict:
        """Return the params of the next call of ``method`` not yet returned by this method.

        Each call of ``method`` is handed out once, in order (a per-method cursor), so two
        successive ``wait_for_call("sendMessage")`` return the first and second sendMessage.
        """

        def find() -> tuple[int, dict] | None:
            start = self._call_cursor.get(method, 0)
            for index in range(start, len(self.calls)):
                name, params = self.calls[index]
                if name == method:
                    return index, params
            return None

        index, params = await self._wait_until(
            find,
            timeout,
            lambda: f"no new {method} call within {timeout}s; calls: {[n for n, _ in self.calls]!r}",
        )
        self._call_cursor[method] = index + 1
        return params

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
        parameters: dict | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` (optionally only for ``chat_id``) answer this
        error; ``parameters`` are Telegram's ResponseParameters (e.g. ``migrate_to_chat_id``)."""
        parameters = dict(parameters or {})
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        parameters = parameters or None
        self._faults.append(
            {
                "method": method.lower(),
                "chat_id": chat_id,
                "remaining": times,
                "error": ApiError(status, description, parameters),
            }
        )

    def delay_next(self, method: str, *, seconds: float, times: int = 1,
                   chat_id: int | None = None) -> None:
        """The next ``times`` calls of ``method`` (optionally only for ``chat_id``) are carried
        out at once (a message is delivered) but answered ``seconds`` later: what a client
        whose read time-out is shorter sees as a time-out after Telegram accepted it."""
        self._delays.append({"method": method.lower(), "chat_id": chat_id, "remaining": times,
                             "seconds": seconds})

    def _take_delay(self, method: str, params: dict) -> float:
        for delay in self._delays:
            if delay["method"] != method.lower() or delay["remaining"] <= 0:
                continue
            if delay["chat_id"] is not None and _as_int(params.get("chat_id")) != delay["chat_id"]:
                continue
            delay["remaining"] -= 1
            if delay["remaining"] <= 0:
                self._delays.remove(delay)
            return delay["seconds"]
        return 0.0

    def block(self, chat_id: int) -> None:
        """Every later send/edit to this chat answers 403 Forbidden."""
        self.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self.blocked.discard(chat_id)

    def _take_fault(self, method: str, params: dict) -> ApiError | None:
        for fault in self._faults:
            if fault["method"] != method.lower() or fault["remaining"] <= 0:
                continue
            if fault["chat_id"] is not None and _as_int(params.get("chat_id")) != fault["chat_id"]:
                continue
            fault["remaining"] -= 1
            if fault["remaining"] <= 0:
                self._faults.remove(fault)
            return fault["error"]
        return None

    # ------------------------------------------------------------------ webhook mode

    async def post_update_to_webhook(self, url: str, update: dict, secret_token: str | None) -> int:
        """POST ``update`` as Telegram would to the bot's webhook; returns the HTTP status."""
        update = self._prepare_update(dict(update))
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            async with session.post(url, data=json.dumps(update), headers=headers) as resp:
                await resp.read()
                return resp.status

    # ------------------------------------------------------------------ HTTP plumbing

    async def _decode_params(self, request: web.Request) -> dict:
        params: dict[str, Any] = {}
        form_like: dict[str, str] = dict(request.query)
        body_json: Any = None
        ctype = request.content_type
        if request.method == "POST" or request.can_read_body:
            if ctype == "application/json":
                raw = await request.read()
                if raw.strip():
                    try:
                        body_json = json.loads(raw)
                    except ValueError as exc:
                        raise ApiError(400, "Bad Request: can't parse JSON object") from exc
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                post = await request.post()
                for key, value in post.items():
                    if isinstance(value, str):
                        form_like[key] = value
                    else:  # uploaded file
                        params[key] = {"filename": value.filename, "content": value.file.read()}
        for key, value in form_like.items():
            params[key] = value if key in _STRING_FIELDS else _maybe_json(value)
        if isinstance(body_json, dict):
            params.update(body_json)
        return params

    @staticmethod
    def _json_response(status: int, body: dict) -> web.Response:
        return web.json_response(body, status=status)

    async def _dispatch(self, request: web.Request) -> web.Response:
        m = re.fullmatch(r"/bot([^/]*)/([^/]+)/?", request.path)
        if not m:
            return self._json_response(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        token, method = m.group(1), m.group(2)
        if token != self.token:
            return self._json_response(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        try:
            params = await self._decode_params(request)
        except ApiError as err:
            return self._json_response(err.status, err.payload())
        canonical = self._methods_lower.get(method.lower())
        self.calls.append((canonical or method, params))
        self._notify()
        if canonical is None:
            return self._json_response(
                404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
            )
        try:
            fault = self._take_fault(canonical, params)
            if fault is not None:
                raise fault
            self._check_blocked(canonical, params)
            result = self._handlers[canonical](params)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as err:
            return self._json_response(err.status, err.payload())
        late = self._take_delay(canonical, params)
        if late:
            await asyncio.sleep(late)
        if isinstance(result, tuple):  # (result, description)
            return self._json_response(200, {"ok": True, "result": result[0], "description": result[1]})
        return self._json_response(200, {"ok": True, "result": result})

    def _check_blocked(self, method: str, params: dict) -> None:
        if not method.startswith(("send", "edit", "copy", "forward")):
            return
        chat_id = _as_int(params.get("chat_id"))
        if chat_id in self.blocked:
            if isinstance(chat_id, int) and chat_id < 0:
                raise ApiError(403, "Forbidden: bot was kicked from the group chat")
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    # ------------------------------------------------------------------ validation helpers

    @staticmethod
    def _require_chat_id(params: dict) -> int | str:
        chat_id = _as_int(params.get("chat_id"))
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str) and not chat_id.startswith("@"):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    @staticmethod
    def _check_text(text: Any, parse_mode: Any) -> None:
        if text is None or not isinstance(text, str):
            text = "" if text is None else str(text)
        plain = text
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            try:
                plain = validate_telegram_html(text)
            except ValueError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
        elif parse_mode not in (None, "") and (
            not isinstance(parse_mode, str) or parse_mode.lower() not in ("markdown", "markdownv2")
        ):
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain) > MAX_MESSAGE_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")

    @staticmethod
    def _decode_markup(params: dict) -> Any:
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = _maybe_json(markup)
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        FakeBotApi._validate_markup(markup)
        return markup

    @staticmethod
    def _validate_markup(markup: dict) -> None:
        rows = markup.get("inline_keyboard")
        if rows is None:
            return
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ApiError(400, "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays")
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text is not specified")
                actions = [k for k in button if k != "text"]
                if not actions:
                    raise ApiError(
                        400,
                        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not (1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES):
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    @staticmethod
    def _public(message: dict) -> dict:
        """The Message as Telegram returns it (no parse_mode, only inline keyboards)."""
        out = copy.deepcopy(message)
        out.pop("parse_mode", None)
        markup = out.get("reply_markup")
        if markup is not None and not (isinstance(markup, dict) and "inline_keyboard" in markup):
            out.pop("reply_markup")
        return out

    # ------------------------------------------------------------------ methods

    def _get_me(self, params: dict) -> dict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _deliverable(self) -> list[dict]:
        allowed = self._allowed_updates
        out = []
        for update in self.pending_updates:
            kind = _update_type(update)
            if allowed:
                if kind not in allowed:
                    continue
            elif kind in _OPT_IN_UPDATE_TYPES:
                continue
            out.append(update)
        return out

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        elif offset < 0:
            self.pending_updates = self.pending_updates[offset:]

    async def _get_updates(self, params: dict) -> list[dict]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        try:
            offset = int(params.get("offset") or 0)
            limit = int(params.get("limit") or 100)
            timeout = float(params.get("timeout") or 0)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "Bad Request: wrong parameter in getUpdates request") from exc
        limit = min(max(limit, 1), 100)
        timeout = max(timeout, 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]

        # A newer getUpdates terminates a pending one, like Telegram does.
        if self._poller is not None:
            self._poller["terminated"] = True
        me: dict = {"terminated": False}
        self._poller = me
        self._confirm(offset)
        self._notify()

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                ev = self._changed
                if me["terminated"]:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                ready = self._deliverable()[:limit]
                if ready:
                    return copy.deepcopy(ready)
                remaining = deadline - loop.time()
                if remaining <= 0 or self._closing or self.webhook is not None:
                    return []
                try:
                    await asyncio.wait_for(ev.wait(), remaining)
                except TimeoutError:
                    pass
        finally:
            if self._poller is me:
                self._poller = None

    def _send_message(self, params: dict) -> dict:
        chat_id = self._require_chat_id(params)
        text = params.get("text")
        parse_mode = params.get("parse_mode")
        self._check_text(text, parse_mode)
        markup = self._decode_markup(params)
        chat = self._chat(chat_id) if isinstance(chat_id, int) else {"id": chat_id, "type": "channel", "title": chat_id}
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        reply_to = self._reply_to_id(params)
        if reply_to is not None:
            rp = params.get("reply_parameters")
            allow_missing = bool(params.get("allow_sending_without_reply")) or (
                isinstance(rp, dict) and bool(rp.get("allow_sending_without_reply"))
            )
            if (chat["id"], reply_to) in self._messages:
                message["reply_to_message"] = self._reply_target(chat["id"], reply_to)
            elif not allow_missing:
                raise ApiError(400, "Bad Request: message to be replied not found")
        if markup is not None:
            message["reply_markup"] = markup
        if parse_mode is not None:
            message["parse_mode"] = parse_mode
        self._messages[(chat["id"], message["message_id"])] = message
        self.sent.append(copy.deepcopy(message))
        self._notify()
        return self._public(message)

    @staticmethod
    def _reply_to_id(params: dict) -> int | None:
        rp = params.get("reply_parameters")
        if isinstance(rp, dict) and rp.get("message_id") is not None:
            return int(rp["message_id"])
        if params.get("reply_to_message_id") is not None:
            return int(_as_int(params["reply_to_message_id"]))
        return None

    def _find_editable(self, params: dict) -> dict:
        chat_id = self._require_chat_id(params)
        message_id = _as_int(params.get("message_id"))
        if not isinstance(message_id, int):
            raise ApiError(400, "Bad Request: message identifier is not specified")
        msg = self._messages.get((chat_id, message_id))
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if msg.get("from", {}).get("id") != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        return msg

    def _record_edit(self, method: str, msg: dict | None, params: dict) -> None:
        record = {"method": method, "params": copy.deepcopy(params)}
        if msg is not None:
            record["message"] = copy.deepcopy(msg)
        self.edits.append(record)
        self._notify()

    def _edit_message_text(self, params: dict) -> dict | bool:
        text = params.get("text")
        parse_mode = params.get("parse_mode")
        self._check_text(text, parse_mode)
        markup = self._decode_markup(params)
        if params.get("inline_message_id"):
            self._record_edit("editMessageText", None, params)
            return True
        msg = self._find_editable(params)
        if msg.get("text") == text and msg.get("parse_mode") == parse_mode and msg.get("reply_markup") == markup:
            raise ApiError(400, _NOT_MODIFIED)
        msg["text"] = text
        msg["edit_date"] = int(time.time())
        if parse_mode is None:
            msg.pop("parse_mode", None)
        else:
            msg["parse_mode"] = parse_mode
        if markup is None:
            msg.pop("reply_markup", None)  # Telegram drops the inline keyboard when none is passed
        else:
            msg["reply_markup"] = markup
        self._record_edit("editMessageText", msg, params)
        return self._public(msg)

    def _edit_message_reply_markup(self, params: dict) -> dict | bool:
        markup = self._decode_markup(params)
        if params.get("inline_message_id"):
            self._record_edit("editMessageReplyMarkup", None, params)
            return True
        msg = self._find_editable(params)
        if msg.get("reply_markup") == markup:
            raise ApiError(400, _NOT_MODIFIED)
        if markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        self._record_edit("editMessageReplyMarkup", msg, params)
        return self._public(msg)

    def _answer_callback_query(self, params: dict) -> bool:
        qid = str(params.get("callback_query_id") or "")
        if qid not in self._open_callback_queries:
            raise ApiError(400, _BAD_QUERY_ID)
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._open_callback_queries.discard(qid)
        self.callback_answers.append(dict(params))
        self._notify()
        return True

    def _answer_inline_query(self, params: dict) -> bool:
        qid = str(params.get("inline_query_id") or "")
        if qid not in self._open_inline_queries:
            raise ApiError(400, _BAD_QUERY_ID)
        results = params.get("results")
        if isinstance(results, str):
            results = _maybe_json(results)
        if not isinstance(results, list):
            raise ApiError(400, "Bad Request: can't parse inline query results JSON object")
        if len(results) > 50:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        ids = [r.get("id") if isinstance(r, dict) else None for r in results]
        if any(not i for i in ids):
            raise ApiError(400, "Bad Request: RESULT_ID_EMPTY")
        if len(set(ids)) != len(ids):
            raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
        for r in results:
            if isinstance(r.get("reply_markup"), dict):
                self._validate_markup(r["reply_markup"])
        self._open_inline_queries.discard(qid)
        self.inline_answers.append({**params, "results": results})
        self._notify()
        return True

    @staticmethod
    def _commands_key(params: dict) -> tuple[str, str]:
        scope = params.get("scope")
        if isinstance(scope, str):
            scope = _maybe_json(scope)
        if not scope:
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: dict) -> bool:
        commands = params.get("commands")
        if isinstance(commands, str):
            commands = _maybe_json(commands)
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands")
        for cmd in commands:
            if not isinstance(cmd, dict) or not _COMMAND_NAME_RE.fullmatch(str(cmd.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            desc = cmd.get("description")
            if not isinstance(desc, str) or not (1 <= len(desc) <= 256):
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self.commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        else:
            self.commands.pop(key, None)
        return True

    def _get_my_commands(self, params: dict) -> list[dict]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: dict) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _set_webhook(self, params: dict) -> Any:
        url = params.get("url")
        if url is None:
            raise ApiError(400, "Bad Request: bad webhook: URL must be specified")
        url = str(url)
        if params.get("drop_pending_updates"):
            self.pending_updates.clear()
        if url == "":
            was = self.webhook is not None
            self.webhook = None
            return True, "Webhook was deleted" if was else "Webhook is already deleted"
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: Failed to resolve host: Name or service not known")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        webhook = {k: v for k, v in params.items() if k != "certificate"}
        webhook["url"] = url
        webhook["has_custom_certificate"] = "certificate" in params
        was_set = self.webhook is not None and self.webhook.get("url") == url
        self.webhook = webhook
        self._notify()
        return True, "Webhook is already set" if was_set else "Webhook was set"

    def _delete_webhook(self, params: dict) -> Any:
        if params.get("drop_pending_updates"):
            self.pending_updates.clear()
        was = self.webhook is not None
        self.webhook = None
        return True, "Webhook was deleted" if was else "Webhook is already deleted"

    def _get_webhook_info(self, params: dict) -> dict:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": bool(self.webhook and self.webhook.get("has_custom_certificate")),
            "pending_update_count": len(self.pending_updates),
        }
        if self.webhook:
            info["max_connections"] = int(self.webhook.get("max_connections") or 40)
            info["ip_address"] = "127.0.0.1"
            if self.webhook.get("allowed_updates") is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _get_chat(self, params: dict) -> dict:
        chat_id = self._require_chat_id(params)
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return {
            **self._chat(chat_id),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _send_chat_action(self, params: dict) -> bool:
        self._require_chat_id(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append(dict(params))
        return True

    def _close(self, params: dict) -> bool:
        return True

    def _log_out(self, params: dict) -> bool:
        return True
