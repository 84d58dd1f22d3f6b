"""Build and run the Telegram Application. Every handler is registered in
:func:`register_handlers`, in commented groups where order matters."""
from __future__ import annotations

import asyncio
import logging
import re
import signal
from urllib.parse import urlparse

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.core.engine import Assistant
from bot.i18n import SUPPORTED, _, language
from bot.reload import KnowledgeHolder
from bot.service import AssistantService, open_service
from bot.settings import ConfigError, Settings

from . import admin, handlers, subscribe
from .state import CONTEXT_TYPES, BotState, Context, service_of, state_of
from .webhook import run_webhook_server

log = logging.getLogger(__name__)



def N_(text: str) -> str:
    """Mark a description for the catalogs; it is translated when the menu is set."""
    return text


# The command menu, built from the same list the handlers are registered with; Telegram
# shows each user the menu of their app's language (set_my_commands language_code).
COMMANDS: list[tuple[str, str]] = [
    ("start", N_("Welcome and example questions")),
    ("help", N_("What I can do")),
    ("sessions", N_("The programme of expert talks")),
    ("speakers", N_("Who spoke at the forum")),
    ("doctor", N_("Find a doctor: /doctor midwife")),
    ("emergency", N_("Emergency numbers")),
    ("about", N_("About the forum")),
    ("language", N_("Choose the language of answers")),
    ("subscribe", N_("Receive the forum's announcements")),
    ("unsubscribe", N_("Stop the announcements")),
    ("forget", N_("Delete everything stored about you")),
]
# Commands the channel handles itself (subscriptions need the chat, /forget a button).
CHANNEL_COMMANDS = {"subscribe", "unsubscribe", "forget"}
WEBHOOK_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what setWebhook accepts
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]
# What a person sends instead of text.
MEDIA = (filters.CAPTION | filters.PHOTO | filters.VIDEO | filters.VOICE | filters.AUDIO |
         filters.VIDEO_NOTE | filters.ANIMATION | filters.Sticker.ALL | filters.Document.ALL |
         filters.LOCATION | filters.VENUE | filters.CONTACT | filters.POLL | filters.Dice.ALL |
         filters.STORY)


def register_handlers(app: Application) -> None:
    """Register every handler of the bot, in order of precedence."""
    # 1. Known commands; CommandHandler ignores "/cmd@OtherBot" addressed to other bots.
    core = [name for name, _ in COMMANDS if name not in CHANNEL_COMMANDS]
    app.add_handler(CommandHandler(core, handlers.on_command,
                                   filters=filters.UpdateType.MESSAGE))
    # 2. Admin commands (for anyone else they do not exist: the core's unknown command).
    for name, handler in (("reload", admin.on_reload), ("version", admin.on_version),
                          ("unanswered", admin.on_unanswered), ("stats", admin.on_stats)):
        app.add_handler(CommandHandler(name, admin.admin_only(handler),
                                       filters=filters.UpdateType.MESSAGE))
    for name, handler in (("announce", subscribe.on_announce),
                          ("announcements", subscribe.on_announcements)):
        app.add_handler(CommandHandler(name, admin.admin_only(handler),
                                       filters=filters.UpdateType.MESSAGE))
    # Subscriptions: the channel keeps them (chat ids), not the core.
    for name, handler in (("subscribe", subscribe.on_subscribe),
                          ("unsubscribe", subscribe.on_unsubscribe),
                          ("forget", subscribe.on_forget)):
        app.add_handler(CommandHandler(name, handler, filters=filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(subscribe.on_button, pattern=subscribe.BUTTONS))
    # A group upgraded to a supergroup: its subscription follows the new chat id.
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, subscribe.on_migrate))
    # 3. Unknown commands, in private chats only: the core says it does not know them.
    app.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE &
                                   filters.UpdateType.MESSAGE, handlers.on_command))
    # 4. Buttons ("did you mean", follow-ups, languages) and inline mode.
    app.add_handler(CallbackQueryHandler(handlers.on_choice))
    app.add_handler(InlineQueryHandler(handlers.on_inline))
    # 5. Free text; edited messages are not answered twice.
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE,
                                   handlers.on_text))
    # 6. Media: a caption is read like a text; photos, voice notes, stickers ... without one
    # get a short "I read text messages" (service messages, such as a member joining, none).
    app.add_handler(MessageHandler(MEDIA & filters.UpdateType.MESSAGE, handlers.on_media))
    app.add_error_handler(handlers.on_error)


