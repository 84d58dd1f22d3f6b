"""Admin commands and knowledge reloading on Telegram.

Admins are recognised by numeric user id (ADMIN_USER_IDS), never by username. To anyone
else an admin command does not exist: the core answers it like any unknown command.
Reloads come from three places, all ending in :meth:`AssistantService.reload`: the
``/reload`` command, a change in the knowledge folder and SIGHUP (the service's
:class:`~bot.service.Reloaders`); a rejected version is reported to every admin.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.reload import ReloadResult
from bot.service import Reloaders, reload_in_thread

from .handlers import on_command, where
from .state import Context, service_of, state_of

log = logging.getLogger(__name__)

ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("reload", "Reload the knowledge files now (/reload force: even if test answers change)"),
    ("version", "Which knowledge version is serving"),
    ("unanswered", "Most frequent questions the bot could not answer"),
    ("stats", "Answers per intent and language: /stats [days]"),
    ("announce", "Send an announcement to subscribers: /announce TEXT"),
    ("announcements", "Scheduled and sent announcements"),
]
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]  # an async def handler


def is_admin(update: Update, context: Context) -> bool:
    """True when the sender's numeric id is in ADMIN_USER_IDS."""
    user = update.effective_user
    return user is not None and user.id in state_of(context.application).admins


def admin_only(handler: Handler) -> Handler:
    """Wrap an admin handler: for anyone else the command does not exist."""
    async def wrapped(update: Update, context: Context) -> None:
        if not is_admin(update, context):
            await on_command(update, context)  # "I do not know the command /reload"
            return
        await handler(update, context)
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _reporter(app: Application, reply_to: int | None = None,
              thread: int | None = None) -> Callable[[ReloadResult, str], Awaitable[None]]:
    """Tell the admin who asked (``reply_to`` chat, in its forum topic ``thread``), and
    every admin when a version is rejected or loaded although test questions (tests.yaml)
    now get other answers."""
    async def report(result: ReloadResult, text: str) -> None:
        chats = set(state_of(app).admins) if not result.ok or result.tests else set()
        if reply_to is not None:
            chats.add(reply_to)
        for chat in chats:
            try:
                await app.bot.send_message(chat, text[:4000],
                                           message_thread_id=thread if chat == reply_to else None)
            except Exception as exc:  # noqa: BLE001 - an admin who blocked the bot
                log.warning("could not tell admin chat about the reload: %s",
                            type(exc).__name__)
    return report


async def reload_and_report(app: Application, trigger: str, *,
                            reply_to: int | None = None, thread: int | None = None,
                            force: bool = False) -> ReloadResult:
    """Reload in a worker thread (the bot keeps answering meanwhile) and report it;
    ``force`` loads a valid version even when test questions get other answers."""
    return await reload_in_thread(service_of(app), trigger, _reporter(app, reply_to, thread),
                                  force=force)


async def on_reload(update: Update, context: Context) -> None:
    """/reload: validate and swap in the knowledge folder now; ``/reload force`` loads a
    valid version even when test questions get other answers (a deliberate change). The
    reload runs in the background and reports when done: updates are handled one at a
    time, so waiting for it here would keep every user waiting too."""
    user = update.effective_user
    chat_id, thread = where(update)
    force = [a.lower() for a in context.args or []] == ["force"]
    context.application.create_task(
        reload_and_report(context.application,
                          f"/reload {'force ' if force else ''}by admin "
                          f"{user.id if user else '?'}",
                          reply_to=chat_id, thread=thread, force=force),
        update=update, name="reload")


async def _say(update: Update, report: Callable[[], str]) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text((await asyncio.to_thread(report))[:4000])


async def on_version(update: Update, context: Context) -> None:
    """/version: the knowledge version serving, its git commit, when and why it loaded."""
    await _say(update, service_of(context.application).version_report)


async def on_unanswered(update: Update, context: Context) -> None:
    """/unanswered [n]: the most frequent questions that got the fallback, with the closest
    entry, so an alias can be added."""
    service = service_of(context.application)
    limit = _number(context.args, 10, 50)
    await _say(update, lambda: service.unanswered_report(limit))


async def on_stats(update: Update, context: Context) -> None:
    """/stats [days]: answers per intent and per language over the last days (default 7)."""
    service = service_of(context.application)
    days = _number(context.args, 7, 366)
    await _say(update, lambda: service.stats_report(days))


def _number(args: list[str] | None, default: int, maximum: int) -> int:
    if args and args[0].isdigit():
        return max(1, min(int(args[0]), maximum))
    return default


def start_reloaders(app: Application, watch: bool) -> None:
    """Start the folder watcher (when ``watch``) and the SIGHUP handler (where the platform
    has it). Called from post_init, on the application's event loop."""
    state = state_of(app)
    state.reloaders = Reloaders(service_of(app), _reporter(app))
    state.reloaders.start(watch)


async def stop_reloaders(app: Application) -> None:
    """Stop the folder watcher (post_shutdown)."""
    state = state_of(app)
    if state.reloaders is not None:
        await state.reloaders.stop()
        state.reloaders = None


__all__ = ["ADMIN_COMMANDS", "admin_only", "on_reload", "on_version", "on_unanswered",
           "on_stats", "reload_and_report", "start_reloaders", "stop_reloaders"]
