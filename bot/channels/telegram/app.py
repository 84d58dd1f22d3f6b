"""Build and run the Telegram Application. Every handler is registered in
:func:`register_handlers`, in commented groups where order matters."""
from __future__ import annotations

import logging
import signal
from urllib.parse import urlparse

from telegram import BotCommand, Update
from telegram.ext import (AIORateLimiter, Application, ApplicationBuilder, CallbackQueryHandler,
                          CommandHandler, InlineQueryHandler, MessageHandler, filters)

from bot.core.engine import Assistant
from bot.settings import ConfigError, Settings

from . import handlers

log = logging.getLogger(__name__)

# The command menu, built from the same list the handlers are registered with.
COMMANDS: list[tuple[str, str]] = [
    ("start", "Welcome and example questions"),
    ("help", "What I can do"),
    ("sessions", "The programme of expert talks"),
    ("speakers", "Who spoke at the forum"),
    ("doctor", "Find a doctor: /doctor midwife"),
    ("emergency", "Emergency numbers"),
    ("about", "About the forum"),
    ("language", "Choose the language of answers"),
]
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]


def register_handlers(app: Application) -> None:
    """Register every handler of the bot, in order of precedence."""
    # 1. Known commands; CommandHandler ignores "/cmd@OtherBot" addressed to other bots.
    app.add_handler(CommandHandler([name for name, _ in COMMANDS if name != "language"],
                                   handlers.on_command, filters=filters.UpdateType.MESSAGE))
    # 2. The language preference is the channel's to store, not the core's.
    app.add_handler(CommandHandler("language", handlers.on_language,
                                   filters=filters.UpdateType.MESSAGE))
    # 3. Unknown commands, in private chats only: the core says it does not know them.
    app.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE &
                                   filters.UpdateType.MESSAGE, handlers.on_command))
    # 4. Buttons ("did you mean", follow-ups, languages) and inline mode.
    app.add_handler(CallbackQueryHandler(handlers.on_choice))
    app.add_handler(InlineQueryHandler(handlers.on_inline))
    # 5. Free text; edited messages are not answered twice.
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE,
                                   handlers.on_text))
    app.add_error_handler(handlers.on_error)


async def _post_init(app: Application) -> None:
    await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])


def file_url(base_url: str) -> str:
    """Return the Bot API file URL for a base URL ("…/bot" -> "…/file/bot")."""
    return base_url[:-3] + "file/bot" if base_url.endswith("/bot") else base_url


def build_application(settings: Settings, assistant: Assistant) -> Application:
    """Return a ready Application: token and base URL from settings, AIORateLimiter (which
    waits out 429 RetryAfter and retries), handlers registered, command menu on start.

    Raises:
        ConfigError: the token is missing or malformed.
    """
    token = settings.bot_token()
    app = (ApplicationBuilder().token(token)
           .base_url(settings.telegram_api_base_url)
           .base_file_url(file_url(settings.telegram_api_base_url))
           .rate_limiter(AIORateLimiter(max_retries=3))
           .post_init(_post_init)
           .build())
    app.bot_data[handlers.ASSISTANT] = assistant
    register_handlers(app)
    return app


def run_polling(settings: Settings, assistant: Assistant) -> None:
    """Long polling until SIGINT or SIGTERM, then a graceful shutdown."""
    app = build_application(settings, assistant)
    log.info("polling %s", urlparse(settings.telegram_api_base_url).netloc)
    app.run_polling(allowed_updates=ALLOWED_UPDATES, stop_signals=(signal.SIGINT, signal.SIGTERM))


def run_webhook(settings: Settings, assistant: Assistant) -> None:
    """PTB's webhook server on WEBHOOK_LISTEN:PORT at the path of WEBHOOK_URL; requests
    without the right X-Telegram-Bot-Api-Secret-Token header are refused with 403.

    Raises:
        ConfigError: WEBHOOK_URL or WEBHOOK_SECRET is missing.
    """
    if not settings.webhook_url:
        raise ConfigError("WEBHOOK_URL is not set: the public https URL Telegram posts to")
    if settings.webhook_secret is None:
        raise ConfigError("WEBHOOK_SECRET is not set: 1-256 characters of A-Z a-z 0-9 _ -")
    app = build_application(settings, assistant)
    path = urlparse(settings.webhook_url).path.lstrip("/")
    log.info("webhook server on %s:%s/%s", settings.webhook_listen, settings.port, path)
    app.run_webhook(listen=settings.webhook_listen, port=settings.port, url_path=path,
                    webhook_url=settings.webhook_url,
                    secret_token=settings.webhook_secret.get_secret_value(),
                    allowed_updates=ALLOWED_UPDATES,
                    stop_signals=(signal.SIGINT, signal.SIGTERM))
