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
import socket
from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ContextTypes

from bot.broadcast import admin as announcements
from bot.broadcast.delivery import Blocked, BroadcastWorker, RetryLater, TransientError
from bot.core import render
from bot.core.engine import split_command
from bot.i18n import _, language

from .admin import ADMINS
from .handlers import SUBSCRIPTIONS, answer_quietly, preferred_language, say

log = logging.getLogger(__name__)

ENGINE = "engine"                   # the SQLAlchemy engine
WORKER = "broadcast_worker"
PREVIEWS = "announcement_previews"  # short token -> text, until Send or Cancel
CHANNEL = "telegram"
TICK_SECONDS = 10                   # how often the worker looks for due announcements


class TelegramSender:
    """Sends one announcement message; maps Telegram's answers onto the worker's errors."""

    def __init__(self, bot):
        self.bot = bot

    async def send(self, chat_id: str, text: str) -> None:
        """Send plain ``text`` to ``chat_id``.

        Raises:
            Blocked: the user blocked the bot (403 Forbidden).
            RetryLater: Telegram asked to wait (429), with the seconds.
            TransientError: a network error or time-out worth retrying.
        """
        try:
            await self.bot.send_message(int(chat_id), text)
        except Forbidden as exc:
            raise Blocked(type(exc).__name__) from None
        except RetryAfter as exc:  # a timedelta (PTB_TIMEDELTA, see the package's __init__)
            raise RetryLater(_seconds(exc.retry_after)) from None
        except (TimedOut, NetworkError) as exc:
            raise TransientError(type(exc).__name__) from None


def _seconds(period) -> float:
    """Seconds of a PTB time period: a timedelta, or int seconds if PTB_TIMEDELTA was set
    to false by the operator."""
    return period.total_seconds() if hasattr(period, "total_seconds") else float(period)


def start_worker(app: Application, engine, rate: float, max_age_hours: float) -> None:
    """Create the broadcast worker and run it every TICK_SECONDS on the JobQueue (a pass
    still running when the next is due is not started twice: APScheduler's default)."""
    worker = BroadcastWorker(
        engine, TelegramSender(app.bot), worker_id=f"telegram@{socket.gethostname()}:"
        f"{os.getpid()}", rate_per_second=rate, max_age=timedelta(hours=max_age_hours),
        on_finished=lambda report: _report_to_admins(app, report))
    app.bot_data[WORKER] = worker
    if app.job_queue is not None:
        app.job_queue.run_repeating(_tick, interval=TICK_SECONDS, first=2, name="broadcast")


async def _tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    await run_pass(context.application)


async def run_pass(app: Application) -> None:
    """One pass of the worker; passes never overlap in one process (a lock), and a
    failed pass is logged and left to the next one (nothing is lost: rows stay pending)."""
    lock = app.bot_data.setdefault("broadcast_lock", asyncio.Lock())
    if lock.locked():
        return
    async with lock:
        try:
            await app.bot_data[WORKER].run_due()
        except Exception:  # noqa: BLE001
            log.exception("broadcast pass failed")


async def _report_to_admins(app: Application, report) -> None:
    text = (f"Announcement {report.id} {report.status}: {report.sent} sent, "
            f"{report.failed} failed, {report.blocked} blocked, {report.skipped} skipped.")
    for admin_id in app.bot_data.get(ADMINS, ()):
        try:
            await app.bot.send_message(admin_id, text)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not report an announcement to an admin: %s",
                        type(exc).__name__)


def _subscriptions(context: ContextTypes.DEFAULT_TYPE):
    return context.application.bot_data.get(SUBSCRIPTIONS)


def subscriber_chat(update: Update) -> int:
    """The chat announcements go to: this chat; for a button under an inline-mode result
    (no chat), the user's private chat, whose id is the user's id."""
    chat = update.effective_chat
    return chat.id if chat is not None else update.effective_user.id


async def on_subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/subscribe (or the button): one subscription per chat, however often asked."""
    store = _subscriptions(context)
    lang = preferred_language(context)
    with language(lang):
        if store is None:
            await say(update, context, _("Subscriptions are not available on this bot."))
            return
        new = await asyncio.to_thread(store.subscribe, CHANNEL, subscriber_chat(update),
                                      lang)
        await say(update, context, _("You are subscribed to the forum's announcements. Send "
                                      "/unsubscribe to stop.") if new else
                   _("You were already subscribed to the forum's announcements."))


async def on_unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unsubscribe: at once, also for a broadcast being sent."""
    store = _subscriptions(context)
    with language(preferred_language(context)):
        if store is None:
            await say(update, context, _("Subscriptions are not available on this bot."))
            return
        done = await asyncio.to_thread(store.unsubscribe, CHANNEL, subscriber_chat(update))
        await say(update, context, _("You are unsubscribed: no more announcements will be "
                                      "sent to you.") if done else
                   _("You were not subscribed."))


