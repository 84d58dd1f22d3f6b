"""Admin commands and knowledge reloading on Telegram.

Admins are recognised by numeric user id (ADMIN_USER_IDS), never by username. To anyone
else an admin command does not exist: the core answers it like any unknown command.
Reloads come from three places, all ending in :func:`reload_and_report`: the ``/reload``
command, a change in the knowledge folder (watchfiles), and SIGHUP.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import signal
from datetime import UTC, datetime, timedelta

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.admin import testrun
from bot.admin.testrun import Outcome
from bot.reload import KnowledgeHolder, ReloadResult
from bot.watch import watch_path

from .handlers import HOLDER, QUESTIONS, on_command, where

log = logging.getLogger(__name__)

ADMINS = "admin_ids"
VERSIONS = "version_log"
WATCHER = "knowledge_watcher"
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("reload", "Reload the knowledge files now (/reload force: even if test answers change)"),
    ("version", "Which knowledge version is serving"),
    ("unanswered", "Most frequent questions the bot could not answer"),
    ("stats", "Answers per intent and language: /stats [days]"),
    ("announce", "Send an announcement to subscribers: /announce TEXT"),
    ("announcements", "Scheduled and sent announcements"),
]
MAX_PROBLEMS_SHOWN = 15


def is_admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """True when the sender's numeric id is in ADMIN_USER_IDS."""
    user = update.effective_user
    return user is not None and user.id in context.application.bot_data.get(ADMINS, frozenset())


def admin_only(handler):
    """Wrap an admin handler: for anyone else the command does not exist."""
    async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not is_admin(update, context):
            await on_command(update, context)  # "I do not know the command /reload"
            return
        await handler(update, context)
    wrapped.__doc__ = handler.__doc__
    return wrapped


def describe(result: ReloadResult) -> str:
    """Return the admin's report of a reload: what serves now, and every problem found."""
    v = result.serving
    serving = f"version {v.version}" + (f" (git {v.git_commit})" if v.git_commit else "")
    if result.ok:
        head = (f"Knowledge reloaded: now serving {serving}." if result.changed else
                f"Knowledge unchanged: serving {serving}.")
    elif result.tests:
        head = (f"Knowledge update REJECTED: {len(result.tests)} test question(s) of tests.yaml "
                f"would get another answer. Still answering from the last good {serving}. If "
                "the change is deliberate, update tests.yaml or send /reload force.")
    else:
        errors = [p for p in result.problems if p.severity == "error"]
        head = (f"Knowledge update REJECTED: {len(errors)} error(s). Still answering from the "
                f"last good {serving}.")
    if result.tests:
        return "\n".join([head, *changed_answers(result.tests)])
    lines = [head] + [str(p) for p in result.problems[:MAX_PROBLEMS_SHOWN]]
    if len(result.problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"... and {len(result.problems) - MAX_PROBLEMS_SHOWN} more "
                     "(run forumbot check for the full list)")
    return "\n".join(lines)


def changed_answers(failing: list[Outcome]) -> list[str]:
    """The test questions a new version answers differently: question, expected, the
    answer of the version serving before and of the new one (at most MAX_PROBLEMS_SHOWN)."""
    lines = []
    for o in failing[:MAX_PROBLEMS_SHOWN]:
        lines.append(f"- {o.question.q!r} expects {o.expected()}")
        if o.before is not None:
            lines.append(f"  before: {testrun.describe(o.before)}")
        lines.append(f"  new:    {testrun.describe(o.reply)}")
    if len(failing) > MAX_PROBLEMS_SHOWN:
        lines.append(f"... and {len(failing) - MAX_PROBLEMS_SHOWN} more (run forumbot test)")
    return lines


async def reload_and_report(app: Application, trigger: str, *, reply_to: int | None = None,
                            thread: int | None = None, force: bool = False) -> ReloadResult:
    """Reload in a worker thread (the bot keeps answering meanwhile); tell the admin who
    asked (``reply_to`` chat, in its forum topic ``thread``), and every admin when a
    version is rejected or loaded although test questions now get other answers
    (``force``: ``/reload force``)."""
    holder: KnowledgeHolder = app.bot_data[HOLDER]
    result = await asyncio.to_thread(functools.partial(holder.reload, trigger, force=force))
    text = describe(result)
    chats = set(app.bot_data.get(ADMINS, ())) if not result.ok or result.tests else set()
    if reply_to is not None:
        chats.add(reply_to)
    for chat in chats:
        try:
            await app.bot.send_message(chat, text[:4000],
                                       message_thread_id=thread if chat == reply_to else None)
        except Exception as exc:  # noqa: BLE001 - an admin who blocked the bot
            log.warning("could not tell admin chat about the reload: %s", type(exc).__name__)
    return result


