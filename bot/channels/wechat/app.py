"""The WeChat Official Account message webhook: a Starlette app served by uvicorn.

WeChat calls ``PATH`` on this server:

* GET, once, when the server URL is configured: the handshake. The query carries
  ``signature`` (SHA-1 over the sorted token, ``timestamp`` and ``nonce``) and ``echostr``;
  the answer is ``echostr`` as text/plain, or 403 when the signature is wrong.
* POST, for every message a follower sends and every event (subscribe, menu click, ...):
  an XML body, answered with a passive reply (XML) in the same HTTP response, or with
  "success" when there is nothing to say. In AES safe mode (WECHAT_ENCODING_AES_KEY set)
  the body holds the message encrypted in ``Encrypt``, the query adds ``msg_signature``
  (SHA-1 over token, timestamp, nonce and Encrypt) and the reply is encrypted too.

Replays: a signature covers the token, timestamp and nonce, not a plain-mode body. A
timestamp further than WECHAT_REPLAY_WINDOW_SECONDS (300 s by default) from this server's
clock is refused, and each (timestamp, nonce) may carry one message only: the claims are
kept for the window in the database (shared by every instance; memory without one), so a
copied query with another body is refused everywhere. The same message again is a retry.

Status codes: 200 answered; 400 malformed request (not UTF-8, not well-formed XML, a DTD or
entity declaration, missing or repeated fields, undecryptable); 403 bad signature, timestamp
outside the window, or nonce already used by another message (logged without the body);
405 other methods; 413 body over MAX_BODY bytes.

Answers come from the :class:`~bot.service.AssistantService` (channel "wechat", the
follower's OpenID as conversation key): follow-ups, a number picking one of the choices
shown, /language (or a message that only names a language), /subscribe, /unsubscribe,
/forget, and for the OpenIDs in WECHAT_ADMIN_OPENIDS /reload, /version, /unanswered and
/stats. The service may wait on the database, so it runs in a worker thread.

Retries: WeChat gives up on a request after 5 seconds and sends the same message again,
three times in all. Each answer's reply XML is kept (last RETRY_CACHE_SIZE messages,
RETRY_TTL seconds) under the account, the follower and the MsgId (for events: CreateTime and
Event instead of the MsgId), so another follower's message never gets it;
a retry gets the same XML back without a second computation, and a retry arriving while
the first copy is still being answered waits for that answer.

Logs carry the message kind, lengths, intent and timing, never the text, the body or the
follower's OpenID (uvicorn's access log is off: its request line would show the OpenID).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.channels.http import Refused, read_body
from bot.channels.serve import serve
from bot.core import render
from bot.core.engine import Assistant
from bot.core.types import Message, Reply
from bot.i18n import language
from bot.reload import ReloadResult
from bot.service import AssistantService, Reloaders
from bot.settings import ConfigError, Settings
from bot.storage.models import MAX_NONCE_CHARS
from bot.storage.nonces import MemoryNonces, NonceStore

from . import format
from .announce import WeChatBroadcaster, note_seen, subscription_command
from .cache import RecentCache
from .emoticons import strip_emoticons

log = logging.getLogger(__name__)

PATH = "/wechat"                 # the webhook's path: part of the project's interface
MAX_HEARD = 80                   # characters of a voice transcript quoted back
MAX_BODY = 64 * 1024             # largest accepted POST body, bytes (WeChat's are < 4 KiB)
RETRY_CACHE_SIZE = 2000          # replies kept for retried messages
RETRY_TTL = 300.0                # seconds a reply is kept for retries
REPLAY_WINDOW = 300.0            # default WECHAT_REPLAY_WINDOW_SECONDS
CHANNEL = "wechat"
NO_REPLY = "success"             # what WeChat accepts as "nothing to send"
XML = "application/xml"

# Events that make someone a new follower: they get the greeting.
# Events that bring someone to the chat: they get the greeting. A follower scanning one of
# the account's QR codes (a poster) sends "scan"; a new follower "subscribe[_scan]".
GREETING_EVENTS = frozenset({"subscribe", "subscribe_scan", "subscribe_scan_product", "scan"})
# Events nobody typed, answered with NO_REPLY rather than "text only": the follower left
# (unsubscribe), WeChat reports the location on its own each time the chat opens
# (location), a menu link opens a web page or mini program (view, view_miniprogram), a
# menu's location picker, or a mass/template send finished.
SILENT_EVENTS = frozenset({"unsubscribe", "location", "view", "view_miniprogram",
                           "location_select", "masssendjobfinish", "templatesendjobfinish"})
# Menu buttons (CLICK events): the EventKey set in the account's menu configuration names
# the section it opens; an unknown key opens the help, which lists every section.
MENU_KEYS = frozenset({"sessions", "programme", "program", "speakers", "doctors", "doctor",
                       "emergency", "about", "help", "start", "subscribe", "unsubscribe"})
# The fields read from the XML; each may appear at most once.
FIELDS = ("ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Event", "Content",
          "Encrypt")
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9]{3,32}$")
# OpenIDs are 28 characters of these, account ids "gh_" and 12 hex digits; 64 is the
# longest chat id the database keeps (longer ones would fail there, with a 500)
ACCOUNT_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
AES_KEY_SHAPE = re.compile(r"^[A-Za-z0-9+/]{43}$")


@dataclass(frozen=True)
class Credentials:
    """What the webhook needs from the Official Account's server configuration.

    Attributes:
        token: WECHAT_TOKEN, the key of every signature.
        app_id: WECHAT_APP_ID, or None (plain mode only).
        aes_key: WECHAT_ENCODING_AES_KEY (43 characters), or None for plain mode.
    """

    token: str
    app_id: str | None = None
    aes_key: str | None = None

    def __repr__(self) -> str:  # never show the token or the key
        return f"Credentials(app_id={self.app_id!r}, safe_mode={self.safe_mode})"

    @property
    def safe_mode(self) -> bool:
        """True when messages are AES-encrypted (an EncodingAESKey is set)."""
        return self.aes_key is not None


def credentials(settings: Settings) -> Credentials:
    """Return the WeChat credentials of ``settings``.

    Raises:
        ConfigError: WECHAT_TOKEN is missing or not 3-32 letters or digits;
            WECHAT_ENCODING_AES_KEY is not 43 characters of A-Z a-z 0-9 + /; or it is set
            without WECHAT_APP_ID. The message never contains a value.
    """
    token = settings.wechat_token.get_secret_value().strip() if settings.wechat_token else ""
    if not token:
        raise ConfigError("WECHAT_TOKEN is not set: the Token of the Official Account's "
                          "server configuration (put it in the environment or .env)")
    if not TOKEN_SHAPE.match(token):
        raise ConfigError("WECHAT_TOKEN is malformed: expected 3-32 letters or digits")
    key = (settings.wechat_encoding_aes_key.get_secret_value().strip()
           if settings.wechat_encoding_aes_key else "")
    app_id = (settings.wechat_app_id or "").strip() or None
    if key:
        if not AES_KEY_SHAPE.match(key):
            raise ConfigError("WECHAT_ENCODING_AES_KEY is malformed: expected 43 letters, "
                              "digits, + or /")
        if app_id is None:
            raise ConfigError("WECHAT_APP_ID is not set: AES safe mode "
                              "(WECHAT_ENCODING_AES_KEY) needs the Official Account's AppID")
    return Credentials(token=token, app_id=app_id, aes_key=key or None)

_TIMESTAMP = re.compile(r"^[1-9][0-9]{0,11}$")   # seconds, no sign, no leading zero


class WeChatWebhook:
    """The webhook's state and its two request handlers.

    Args:
        service: the assistant service (an Assistant is served by a service without
            database, conversations in memory).
        creds: token, and AppID and AES key for safe mode.
        retries: message key (:func:`message_key`) -> reply XML; default
            RETRY_CACHE_SIZE entries for RETRY_TTL or the replay window, the longer.
        replay_window: seconds a signed timestamp may be away from ``clock()``
            (WECHAT_REPLAY_WINDOW_SECONDS); also how long nonces are remembered.
        nonces: where (timestamp, nonce) claims live; default the service's database,
            else memory.
        clock: seconds since the epoch (``time.time``; tests pass a fake one).
    """

    def __init__(self, service: AssistantService | Assistant, creds: Credentials, *,
                 retries: RecentCache[str, str] | None = None,
                 replay_window: float = REPLAY_WINDOW, nonces: NonceStore | None = None,
                 clock: Callable[[], float] = time.time):
        self.service = (service if isinstance(service, AssistantService)
                        else AssistantService(service))
        self.creds = creds
        self.replay_window = replay_window
        self.clock = clock
        storage = self.service.storage
        self.nonces: NonceStore = (nonces if nonces is not None
                                   else storage.wechat_nonces if storage is not None
                                   else MemoryNonces())
        self.crypto = (WeChatCrypto(creds.token, creds.aes_key, creds.app_id)
                       if creds.safe_mode else None)
        # kept as long as a signed query is good: an exact copy of a message within the
        # window is answered from here, never run again (a replayed /subscribe would undo an
        # /unsubscribe made since)
        self.retries = retries if retries is not None else RecentCache(
            RETRY_CACHE_SIZE, max(RETRY_TTL, replay_window))
        self._answering: dict[str, asyncio.Future[str]] = {}

    # -- HTTP -----------------------------------------------------------------------------
    async def verify(self, request: Request) -> Response:
        """GET: the URL handshake; returns ``echostr`` (text/plain), 403 or 400."""
        query = request.query_params
        if not self._signed(query):
            return _refuse(request, Refused(403, "bad signature"))
        echostr = query.get("echostr")
        if not echostr:
            return _refuse(request, Refused(400, "echostr missing"))
        # the handshake's (timestamp, nonce) is spent too: in plain mode the body of a POST
        # is not signed, so a leaked handshake URL would otherwise carry one forged message
        nonce = query.get("nonce") or ""
        try:
            first = 0 < len(nonce) <= MAX_NONCE_CHARS and await asyncio.to_thread(
                self._first_use, query, "handshake:" + echostr[:MAX_NONCE_CHARS])
        except Refused as exc:
            return _refuse(request, exc)
        if not first:
            return _refuse(request, Refused(403, "nonce already used by another message"))
        log.info("WeChat URL handshake answered")
        return PlainTextResponse(echostr)

    async def receive(self, request: Request) -> Response:
        """POST: one message or event; returns the passive reply XML (encrypted in safe
        mode), "success" when there is nothing to say, or an error status."""
        started = time.perf_counter()
        query = request.query_params
        try:
            if not self._signed(query):
                raise Refused(403, "bad signature")
            body = await read_body(request, MAX_BODY)
            xml, fields = self._open(body, query)
        except Refused as exc:
            return _refuse(request, exc)
        key = message_key(fields)
        nonce = query.get("nonce") or ""
        if not 0 < len(nonce) <= MAX_NONCE_CHARS:
            return _refuse(request, Refused(403, "nonce missing or too long"))
        try:
            first = await asyncio.to_thread(self._first_use, query, key)
        except Refused as exc:
            return _refuse(request, exc)
        if not first:
            return _refuse(request, Refused(403, "nonce already used by another message"))
        reply_xml = self.retries.get(key)
        pending = self._answering.get(key)
        if reply_xml is not None:
            log.info("WeChat retry of a %s answered from the cache", fields["MsgType"])
        elif pending is not None:
            log.info("WeChat retry of a %s waits for its first answer", fields["MsgType"])
            reply_xml = await asyncio.shield(pending)
        else:
            try:
                message = parse_message(xml)
            except Exception as exc:  # noqa: BLE001 - whatever xmltodict/wechatpy dislike
                return _refuse(request, Refused(400, f"unreadable message "
                                                     f"({type(exc).__name__})"))
            # every field of a message is text: <Content><b>x</b></Content> is malformed
            if any(isinstance(v, (dict, list)) for v in getattr(message, "_data", {}).values()):
                return _refuse(request, Refused(400, "unreadable message (nested element)"))
            reply_xml = await self._answer_once(key, message, started)
        if reply_xml == NO_REPLY:
            return PlainTextResponse(NO_REPLY)
        if self.crypto is not None:
            reply_xml = self.crypto.encrypt_message(reply_xml, secrets.token_hex(8),
                                                    str(int(time.time())))
        return Response(reply_xml, media_type=XML)

    # -- steps ----------------------------------------------------------------------------
    def _signed(self, query) -> bool:
        """True when the query's signature is right and its timestamp within the window."""
        timestamp, nonce = query.get("timestamp") or "", query.get("nonce") or ""
        try:
            check_signature(self.creds.token, query.get("signature") or "", timestamp, nonce)
        except InvalidSignatureException:
            return False
        # the exact decimal form: "0" + a spent timestamp, with the nonce's leading "0"
        # moved over, would give the same signature (no separator between the parts)
        if not _TIMESTAMP.match(timestamp):
            return False
        return abs(self.clock() - int(timestamp)) <= self.replay_window

    def _first_use(self, query, key: str) -> bool:
        """Claim the query's (timestamp, nonce) for the message ``key``: False when another
        message used them first (a copied query with another body). Runs in a worker
        thread (the claim may wait on the database).

        Raises:
            Refused: 503 when the claim cannot be stored (a locked or unreachable
                database): WeChat retries, and nothing was answered twice.
        """
        digest = hmac.new(self.creds.token.encode(), key.encode("utf-8"),
                          hashlib.sha256).hexdigest()
        try:
            return self.nonces.claim(int(query["timestamp"]), query["nonce"], digest,
                                     self.replay_window)
        except Exception as exc:  # noqa: BLE001 - the database's error, never its text
            log.warning("WeChat nonce could not be recorded: %s", type(exc).__name__)
            raise Refused(503, "busy, retry") from None

    def _open(self, body: bytes, query) -> tuple[str, dict[str, str]]:
        """Return the message XML and its FIELDS, decrypted first in safe mode.

        Raises:
            Refused: 400 malformed, undecryptable, missing MsgType, FromUserName or
                ToUserName, either of them not shaped like a WeChat id (ACCOUNT_SHAPE), or
                MsgId or CreateTime not a number of at most 20 digits; 403 wrong
                msg_signature or AppID.
        """
        xml, fields = _parse(body)
        if self.crypto is not None:
            if not fields["Encrypt"]:
                raise Refused(400, "Encrypt missing (safe mode)")
            try:
                plain = self.crypto.decrypt_message({"Encrypt": fields["Encrypt"]},
                                                    query.get("msg_signature") or "",
                                                    query.get("timestamp") or "",
                                                    query.get("nonce") or "")
            except InvalidSignatureException:
                raise Refused(403, "bad msg_signature") from None
            except InvalidAppIdException:
                raise Refused(403, "encrypted for another AppID") from None
            except Exception as exc:  # noqa: BLE001 - bad base64, padding, length, UTF-8
                raise Refused(400, f"cannot decrypt ({type(exc).__name__})") from None
            xml, fields = _parse(plain.encode("utf-8"))
        missing = [name for name in ("MsgType", "FromUserName", "ToUserName")
                   if not fields[name]]
        if missing:
            raise Refused(400, f"{', '.join(missing)} missing")
        for name in ("MsgId", "CreateTime"):
            if fields[name] and not (fields[name].isascii() and fields[name].isdigit()
                                     and len(fields[name]) <= 20):
                raise Refused(400, f"{name} is not a number")
        for name in ("FromUserName", "ToUserName"):  # an OpenID, the account's gh_ id
            if not ACCOUNT_SHAPE.match(fields[name]):
                raise Refused(400, f"{name} is not a WeChat id")
        return xml, fields

    async def _answer_once(self, key: str, message: BaseMessage, started: float) -> str:
        """Answer in a worker thread; retries of ``key`` meanwhile wait for this answer."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._answering[key] = future
        try:
            reply_xml = await asyncio.to_thread(self._answer, message, started)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: a waiting retry re-raises it
            raise
        finally:
            self._answering.pop(key, None)
        self.retries.put(key, reply_xml)
        future.set_result(reply_xml)
        return reply_xml

    def _answer(self, message: BaseMessage, started: float) -> str:
        """Return the reply XML (plain) for one parsed message, or NO_REPLY."""
        kind = message.type if message.type != "event" else f"event:{message.event}"
        openid = message.source
        note = None  # a line added to the answer
        storage = getattr(self.service, "storage", None)
        note_seen(storage, openid)   # WeChat's 48-hour window for announcements starts now
        if message.type == "text":
            text = strip_emoticons(message.content or "")
            command = subscription_command(text, self.service.assistant.k.vocabulary)
            if command is None:
                reply = self._text(text, openid)
            else:   # "订阅": answered in the keyword's language
                lang = self.service.assistant.language.detect(text)
                reply = self.service.handle(CHANNEL, openid,
                                            Message(command, user_id=openid, lang=lang))
        elif message.type == "voice" and (message.recognition or "").strip():
            # speech recognition on: the transcript is answered like a text, and the
            # follower is told what was understood (recognition makes mistakes)
            text = " ".join(message.recognition.split())
            reply = self._text(text, openid)
            with language(reply.lang):
                note = render.from_speech(render.shorten(text, MAX_HEARD))
        elif message.type == "event" and message.event in GREETING_EVENTS:
            text = ""
            if message.event != "scan" and storage is not None:
                # following the account subscribes to the forum's announcements
                self.service.subscribe(CHANNEL, openid, openid)
                note_seen(storage, openid)
            reply = self._event("/start", openid)
        elif message.type == "event" and message.event == "unsubscribe":
            if storage is not None:   # unfollowed: no announcement may follow them
                self.service.unsubscribe(CHANNEL, openid, openid)
            log.info("WeChat %s: no reply", kind)
            return NO_REPLY
        elif message.type == "event" and message.event == "click":
            text = ""
            reply = self._event(menu_command(message.key), openid)
        elif message.type == "event" and message.event in SILENT_EVENTS:
            log.info("WeChat %s: no reply", kind)
            return NO_REPLY
        else:
            log.info("WeChat %s: text-only notice", kind)
            return _render(message, format.TEXT_ONLY)
        if note is None:
            content, shown = format.content(reply)
        else:  # within the byte limit; emergency guidance stays first
            content, shown = format.content(reply, format.MAX_BYTES - format.size(note) - 1)
            content = f"{content}\n{note}" if reply.intent == "emergency" else f"{note}\n{content}"
        log.info("WeChat %s answered: intent=%s lang=%s in=%d chars out=%d bytes "
                 "choices=%d %.1f ms", kind, reply.intent, reply.lang, len(text),
                 format.size(content), len(shown), (time.perf_counter() - started) * 1000)
        return _render(message, content)

    def _text(self, text: str, openid: str) -> Reply:
        """A typed (or spoken) message, answered by the service in the follower's
        conversation: follow-ups, a number picking one of the choices shown, commands."""
        return self.service.handle(CHANNEL, openid, Message(text, user_id=openid))

    def _event(self, command: str, openid: str) -> Reply:
        """An event (a new follower, a menu button) as a command, in the language of the
        follower's conversation: events carry no text to detect it from."""
        lang = self.service.conversation_language(CHANNEL, openid)
        return self.service.handle(CHANNEL, openid, Message(command, user_id=openid,
                                                            lang=lang))


