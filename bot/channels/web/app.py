"""The web chat: a Starlette app serving the chat page, the embeddable widget and a small
JSON API over the channel-agnostic service.

Routes:

* ``GET /``: the chat page (``static/index.html``; ``?embed=1`` inside the widget's frame).
* ``GET /widget.js``: the widget. A host page adds
  ``<script src="https://CHAT-HOST/widget.js" async></script>``; it shows a chat bubble that
  opens the chat page in a frame.
* ``GET /static/...``: the page's script and styles (no CDN, no build step).
* ``GET /api/ui?lang=xx``: interface strings, writing direction, languages and emergency
  numbers for the page.
* ``GET /api/conversation``: the conversation so far (``{"lang", "messages"}``), so a reload
  shows it again.
* ``POST /api/start`` ``{"lang": "fr"}``: the greeting of a new conversation.
* ``POST /api/messages`` ``{"text": "..."}``: the answer, ``{"reply": {...}}`` (see
  :func:`bot.channels.web.format.payload`), plus ``"ui"`` (as ``/api/ui``) when the message
  chose a language ("/language ar", "français").
* ``POST /api/choices`` ``{"id": "..."}``: the answer to a picked choice.
* ``POST /api/language`` ``{"lang": "ar"}``: the user's language for replies and interface;
  returns the ``/api/ui`` object of that language.

The conversation id lives in the ``summit_chat`` cookie (random, HttpOnly, SameSite=Lax,
Secure when the request came over https; X-Forwarded-Proto and X-Forwarded-For count only
from WEB_TRUSTED_PROXIES). Status codes: 400 malformed JSON or fields; 413 a text over
MAX_TEXT characters or a body over MAX_BODY bytes; 415 a body that is not JSON; 429 a rate
limit (per client address and per conversation), with Retry-After in seconds; 408 a body
not received within BODY_TIMEOUT (10 s).

Security headers: a Content-Security-Policy without inline scripts or styles on every
response (the page may be framed only by itself and WEB_ALLOWED_ORIGINS: frame-ancestors),
CORS for WEB_ALLOWED_ORIGINS only, nosniff, no referrer. Logs carry the route, intent,
language, lengths and timing, never the user's text, the conversation id or the address.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot.channels import http
from bot.channels.http import json_object, read_body
from bot.core.types import Message, Reply
from bot.i18n import DEFAULT, SUPPORTED, language
from bot.knowledge.models import Knowledge
from bot.reload import ReloadResult
from bot.service import AssistantService, Reloaders
from bot.settings import Settings

from .format import payload
from .history import Transcripts
from .ratelimit import RateLimits
from .strings import no_subscriptions, ui

log = logging.getLogger(__name__)

CHANNEL = "web"                  # the channel's name in service calls and the question log
COOKIE = "summit_chat"           # the conversation id's cookie
ROTATE = "_new_conversation"     # a step's result asks for a fresh conversation id
COOKIE_AGE = 30 * 24 * 3600      # seconds the browser keeps it
MAX_TEXT = 2000                  # longest message, characters (longer: 413)
MAX_BODY = 32 * 1024             # longest request body, bytes (2,000 escaped characters fit)
MAX_CHOICE_ID = 64               # longest choice id, characters (Choice.id is under 64 bytes)
STATIC = Path(__file__).resolve().parent / "static"
ID_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_SURROGATE = re.compile("[\ud800-\udfff]")     # lone halves: not encodable as UTF-8
_CHOICE_SHAPE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII
# Answered here: announcements go out on Telegram and WeChat, never to a web page.
LOCAL_COMMANDS = frozenset({"subscribe", "unsubscribe"})


class Refused(Exception):
    """A request answered with an error: ``status``, a short ``code`` for the page, an
    English ``detail`` for API users (never containing the user's text), extra headers."""

    def __init__(self, status: int, code: str, detail: str,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        """Return the JSON error response ``{"error": code, "detail": detail}``."""
        return JSONResponse({"error": self.code, "detail": self.detail},
                            status_code=self.status, headers=self.headers)


class CookieSigner:
    """Conversation ids in the cookie, signed: only ids this deployment issued are read.

    A cookie's value is ``ID.MAC`` (MAC: HMAC-SHA256 of the id under ``key``, URL-safe
    base64, 43 characters). A planted cookie (another subdomain of the site can set one)
    fails the check and the visitor gets a fresh id, so nobody can choose a victim's
    conversation id and read its transcript back.

    Args:
        key: the signing key, bytes (WEB_COOKIE_SECRET; instances that share conversations
            need the same key).
    """

    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, conversation: str) -> str:
        digest = hmac.new(self._key, conversation.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def sign(self, conversation: str) -> str:
        """The cookie value for ``conversation`` (an id of ID_SHAPE)."""
        return f"{conversation}.{self._mac(conversation)}"

    def read(self, value: str) -> str | None:
        """The conversation id a cookie value carries, or None (absent, malformed, or not
        signed with this key)."""
        conversation, _, mac = value.partition(".")
        if not ID_SHAPE.match(conversation) or len(mac) != 43:
            return None
        return conversation if hmac.compare_digest(mac, self._mac(conversation)) else None


class WebChat:
    """The web chat's state and request handlers.

    Args:
        service: answers messages and choices, keeps each conversation's language and
            context, logs the questions, serves the current knowledge version.
        limits: per-address and per-conversation rate limits.
        transcripts: what each conversation shows; default an empty :class:`Transcripts`.
        signer: signs and checks the conversation cookie; default a random key (ids then
            last as long as the process).
    """

    def __init__(self, service: AssistantService, limits: RateLimits,
                 transcripts: Transcripts | None = None, signer: CookieSigner | None = None):
        self.service = service
        self.limits = limits
        self.transcripts = transcripts or Transcripts()
        self.signer = signer or CookieSigner(secrets.token_bytes(32))

    def knowledge(self) -> Knowledge:
        """The knowledge version serving now (its emergency numbers become links)."""
        return self.service.assistant.k

    async def _language_of(self, conversation: str) -> str | None:
        return await run_in_threadpool(self.service.language_of, CHANNEL, conversation)

    # -- pages ----------------------------------------------------------------------------
    async def page(self, request: Request) -> Response:
        """GET /: the chat page."""
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def widget(self, request: Request) -> Response:
        """GET /widget.js: the embeddable widget's script."""
        return FileResponse(STATIC / "widget.js",
                            media_type="text/javascript; charset=utf-8",
                            headers={"Cross-Origin-Resource-Policy": "cross-origin"})

    # -- API ------------------------------------------------------------------------------
    async def ui(self, request: Request) -> Response:
        """GET /api/ui?lang=xx: interface strings and emergency numbers (English when
        ``lang`` is missing or unsupported)."""
        return JSONResponse(ui(request.query_params.get("lang", ""), self.knowledge()))

    async def conversation(self, request: Request) -> Response:
        """GET /api/conversation: ``{"lang": str | null, "messages": [entries]}``."""
        conversation = self._conversation_id(request)
        if conversation is None:
            return JSONResponse({"lang": None, "messages": []})
        return JSONResponse({"lang": await self._language_of(conversation),
                             "messages": self.transcripts.entries(conversation)})

    async def start(self, request: Request) -> Response:
        """POST /api/start ``{"lang": "fr"}``: the greeting, in ``lang`` (a hint from the
        page's interface language) unless the conversation has a language already."""
        return await self._serve(request, "start", self._start)

    async def message(self, request: Request) -> Response:
        """POST /api/messages ``{"text": "..."}``: the answer to a typed message."""
        return await self._serve(request, "message", self._message)

    async def choice(self, request: Request) -> Response:
        """POST /api/choices ``{"id": "..."}``: the answer to a picked choice."""
        return await self._serve(request, "choice", self._choice)

    async def language(self, request: Request) -> Response:
        """POST /api/language ``{"lang": "ar"}``: store the language; returns its UI."""
        return await self._serve(request, "language", self._language)

    # -- steps ----------------------------------------------------------------------------
    async def _serve(self, request: Request, route: str,
                     step: Callable[[str, dict[str, Any]], Any]) -> Response:
        """Read the JSON body, apply the rate limits, run ``step(conversation, body)`` and
        answer its result as JSON, with the conversation cookie (set or refreshed)."""
        started = time.perf_counter()
        known = self._conversation_id(request)
        try:
            body = await _read_json(request)
            conversation = known or secrets.token_urlsafe(24)
            wait = self.limits.hit(_client(request), conversation)
            if wait:
                raise Refused(429, "rate_limited", f"too many messages; retry in {wait} s",
                              {"Retry-After": str(wait)})
            result = await step(conversation, body)
            if result.pop(ROTATE, False):   # after /forget, a fresh conversation id
                conversation = secrets.token_urlsafe(24)
                self.transcripts.add(conversation, {"role": "bot", "reply": result["reply"]})
        except Refused as exc:
            log.warning("web %s refused with %d: %s", route, exc.status, exc.code)
            return exc.response()
        reply = result.get("reply")
        if reply:
            log.info("web %s answered: intent=%s lang=%s in=%d chars out=%d chars choices=%d "
                     "%.1f ms", route, reply["intent"], reply["lang"], _size(body),
                     len(reply["text"]), len(reply["choices"]),
                     (time.perf_counter() - started) * 1000)
        response = JSONResponse(result)
        response.set_cookie(COOKIE, self.signer.sign(conversation), max_age=COOKIE_AGE,
                            path="/", secure=request.url.scheme == "https", httponly=True,
                            samesite="lax")
        return response

    def _conversation_id(self, request: Request) -> str | None:
        """The conversation id of the request's cookie, or None (absent, not one of ours:
        see :class:`CookieSigner`, or sent more than once: a second one, set for a parent
        domain by someone else, could pin the visitor to a conversation its setter reads)."""
        names = [part.split("=", 1)[0].strip()
                 for header in request.headers.getlist("cookie") for part in header.split(";")]
        if names.count(COOKIE) != 1:
            return None
        return self.signer.read(request.cookies.get(COOKIE, ""))

    async def _start(self, conversation: str, body: dict[str, Any]) -> dict[str, Any]:
        lang = await self._language_of(conversation) or _language(body, required=False)
        reply = await self._answer(conversation, Message("/start", user_id=conversation,
                                                         lang=lang))
        self.transcripts.add(conversation, {"role": "bot", "reply": reply})
        return {"reply": reply}

    async def _message(self, conversation: str, body: dict[str, Any]) -> dict[str, Any]:
        text = body.get("text")
        if not isinstance(text, str):
            raise Refused(400, "bad_request", 'expected {"text": "..."}')
        if len(text) > MAX_TEXT:
            raise Refused(413, "too_long", f"the text is over {MAX_TEXT} characters")
        text = _SURROGATE.sub("\ufffd", text)
        if not text.strip():
            raise Refused(400, "empty", "the text is empty")
        command = _command_name(text)
        if command in LOCAL_COMMANDS:
            lang = await self._language_of(conversation) or DEFAULT
            with language(lang):
                local = Reply("command", no_subscriptions(), lang=lang)
            reply = payload(local, self.knowledge())
        else:
            reply = await self._answer(conversation, Message(text, user_id=conversation))
        result: dict[str, Any] = {"reply": reply}
        if command == "forget":  # nothing stored is shown again, and the id is new
            self.transcripts.forget(conversation)
            result[ROTATE] = True
            return result
        self.transcripts.add(conversation, {"role": "user", "text": text},
                             {"role": "bot", "reply": reply})
        if reply["intent"] == "command":  # "/language ar", "français": the page follows
            result["ui"] = ui(await self._language_of(conversation) or reply["lang"],
                              self.knowledge())
        return result

    async def _choice(self, conversation: str, body: dict[str, Any]) -> dict[str, Any]:
        choice_id = body.get("id")
        if not (isinstance(choice_id, str) and len(choice_id) <= MAX_CHOICE_ID
                and _CHOICE_SHAPE.match(choice_id)):
            raise Refused(400, "bad_request",
                          f'expected {{"id": "..."}}: printable ASCII, at most {MAX_CHOICE_ID}')
        label = self.transcripts.label(conversation, choice_id)
        answer = await run_in_threadpool(self.service.choose, CHANNEL, conversation, choice_id)
        reply = payload(answer, self.knowledge())
        entries = ([{"role": "user", "text": label}] if label else []) + \
                  [{"role": "bot", "reply": reply}]
        self.transcripts.add(conversation, *entries)
        return {"reply": reply}

    async def _language(self, conversation: str, body: dict[str, Any]) -> dict[str, Any]:
        lang = _language(body, required=True)
        await run_in_threadpool(self.service.set_language, CHANNEL, conversation, lang)
        return ui(lang or "", self.knowledge())

    async def _answer(self, conversation: str, message: Message) -> dict[str, Any]:
        # The service may write to the database (question log, conversation state): a
        # worker thread keeps the event loop serving other visitors meanwhile.
        reply = await run_in_threadpool(self.service.handle, CHANNEL, conversation, message)
        return payload(reply, self.knowledge())


def create_app(service: AssistantService, *, allowed_origins: list[str] | None = None,
               trusted_proxies: list[str] | None = None, limits: RateLimits | None = None,
               transcripts: Transcripts | None = None, watch: bool = False,
               cookie_secret: str | None = None) -> Starlette:
    """Return the web chat's ASGI app (its :class:`WebChat` is ``app.state.chat``). While
    it runs, SIGHUP reloads the knowledge, and with ``watch`` so does any change in its
    folder (the outcome is logged).

    Args:
        service, transcripts: see :class:`WebChat`.
        allowed_origins: origins that may frame the page and call the API (CORS).
        trusted_proxies: proxy addresses/networks (or "*") whose X-Forwarded-For and
            X-Forwarded-Proto are believed; none by default.
        limits: rate limits; default 60/minute per address, 20/minute per conversation.
        cookie_secret: the key that signs conversation cookies (WEB_COOKIE_SECRET); default
            a random one per process (conversations then end with the process).
    """
    origins = list(allowed_origins or [])
    signer = CookieSigner(cookie_secret.encode("utf-8") if cookie_secret
                          else secrets.token_bytes(32))
    chat = WebChat(service, limits or RateLimits("60/minute", "20/minute"), transcripts,
                   signer)
    routes = [
        Route("/", chat.page, methods=["GET"]),
        Route("/widget.js", chat.widget, methods=["GET"]),
        Route("/api/ui", chat.ui, methods=["GET"]),
        Route("/api/conversation", chat.conversation, methods=["GET"]),
        Route("/api/start", chat.start, methods=["POST"]),
        Route("/api/messages", chat.message, methods=["POST"]),
        Route("/api/choices", chat.choice, methods=["POST"]),
        Route("/api/language", chat.language, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders, allowed_origins=origins),
                  Middleware(CORSMiddleware, allow_origins=origins, allow_credentials=True,
                             allow_methods=["GET", "POST"], allow_headers=["Content-Type"],
                             max_age=600)]
    if trusted_proxies:
        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted_hosts=trusted_proxies))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        reloaders = Reloaders(service, _log_reload)
        reloaders.start(watch)
        try:
            yield
        finally:
            await reloaders.stop()

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    # no redirect to a trailing slash: its Location would echo the request's Host header
    app.router.redirect_slashes = False
    app.state.chat = chat
    return app