async def on_reload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reload: validate and swap in the knowledge folder now; ``/reload force`` loads a
    valid version even when test questions get other answers (a deliberate change)."""
    user = update.effective_user
    force = [a.lower() for a in context.args or []] == ["force"]
    chat_id, thread = where(update)
    await reload_and_report(context.application,
                            f"/reload {'force ' if force else ''}by admin {user.id}",
                            reply_to=chat_id, thread=thread, force=force)


async def on_version(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/version: the knowledge version serving, its git commit, when and why it loaded."""
    v = context.application.bot_data[HOLDER].version
    text = (f"Knowledge version {v.version}" + (f", git {v.git_commit}" if v.git_commit else "")
            + f", loaded {v.loaded_at:%Y-%m-%d %H:%M} UTC ({v.trigger}).")
    await update.effective_message.reply_text(text)


async def on_unanswered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unanswered [n]: the most frequent questions that got the fallback, with the closest
    entry, so an alias can be added."""
    log_ = context.application.bot_data.get(QUESTIONS)
    if log_ is None:
        await update.effective_message.reply_text("No database is configured.")
        return
    limit = _number(context.args, 10, 50)
    rows = await asyncio.to_thread(log_.unanswered, limit=limit)
    await update.effective_message.reply_text(unanswered_text(rows)[:4000])


def unanswered_text(rows) -> str:
    """Return the to-do list of unanswered questions ("3x  <question>  -> closest: key")."""
    if not rows:
        return "No unanswered questions recorded."
    lines = [f"Most frequent unanswered questions ({len(rows)}):"]
    lines += [f"{r.count}x  {r.question}" + (f"  -> closest: {r.closest}" if r.closest else "")
              for r in rows]
    return "\n".join(lines)


async def on_stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats [days]: answers per intent and per language over the last days (default 7)."""
    log_ = context.application.bot_data.get(QUESTIONS)
    if log_ is None:
        await update.effective_message.reply_text("No database is configured.")
        return
    days = _number(context.args, 7, 366)
    until = datetime.now(UTC).date()
    stats = await asyncio.to_thread(log_.stats, until - timedelta(days=days - 1), until)
    await update.effective_message.reply_text(stats_text(stats, days))


def stats_text(stats, days: int) -> str:
    """Return the /stats report: the total, then counts per intent and per language."""
    def block(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return (f"Last {days} day(s): {stats.total} answer(s).\n"
            f"By intent: {block(stats.by_intent) or '-'}\n"
            f"By language: {block(stats.by_language) or '-'}")


def _number(args, default: int, maximum: int) -> int:
    if args and args[0].isdigit():
        return max(1, min(int(args[0]), maximum))
    return default


async def watch_knowledge(app: Application) -> None:
    """Reload whenever the knowledge folder changes (debounced) or a deploy replaces it
    (the path is followed, not the inode), until cancelled."""
    holder: KnowledgeHolder = app.bot_data[HOLDER]
    if holder.directory is None:
        return
    async for reason in watch_path(holder.directory):
        await reload_and_report(app, reason)


def start_reloaders(app: Application, watch: bool) -> None:
    """Start the folder watcher (when ``watch``) and the SIGHUP handler (where the platform
    has it). Called from post_init, on the application's event loop."""
    if watch and app.bot_data[HOLDER].directory is not None:
        app.bot_data[WATCHER] = asyncio.get_running_loop().create_task(watch_knowledge(app))
    if hasattr(signal, "SIGHUP"):
        try:
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGHUP, lambda: app.create_task(reload_and_report(app, "SIGHUP")))
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass


async def stop_reloaders(app: Application) -> None:
    """Stop the folder watcher (post_shutdown)."""
    task = app.bot_data.pop(WATCHER, None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


__all__ = ["ADMIN_COMMANDS", "admin_only", "on_reload", "on_version", "on_unanswered",
           "on_stats", "reload_and_report", "start_reloaders", "stop_reloaders"]