async def on_forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/forget: ask for confirmation before deleting everything stored about the user."""
    with language(preferred_language(context)):
        markup = InlineKeyboardMarkup([[
            InlineKeyboardButton(_("Yes, delete"), callback_data="forget:yes"),
            InlineKeyboardButton(_("No, keep"), callback_data="forget:no")]])
        await say(update, context, _("Delete everything stored about you: your "
                                      "subscription, your language choice and the record of "
                                      "announcements sent to you?"), markup)


BUTTONS = r"^(sub:on|forget:(yes|no)|ann:(send|drop|cancel):[0-9a-f]{8})$"


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """This module's buttons (callback data matching BUTTONS): subscribe, forget, and the
    admins' announcement Send / Cancel buttons. The work is done first; the callback query
    is answered afterwards, best effort (a late answer is refused by Telegram)."""
    data = update.callback_query.data or ""
    if data == "sub:on":
        await on_subscribe(update, context)
    elif data.startswith("forget:"):
        with language(preferred_language(context)):
            if data == "forget:no":
                await say(update, context, _("Nothing was deleted."))
                return
            store = _subscriptions(context)
            if store is not None:
                await asyncio.to_thread(store.forget, CHANNEL, subscriber_chat(update))
            if context.user_data is not None:
                context.user_data.clear()
            await say(update, context, _("Everything stored about you has been deleted."))
    else:
        await _on_announcement_button(update, context, data)


# -- admins ------------------------------------------------------------------------------
async def on_announce(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/announce TEXT (admins): a preview with Send and Cancel buttons."""
    message = update.effective_message
    text = split_command(message.text)[1] if message and message.text else ""
    if not text:
        await message.reply_text("Usage: /announce TEXT (you will see a preview first).")
        return
    if context.application.bot_data.get(ENGINE) is None:
        await message.reply_text("No database is configured: announcements are not available.")
        return
    token = secrets.token_hex(4)
    context.application.bot_data.setdefault(PREVIEWS, {})[token] = text
    store = _subscriptions(context)
    count = await asyncio.to_thread(store.count_active, CHANNEL) if store else 0
    markup = InlineKeyboardMarkup([[
        InlineKeyboardButton("Send", callback_data=f"ann:send:{token}"),
        InlineKeyboardButton("Cancel", callback_data=f"ann:drop:{token}")]])
    await message.reply_text(f"Preview (to {count} active subscriber(s)):\n\n{text}",
                             reply_markup=markup)


async def on_announcements(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/announcements (admins): scheduled and sent announcements with delivery counts."""
    engine = context.application.bot_data.get(ENGINE)
    if engine is None:
        await update.effective_message.reply_text("No database is configured.")
        return
    rows = await asyncio.to_thread(announcements.list_announcements, engine, limit=20)
    if not rows:
        await update.effective_message.reply_text("No announcements.")
        return
    lines, buttons = [], []
    for i, row in enumerate(rows, 1):
        counts = ", ".join(f"{n} {status}" for status, n in sorted(row.deliveries.items()))
        lines.append(f"{i}. {row.id} [{row.status}] {row.send_at:%Y-%m-%d %H:%M} UTC"
                     + (f" - {counts}" if counts else "") + f"\n   {render.shorten(row.text, 80)}")
        if row.status == "scheduled":
            token = secrets.token_hex(4)
            context.application.bot_data.setdefault(PREVIEWS, {})[token] = ("cancel", row.id)
            buttons.append([InlineKeyboardButton(f"Cancel {i}", callback_data=f"ann:cancel:{token}")])
    await update.effective_message.reply_text(
        "\n".join(lines)[:4000], reply_markup=InlineKeyboardMarkup(buttons) if buttons else None)


async def _on_announcement_button(update: Update, context: ContextTypes.DEFAULT_TYPE,
                                  data: str) -> None:
    query = update.callback_query
    user = update.effective_user
    if user is None or user.id not in context.application.bot_data.get(ADMINS, ()):
        await answer_quietly(query, render.expired())  # not an admin: no such button
        return
    _kind, action, token = (data.split(":", 2) + ["", ""])[:3]
    previews = context.application.bot_data.setdefault(PREVIEWS, {})
    pending = previews.pop(token, None)
    if pending is None:
        await answer_quietly(query, "That preview has expired.")
        return
    engine = context.application.bot_data[ENGINE]
    try:
        if action == "send" and isinstance(pending, str):
            announcement_id = await asyncio.to_thread(
                announcements.create_adhoc, engine, pending, f"admin {user.id}")
            text = (f"Announcement {announcement_id} queued: it is being sent now; you will "
                    "get the totals when it is finished.")
            if context.application.bot_data.get(WORKER) is not None:
                context.application.create_task(run_pass(context.application))
        elif action == "cancel" and isinstance(pending, tuple):
            done = await asyncio.to_thread(announcements.cancel, engine, pending[1])
            text = f"Announcement {pending[1]} " + (
                "cancelled." if done else "could not be cancelled (already sending?).")
        else:
            text = "Announcement not sent."
    except Exception:
        previews[token] = pending  # nothing was done: the button still works
        raise
    await say(update, context, text)