def app_from_settings(settings: Settings, service: AssistantService) -> Starlette:
    """Return :func:`create_app` configured by WEB_ALLOWED_ORIGINS, WEB_TRUSTED_PROXIES,
    WEB_RATE_LIMIT_IP, WEB_RATE_LIMIT_CONVERSATION and WATCH_KNOWLEDGE."""
    return create_app(service, allowed_origins=settings.web_allowed_origins,
                      trusted_proxies=settings.web_trusted_proxies,
                      limits=RateLimits(settings.web_rate_limit_ip,
                                        settings.web_rate_limit_conversation),
                      watch=settings.watch_knowledge,
                      cookie_secret=(settings.web_cookie_secret.get_secret_value()
                                     if settings.web_cookie_secret else None))


async def _log_reload(result: ReloadResult, report: str) -> None:
    """Log a reload's outcome (a web page has no admin to tell)."""
    log.log(logging.INFO if result.ok else logging.WARNING, "%s",
            report.splitlines()[0] if result.ok else report)


class SecurityHeaders:
    """ASGI middleware adding the security headers to every response.

    The page's policy allows scripts, styles and requests from its own origin only, and
    framing by itself and ``allowed_origins``; every other response gets ``default-src
    'none'`` and may not be framed. API answers are not cached.
    """

    def __init__(self, app: ASGIApp, allowed_origins: list[str]):
        self.app = app
        ancestors = " ".join(["'self'", *allowed_origins])
        self.page_policy = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                            f"form-action 'self'; frame-ancestors {ancestors}")
        self.other_policy = "default-src 'none'; frame-ancestors 'none'"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        policy = self.page_policy if path == "/" else self.other_policy

        async def send_with_headers(message: AsgiMessage) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", policy.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]
                if path.startswith("/api/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def run(settings: Settings, service: AssistantService) -> None:
    """Serve the web chat on WEBHOOK_LISTEN:PORT until SIGINT or SIGTERM.

    Raises:
        ConfigError: the address cannot be bound.
    """
    from bot.channels.serve import serve
    serve(app_from_settings(settings, service), settings.webhook_listen, settings.port,
          "web chat")


# -- helpers ------------------------------------------------------------------------------
def _command_name(text: str) -> str | None:
    """The command a message starts with ("/Subscribe@Bot now" -> "subscribe"), or None."""
    words = text.strip().split(maxsplit=1)
    if not words or not words[0].startswith("/") or len(words[0]) < 2:
        return None
    return words[0][1:].split("@", 1)[0].lower()


def _client(request: Request) -> str:
    """The client's address (the proxy's X-Forwarded-For only when it is trusted)."""
    return request.client.host if request.client else "unknown"


def _language(body: dict[str, Any], *, required: bool) -> str | None:
    """The body's ``lang``: one of SUPPORTED, or None (null; or absent when not required).

    Raises:
        Refused: 400 for another value.
    """
    lang = body.get("lang")
    if lang is None and (not required or "lang" in body):
        return None
    if lang not in SUPPORTED:
        raise Refused(400, "bad_request", f"lang must be one of {', '.join(SUPPORTED)}")
    return str(lang)


def _size(body: dict[str, Any]) -> int:
    text = body.get("text")
    return len(text) if isinstance(text, str) else 0


async def _read_json(request: Request) -> dict[str, Any]:
    """Return the request's JSON object.

    Raises:
        Refused: 415 not ``application/json``; 413 over MAX_BODY bytes (refused before
            reading it all); 408 a body slower than BODY_TIMEOUT seconds; 400 not UTF-8
            JSON, not an object, nested too deep, or the client left early.
    """
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise Refused(415, "unsupported_media_type", "send JSON (Content-Type: application/json)")
    try:
        return json_object(await read_body(request, MAX_BODY))
    except http.Refused as exc:
        code = {413: "too_long", 408: "timeout"}.get(exc.status, "bad_request")
        raise Refused(exc.status, code, exc.reason) from None
