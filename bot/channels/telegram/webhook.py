"""The Telegram webhook server: a small Starlette app run by uvicorn that checks before it
reads.

python-telegram-bot's own webhook server (tornado) reads the whole body, up to 100 MB,
before its handler looks at the secret header: forty such requests took a process from
about 100 MB to over 4 GB. This one, for each POST to the webhook path:

1. compares ``X-Telegram-Bot-Api-Secret-Token`` with WEBHOOK_SECRET (constant time) and
   answers 403 without reading the body when it differs or is missing;
2. refuses a body over MAX_BODY bytes with 413 (a declared Content-Length at once, a
   chunked body as soon as it passes the cap) and one slower than BODY_TIMEOUT with 408;
3. decodes the JSON (400 when it is not a JSON object or nests deeper than 64 levels)
   into an Update and puts it on the Application's ``update_queue``, answering 200 at once
   (the handlers run afterwards). An update_id seen in the last SEEN_UPDATES updates (24
   hours at most) is a second delivery: answered 200, not handled again.

An update python-telegram-bot cannot decode is dropped with a log line that names the error,
never the data, and answered 200 (Telegram would otherwise send it again and again).
Other methods get 405, other paths 404. Nothing about a request is logged but its status
and reason.
"""
from __future__ import annotations

import asyncio
import hmac
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application, ExtBot

from bot.channels.http import Refused, json_object, read_body
from bot.channels.serve import bind, serve_async, server_for
from bot.channels.telegram.subscribe import stop_claiming
from bot.channels.wechat.cache import RecentCache

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024       # bytes; an update is a few KiB, 1 MiB is generous
MAX_CONNECTIONS = 40         # Telegram's default max_connections for a webhook
SEEN_UPDATES = 10_000        # update_ids remembered to drop a second delivery
SEEN_TTL = 24 * 3600.0       # seconds; Telegram keeps an undelivered update 24 hours


class TelegramWebhook:
    """The webhook's request handler.

    Args:
        application: the PTB Application whose ``update_queue`` receives the updates
            (initialised and started by the caller).
        secret: WEBHOOK_SECRET, sent by Telegram in SECRET_HEADER.
    """

    def __init__(self, application: Application, secret: str):
        if not secret:
            raise ValueError("the webhook needs a secret")
        self.application = application
        self._secret = secret.encode("utf-8")
        self._seen: RecentCache[int, bool] = RecentCache(SEEN_UPDATES, SEEN_TTL)

    async def receive(self, request: Request) -> Response:
        """POST: one update; returns 200, or 403/413/408/400/415 (see the module)."""
        try:
            update = await self._update_of(request)
        except Refused as exc:
            log.warning("Telegram webhook refused a request with %d: %s", exc.status,
                        exc.reason)
            return PlainTextResponse(exc.reason, status_code=exc.status)
        if update is None:
            return Response(status_code=200)
        if self._seen.get(update.update_id):  # checked and marked with no await between
            log.info("Telegram webhook dropped a duplicate update")
            return Response(status_code=200)
        self._seen.put(update.update_id, True)
        await self.application.update_queue.put(update)
        return Response(status_code=200)

    async def _update_of(self, request: Request) -> Update | None:
        supplied = request.headers.get(SECRET_HEADER, "").encode("utf-8")
        if not hmac.compare_digest(supplied, self._secret):
            raise Refused(403, "wrong or missing secret token")  # body never read
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise Refused(415, "expected application/json")
        data = json_object(await read_body(request, MAX_BODY))
        bot = self.application.bot
        try:
            update = Update.de_json(data, bot)
        except Exception as exc:  # noqa: BLE001 - whatever a malformed update raises
            log.warning("dropped an update that could not be decoded (%s)", type(exc).__name__)
            return None
        if isinstance(bot, ExtBot):
            bot.insert_callback_data(update)  # as PTB's own webhook does
        return update


def create_app(application: Application, path: str, secret: str) -> Starlette:
    """Return the ASGI app serving POST on ``path`` ("/telegram"); the handler is
    ``app.state.webhook``."""
    hook = TelegramWebhook(application, secret)
    app = Starlette(routes=[Route("/" + path.lstrip("/"), hook.receive, methods=["POST"])])
    # no redirect to a trailing slash: its Location would echo the request's Host header
    app.router.redirect_slashes = False
    app.state.webhook = hook
    return app


async def serve_webhook(application: Application, *, listen: str, port: int, path: str,
                        webhook_url: str, secret: str, allowed_updates: list[str]) -> None:
    """Run ``application`` behind :func:`create_app` on ``listen``:``port`` until SIGINT or
    SIGTERM: initialise it (and its post_init), register the webhook with Telegram
    (setWebhook with the secret), serve, then stop and shut down (post_stop,
    post_shutdown).

    Raises:
        ConfigError: the address cannot be bound.
        telegram.error.TelegramError: the Bot API refused the token or the webhook, or
            cannot be reached.
    """
    sock = bind(listen, port)
    try:
        await application.initialize()
        try:
            if application.post_init is not None:
                await application.post_init(application)
            await application.bot.set_webhook(url=webhook_url, secret_token=secret,
                                              allowed_updates=allowed_updates,
                                              max_connections=MAX_CONNECTIONS)
            await application.start()
            try:
                await serve_async(server_for(create_app(application, path, secret)), sock)
            finally:
                stop_claiming(application)   # a broadcast pass ends now, not when done
                await application.stop()
                if application.post_stop is not None:
                    await application.post_stop(application)
        finally:
            await application.shutdown()
            if application.post_shutdown is not None:
                await application.post_shutdown(application)
    finally:
        sock.close()


def run_webhook_server(application: Application, **options) -> None:
    """Blocking :func:`serve_webhook` in a new event loop (the ``forumbot webhook``
    command)."""
    asyncio.run(serve_webhook(application, **options))