def message_key(fields: dict[str, str]) -> str:
    """The retry cache's key of a message: the account (ToUserName), the follower
    (FromUserName) and the MsgId, or for events (no MsgId) CreateTime and the event. Two
    followers' messages never share a key, even with equal MsgIds."""
    tail = fields["MsgId"] or f"{fields['CreateTime']}|{fields['Event'].lower()}"
    return f"{fields['ToUserName']}|{fields['FromUserName']}|{tail}"


def menu_command(key: str | None) -> str:
    """Return the command a menu button's EventKey stands for ("SESSIONS" -> "/sessions");
    keys outside MENU_KEYS give "/help"."""
    name = (key or "").strip().lower()
    return f"/{name}" if name in MENU_KEYS else "/help"


def create_app(service: AssistantService | Assistant, creds: Credentials, *,
               watch: bool = False, broadcaster: WeChatBroadcaster | None = None,
               **options) -> Starlette:
    """Return the ASGI app serving GET and POST on PATH; ``options`` go to
    :class:`WeChatWebhook` (retries, replay_window, nonces, clock). The webhook is
    ``app.state.webhook``. While the app runs, SIGHUP reloads the knowledge, and with
    ``watch`` so does any change in its folder (the outcome is logged: a passive-reply
    channel cannot message its admins)."""
    hook = WeChatWebhook(service, creds, **options)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        reloaders = Reloaders(hook.service, _log_reload)
        reloaders.start(watch)
        if broadcaster is not None:
            broadcaster.start()
        try:
            yield
        finally:
            if broadcaster is not None:
                await broadcaster.stop()
            await reloaders.stop()

    app = Starlette(routes=[Route(PATH, hook.verify, methods=["GET"]),
                            Route(PATH, hook.receive, methods=["POST"])],
                    middleware=[Middleware(NoSniff)], lifespan=lifespan)
    # no redirect to a trailing slash: its Location would echo the request's Host header
    app.router.redirect_slashes = False
    app.state.webhook = hook
    return app