async def _post_init(app: Application) -> None:
    await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
    for lang in SUPPORTED[1:]:
        with language(lang):
            await app.bot.set_my_commands([BotCommand(name, _(text)) for name, text in COMMANDS],
                                          language_code=lang)
    # admins see the admin commands too, in their private chat with the bot
    for admin_id in state_of(app).admins:
        try:
            await app.bot.set_my_commands(
                [BotCommand(n, t) for n, t in [*COMMANDS, *admin.ADMIN_COMMANDS]],
                scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # the admin has not opened a chat with the bot yet
            log.warning("no admin command menu for one admin: %s", type(exc).__name__)
    admin.start_reloaders(app, state_of(app).watch)
    subscribe.install_stop_signals(app)


async def _post_stop(app: Application) -> None:
    await subscribe.stop_worker(app)


async def _post_shutdown(app: Application) -> None:
    await admin.stop_reloaders(app)


async def _purge(context: Context) -> None:
    removed = await asyncio.to_thread(service_of(context.application).purge)
    log.info("purged %d question row(s) past their retention", removed)


def start_storage_jobs(app: Application, settings: Settings) -> None:
    """With a database: the daily purge of the question log, the announcements of
    announcements.yaml synchronised, and the broadcast worker on the JobQueue."""
    service = service_of(app)
    storage = service.storage
    if storage is None:
        return
    if app.job_queue is not None:
        app.job_queue.run_repeating(_purge, interval=24 * 3600, first=60)
    from bot.broadcast.announcements import load_announcements, sync_announcements
    if service.holder.directory is not None:
        loaded = load_announcements(service.holder.directory / "announcements.yaml",
                                    default_zone=settings.default_timezone)
        if loaded.ok:
            sync_announcements(storage.engine, loaded.entries)
        for problem in loaded.problems:
            log.warning("announcements: %s", problem)
    subscribe.start_worker(app, storage.engine, settings)


def file_url(base_url: str) -> str:
    """Return the Bot API file URL for a base URL ("…/bot" -> "…/file/bot")."""
    return base_url[:-3] + "file/bot" if base_url.endswith("/bot") else base_url


Knowledge = Assistant | KnowledgeHolder | AssistantService


def build_application(settings: Settings, knowledge: Knowledge) -> Application:
    """Return a ready Application: token and base URL from settings, AIORateLimiter (which
    waits out 429 RetryAfter and retries), the assistant service (given, or opened here on
    DATABASE_URL: question and version logs, conversations, subscriptions), handlers
    registered; on start: command menus, knowledge watcher, SIGHUP.

    Raises:
        ConfigError: the token is missing or malformed, or DATABASE_URL is.
    """
    token = settings.bot_token()
    app = (ApplicationBuilder().token(token)
           .base_url(settings.telegram_api_base_url)
           .base_file_url(file_url(settings.telegram_api_base_url))
           .rate_limiter(AIORateLimiter(max_retries=3))
           .context_types(CONTEXT_TYPES)
           .post_init(_post_init)
           .post_stop(_post_stop)
           .post_shutdown(_post_shutdown)
           .build())
    attach(app, knowledge if isinstance(knowledge, AssistantService)
           else open_service(settings, knowledge), settings)
    start_storage_jobs(app, settings)
    register_handlers(app)
    return app


def attach(app: Application, service: AssistantService,
           settings: Settings | None = None) -> BotState:
    """Put ``service`` (and the admins and watch settings) into the application's state."""
    state = state_of(app)
    state.service = service
    if settings is not None:
        state.admins = frozenset(settings.admin_user_ids)
        state.watch = settings.watch_knowledge
    return state


def run_polling(settings: Settings, assistant: Knowledge) -> None:
    """Long polling until SIGINT or SIGTERM, then a graceful shutdown."""
    app = build_application(settings, assistant)
    log.info("polling %s", urlparse(settings.telegram_api_base_url).netloc)
    app.run_polling(allowed_updates=ALLOWED_UPDATES, stop_signals=(signal.SIGINT, signal.SIGTERM))


def run_webhook(settings: Settings, assistant: Knowledge) -> None:
    """The webhook server of :mod:`bot.channels.telegram.webhook` on WEBHOOK_LISTEN:PORT at
    the path of WEBHOOK_URL: requests without the right X-Telegram-Bot-Api-Secret-Token
    header are refused with 403 before their body is read, bodies over 1 MiB with 413.

    Raises:
        ConfigError: WEBHOOK_URL or WEBHOOK_SECRET is missing or malformed, or the address
            cannot be bound.
    """
    if not settings.webhook_url:
        raise ConfigError("WEBHOOK_URL is not set: the public https URL Telegram posts to")
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not secret:
        raise ConfigError("WEBHOOK_SECRET is not set: 1-256 characters of A-Z a-z 0-9 _ -")
    if not WEBHOOK_SECRET_SHAPE.match(secret):
        raise ConfigError("WEBHOOK_SECRET is malformed: 1-256 characters of A-Z a-z 0-9 _ -")
    app = build_application(settings, assistant)
    path = urlparse(settings.webhook_url).path.lstrip("/")
    log.info("webhook server on %s:%s/%s", settings.webhook_listen, settings.port, path)
    run_webhook_server(app, listen=settings.webhook_listen, port=settings.port, path=path,
                       webhook_url=settings.webhook_url, secret=secret,
                       allowed_updates=ALLOWED_UPDATES)
