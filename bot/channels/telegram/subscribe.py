"""Subscriptions and announcement broadcasts on Telegram.

Users: /subscribe and /unsubscribe (also a button under /start), /forget (after a
confirmation button, deletes everything stored about them). Admins: /announce TEXT (a
preview with Send and Cancel buttons) and /announcements (scheduled and sent ones with their
delivery counts; a scheduled one can be cancelled with a button). The channel-agnostic
worker (:mod:`bot.broadcast.delivery`) runs in the bot process on PTB's JobQueue; this
module gives it a Telegram sender and tells the admins when an announcement is finished.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
from datetime import timedelta
from typing import cast

import aiohttp
import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application

from bot.broadcast import (
    Blocked,
    BroadcastWorker,
    InDoubt,
    Migrated,
    PermanentError,
    RetryLater,
    TransientError,
    Unreachable,
)
from bot.broadcast import admin as announcements
from bot.core import render
from bot.core.engine import split_command
from bot.i18n import _, language
from bot.settings import Settings

from .aiohttp_request import AiohttpRequest
from .handlers import answer_quietly, say
from .state import CHANNEL, Context, key_of, service_of, state_of

log = logging.getLogger(__name__)

TICK_SECONDS = 10                   # how often the worker looks for due announcements
BROADCAST_READ_TIMEOUT = 10.0       # s; a later answer makes the message "in doubt"


# Telegram's descriptions of a chat the bot can never write to again (400 or 403).
_GONE = ("chat not found", "bot was kicked", "user is deactivated", "group chat was deleted",
         "bot is not a member", "have no rights to send", "not enough rights to send",
         "chat_write_forbidden", "peer_id_invalid", "bot can't initiate conversation",
         "bot can't send messages to bots")


class TelegramSender:
    """Sends one announcement message; maps Telegram's answers onto the worker's errors.

    Uses a plain :class:`telegram.Bot` of its own, not the application's: the
    application's AIORateLimiter would wait inside the send on a 429 (holding the
    delivery's lease) and would cap a paid broadcast at ~30 messages a second. Pacing is
    the worker's job (one token bucket for all instances).

    Args:
        bot: a ``telegram.Bot`` (initialized by the caller or by :meth:`start`).
        paid: send with ``allow_paid_broadcast`` (up to 1,000 messages a second, paid in
            Telegram Stars; BROADCAST_PAID).
    """

    channel = CHANNEL

    def __init__(self, bot, *, paid: bool = False) -> None:
        self.bot, self.paid = bot, paid

    @staticmethod
    def min_interval(chat_id: str) -> float:
        """Seconds between two broadcast messages to one chat: Telegram allows about one
        a second in a private chat and 20 a minute in a group (negative ids)."""
        return 3.0 if chat_id.startswith("-") else 1.0

    async def send(self, chat_id: str, text: str) -> None:
        """Send plain ``text`` to ``chat_id``.

        Raises:
            Blocked: the user blocked the bot (403 "bot was blocked by the user").
            Unreachable: the chat is gone for good (400/403 "chat not found", "bot was
                kicked", "user is deactivated", ...), with Telegram's description.
            Migrated: the group became a supergroup (``migrate_to_chat_id``).
            RetryLater: Telegram asked to wait (429), with the seconds.
            PermanentError: any other Bad Request, with Telegram's description.
            InDoubt: the request left but the answer timed out (Telegram may have it).
            TransientError: the request never reached Telegram, or a server error.
        """
        params: dict[str, object] = {"chat_id": int(chat_id), "text": text}
        if self.paid:
            params["allow_paid_broadcast"] = True
        try:
            # sendMessage without turning Telegram's answer into a Message object (a
            # quarter of the CPU of a send, for a result nobody reads); PTB raises the same
            # errors as for send_message. Spelt in lower case (Bot API method names are
            # case-insensitive): for a name Bot has a method of, PTB warns to use that.
            await self.bot.do_api_request("sendmessage", api_kwargs=params)
        except RetryAfter as exc:  # a timedelta (PTB_TIMEDELTA, see the package's __init__)
            raise RetryLater(_seconds(exc.retry_after)) from None
        except ChatMigrated as exc:
            raise Migrated(exc.new_chat_id) from None
        except Forbidden as exc:
            if "blocked by the user" in exc.message.lower():
                raise Blocked(exc.message) from None
            raise Unreachable(exc.message) from None
        except BadRequest as exc:   # a NetworkError subclass in PTB: before NetworkError
            if any(words in exc.message.lower() for words in _GONE):
                raise Unreachable(exc.message) from None
            raise PermanentError(exc.message) from None
        except TimedOut as exc:
            # connect/pool time-outs: nothing left; read/write time-outs: it may have
            if isinstance(exc.__cause__, (httpx.ConnectTimeout, httpx.PoolTimeout,
                                          aiohttp.ConnectionTimeoutError)):
                raise TransientError(type(exc).__name__) from None
            raise InDoubt(type(exc).__name__) from None
        except NetworkError as exc:
            raise TransientError(type(exc).__name__) from None


def _seconds(period) -> float:
    """Seconds of a PTB time period: a timedelta, or int seconds if PTB_TIMEDELTA was set
    to false by the operator."""
    return period.total_seconds() if hasattr(period, "total_seconds") else float(period)


def broadcast_request(concurrency: int) -> AiohttpRequest:
    """The networking backend of the broadcast Bot: aiohttp (a sixth of the CPU per message
    of PTB's default httpx backend, see :mod:`.aiohttp_request`) with a connection for each
    of ``concurrency`` messages in flight (>= 1) and a couple more."""
    return AiohttpRequest(connection_pool_size=max(4, concurrency + 2),
                          read_timeout=BROADCAST_READ_TIMEOUT, connect_timeout=5,
                          pool_timeout=5)


def broadcast_bot(settings: Settings, concurrency: int) -> Bot:
    """A plain Bot for broadcasts (no rate limiter; see :class:`TelegramSender`) with a
    connection pool for ``concurrency`` messages at once. Call ``initialize()`` on it."""
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    return Bot(token, base_url=settings.telegram_api_base_url,
               request=broadcast_request(concurrency))


def start_worker(app: Application, engine, settings: Settings) -> None:
    """Create the broadcast worker and run it every TICK_SECONDS on the JobQueue (a pass
    still running when the next is due is not started twice: APScheduler's default).
    The worker gets its own plain Bot; it is initialized in the first pass and shut down
    with the application (:func:`stop_worker`)."""
    rate = settings.broadcast_rate
    concurrency = 1 if rate < 50 else int(rate / 25)
    sender = TelegramSender(broadcast_bot(settings, concurrency), paid=settings.broadcast_paid)
    worker = BroadcastWorker(
        engine, sender, worker_id=f"telegram@{socket.gethostname()}:{os.getpid()}",
        rate_per_second=rate, concurrency=concurrency,
        max_age=timedelta(hours=settings.broadcast_max_age_hours),
        on_finished=lambda report: _report_to_admins(app, report))
    state_of(app).worker = worker
    if app.job_queue is not None:
        app.job_queue.run_repeating(_tick, interval=TICK_SECONDS, first=2, name="broadcast")


def stop_claiming(app: Application) -> None:
    """Tell the broadcast worker to stop at once (SIGTERM, before the application and its
    job queue stop: the job queue would otherwise wait for a long pass to end)."""
    worker = state_of(app).worker
    if worker is not None:
        worker.stop()


def install_stop_signals(app: Application) -> None:
    """Make SIGTERM and SIGINT stop the broadcast worker at once, then the application
    (PTB's own handler raises SystemExit only; the job queue would otherwise wait for a
    long broadcast pass to end). Called from ``post_init``, inside the running loop."""
    worker = state_of(app).worker
    if worker is None:
        return
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        worker.stop()
        raise SystemExit

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            return


async def on_migrate(update: Update, context: Context) -> None:
    """A group became a supergroup (``migrate_to_chat_id``): its subscription moves to
    the new chat id, so announcements keep reaching it."""
    message = update.effective_message
    storage = service_of(context.application).storage
    if message is None or storage is None or not message.migrate_to_chat_id:
        return
    await asyncio.to_thread(storage.subscriptions.move, CHANNEL, message.chat_id,
                            message.migrate_to_chat_id)


async def stop_worker(app: Application) -> None:
    """On SIGTERM or shutdown: the running pass stops claiming, finishes the messages in
    flight and hands the rest back (well within a platform's 30 s grace), then the
    worker's Bot is closed."""
    state = state_of(app)
    worker = state.worker
    if worker is None:
        return
    worker.stop()
    if state.broadcast_lock.locked():
        async with state.broadcast_lock:
            pass
    try:
        # start_worker gives the Telegram worker a TelegramSender
        await cast(TelegramSender, worker.sender).bot.shutdown()
    except Exception:  # noqa: BLE001 - shutting down anyway
        log.debug("broadcast bot shutdown failed", exc_info=True)


async def _tick(context: Context) -> None:
    await run_pass(context.application)


async def run_pass(app: Application) -> None:
    """One pass of the worker; passes never overlap in one process (a lock), and a
    failed pass is logged and left to the next one (nothing is lost: rows stay pending)."""
    state = state_of(app)
    if state.broadcast_lock.locked() or state.worker is None:
        return
    async with state.broadcast_lock:
        try:
            worker = state.worker
            if worker.stopping:
                return
            # once; later calls return at once (start_worker gives it a TelegramSender)
            await cast(TelegramSender, worker.sender).bot.initialize()
            await worker.run_due()
        except Exception:  # noqa: BLE001
            log.exception("broadcast pass failed")


async def _report_to_admins(app: Application, report) -> None:
    text = (f"Announcement {report.id} {report.status}: {report.sent} sent, "
            f"{report.failed} failed, {report.blocked} blocked, {report.skipped} skipped, "
            f"{report.in_doubt} in doubt, {report.unreachable} unreachable.")
    for admin_id in state_of(app).admins:
        try:
            await app.bot.send_message(admin_id, text)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not report an announcement to an admin: %s",
                        type(exc).__name__)


def subscriber_chat(update: Update) -> int | None:
    """The chat announcements go to: this chat; for a button under an inline-mode result
    (no chat), the user's private chat, whose id is the user's id."""
    chat, user = update.effective_chat, update.effective_user
    return chat.id if chat is not None else user.id if user is not None else None


async def _subscription(update: Update, context: Context, action: str) -> None:
    """Run the service's subscribe/unsubscribe/forget for the update's chat and
    conversation, and say its confirmation."""
    chat, key = subscriber_chat(update), key_of(update)
    if chat is None or key is None:
        return
    service = service_of(context.application)
    if action == "forget":
        user = update.effective_user
        text = await asyncio.to_thread(service.forget, CHANNEL, str(chat), key,
                                       str(user.id) if user else None)
    else:
        method = service.subscribe if action == "subscribe" else service.unsubscribe
        text = await asyncio.to_thread(method, CHANNEL, str(chat), key)
    await say(update, context, text)


async def on_subscribe(update: Update, context: Context) -> None:
    """/subscribe (or the button): one subscription per chat, however often asked."""
    await _subscription(update, context, "subscribe")


async def on_unsubscribe(update: Update, context: Context) -> None:
    """/unsubscribe: at once, also for a broadcast being sent."""
    await _subscription(update, context, "unsubscribe")


async def _language(update: Update, context: Context) -> str | None:
    key = key_of(update)
    if key is None:
        return None
    return await asyncio.to_thread(service_of(context.application).language_of, CHANNEL, key)


async def on_forget(update: Update, context: Context) -> None:
    """/forget: ask for confirmation before deleting everything stored about the user."""
    with language(await _language(update, context)):
        markup = InlineKeyboardMarkup([[
            InlineKeyboardButton(_("Yes, delete"), callback_data="forget:yes"),
            InlineKeyboardButton(_("No, keep"), callback_data="forget:no")]])
        await say(update, context, _("Delete everything stored about you: your "
                                      "subscription, your language choice and the record of "
                                      "announcements sent to you?"), markup)


BUTTONS = r"^(sub:on|forget:(yes|no)|ann:(send|drop|cancel):[0-9a-f]{8})$"


async def on_button(update: Update, context: Context) -> None:
    """This module's buttons (callback data matching BUTTONS): subscribe, forget, and the
    admins' announcement Send / Cancel buttons. The work is done first; the callback query
    is answered afterwards, best effort (a late answer is refused by Telegram)."""
    query = update.callback_query
    if query is None:
        return
    data = query.data or ""
    if data == "sub:on":
        await on_subscribe(update, context)
    elif data.startswith("forget:"):
        if data == "forget:no":
            with language(await _language(update, context)):
                await say(update, context, _("Nothing was deleted."))
            return
        await _subscription(update, context, "forget")
    else:
        await _on_announcement_button(update, context, data)


# -- admins ------------------------------------------------------------------------------
async def on_announce(update: Update, context: Context) -> None:
    """/announce TEXT (admins): a preview with Send and Cancel buttons."""
    message = update.effective_message
    assert message is not None  # a command comes in a message (filters.UpdateType.MESSAGE)
    text = split_command(message.text)[1] if message and message.text else ""
    if not text:
        await message.reply_text("Usage: /announce TEXT (you will see a preview first).")
        return
    storage = service_of(context.application).storage
    if storage is None:
        await message.reply_text("No database is configured: announcements are not available.")
        return
    token = secrets.token_hex(4)
    state_of(context.application).previews[token] = text
    count = await asyncio.to_thread(storage.subscriptions.count_active, CHANNEL)
    markup = InlineKeyboardMarkup([[
        InlineKeyboardButton("Send", callback_data=f"ann:send:{token}"),
        InlineKeyboardButton("Cancel", callback_data=f"ann:drop:{token}")]])
    await message.reply_text(f"Preview (to {count} active subscriber(s)):\n\n{text}",
                             reply_markup=markup)


async def on_announcements(update: Update, context: Context) -> None:
    """/announcements (admins): scheduled and sent announcements with delivery counts."""
    message = update.effective_message
    assert message is not None  # a command comes in a message (filters.UpdateType.MESSAGE)
    storage = service_of(context.application).storage
    if storage is None:
        await message.reply_text("No database is configured.")
        return
    rows = await asyncio.to_thread(announcements.list_announcements, storage.engine, limit=20)
    if not rows:
        await message.reply_text("No announcements.")
        return
    lines, buttons = [], []
    for i, row in enumerate(rows, 1):
        counts = ", ".join(f"{n} {status}" for status, n in sorted(row.deliveries.items()))
        lines.append(f"{i}. {row.id} [{row.status}] {row.send_at:%Y-%m-%d %H:%M} UTC"
                     + (f" - {counts}" if counts else "") + f"\n   {render.shorten(row.text, 80)}")
        if row.status == "scheduled":
            token = secrets.token_hex(4)
            state_of(context.application).previews[token] = ("cancel", row.id)
            buttons.append([InlineKeyboardButton(f"Cancel {i}", callback_data=f"ann:cancel:{token}")])
    await message.reply_text(
        "\n".join(lines)[:4000], reply_markup=InlineKeyboardMarkup(buttons) if buttons else None)


async def _on_announcement_button(update: Update, context: Context,
                                  data: str) -> None:
    query = update.callback_query
    user = update.effective_user
    state = state_of(context.application)
    storage = service_of(context.application).storage
    if user is None or user.id not in state.admins or storage is None:
        await answer_quietly(query, render.expired())  # not an admin: no such button
        return
    _kind, action, token = (data.split(":", 2) + ["", ""])[:3]
    pending = state.previews.pop(token, None)
    if pending is None:
        await answer_quietly(query, "That preview has expired.")
        return
    engine = storage.engine
    try:
        if action == "send" and isinstance(pending, str):
            announcement_id = await asyncio.to_thread(
                announcements.create_adhoc, engine, pending, f"admin {user.id}")
            text = (f"Announcement {announcement_id} queued: it is being sent now; you will "
                    "get the totals when it is finished.")
            if state.worker is not None:
                context.application.create_task(run_pass(context.application))
        elif action == "cancel" and isinstance(pending, tuple):
            done = await asyncio.to_thread(announcements.cancel, engine, pending[1])
            text = f"Announcement {pending[1]} " + (
                "cancelled." if done else "could not be cancelled (already sending?).")
        else:
            text = "Announcement not sent."
    except Exception:
        state.previews[token] = pending  # nothing was done: the button still works
        raise
    await say(update, context, text)