class NoSniff:
    """ASGI middleware: ``X-Content-Type-Options: nosniff`` on every response (the
    handshake's echostr goes back as text/plain and must never be read as HTML)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the header to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"x-content-type-options", b"nosniff")]
            await send(message)

        await self.app(scope, receive, send_nosniff)


async def _log_reload(result: ReloadResult, report: str) -> None:
    if result.ok:
        log.info("%s", report.splitlines()[0])
    else:
        log.warning("%s", report)


def run(settings: Settings, service: AssistantService) -> None:
    """Serve the webhook on WEBHOOK_LISTEN:PORT at PATH until SIGINT or SIGTERM.

    Raises:
        ConfigError: the WeChat settings are missing or malformed (see :func:`credentials`),
            or the address cannot be bound.
    """
    creds = credentials(settings)
    broadcaster = (WeChatBroadcaster(service.storage, settings)
                   if service.storage is not None and WeChatBroadcaster.configured(settings)
                   else None)
    serve(create_app(service, creds, watch=settings.watch_knowledge, broadcaster=broadcaster,
                     replay_window=settings.wechat_replay_window_seconds),
          settings.webhook_listen,
          settings.port, "WeChat webhook",
          f"{PATH} ({'AES safe' if creds.safe_mode else 'plain'} mode)")


# -- helpers ------------------------------------------------------------------------------
def _refuse(request: Request, exc: Refused) -> Response:
    log.warning("WeChat %s %s refused with %d: %s", request.method, PATH, exc.status,
                exc.reason)
    return PlainTextResponse(exc.reason, status_code=exc.status)


def _parse(body: bytes) -> tuple[str, dict[str, str]]:
    """Return the text and FIELDS of a WeChat XML document, rejecting (400) anything but
    well-formed UTF-8 XML with an ``<xml>`` root and without a DTD: no entity (internal or
    external) is ever expanded, here or later in wechatpy's parser, which gets only text
    that passed this check."""
    try:
        text = body.decode("utf-8")
        root = defused_fromstring(text, forbid_dtd=True)
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    except DefusedXmlException as exc:
        raise Refused(400, f"forbidden XML ({type(exc).__name__})") from None
    except (ParseError, ValueError) as exc:
        raise Refused(400, f"malformed XML ({type(exc).__name__})") from None
    if root.tag != "xml":
        raise Refused(400, "the root element is not <xml>")
    return text, _fields(root)


def _fields(root: Element) -> dict[str, str]:
    """Return the text of each of FIELDS ("" when absent).

    Raises:
        Refused: 400 when one of them appears more than once.
    """
    values = {}
    for name in FIELDS:
        found = root.findall(name)
        if len(found) > 1:
            raise Refused(400, f"{name} repeated")
        values[name] = (found[0].text or "").strip() if found else ""
    return values


def _cdata(value: str) -> str:
    """``value`` safe inside <![CDATA[...]]> (which wechatpy writes without escaping)."""
    return format.xml_safe(value).replace("]]>", "]]]]><![CDATA[>")


def _render(message: BaseMessage, content: str) -> str:
    """Return the passive TextReply XML answering ``message`` (sender and receiver swapped)."""
    return TextReply(source=_cdata(message.target), target=_cdata(message.source),
                     content=_cdata(content), time=int(time.time())).render()
