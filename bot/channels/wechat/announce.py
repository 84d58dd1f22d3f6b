"""WeChat followers as subscribers of the forum's announcements, and the broadcast worker
of the ``forumbot wechat`` process.

Who is a subscriber: a follower who follows the account (the ``subscribe`` event), presses a
menu button with the key SUBSCRIBE, or sends one of the keywords below; unfollowing (the
``unsubscribe`` event), the key UNSUBSCRIBE or an unsubscribe keyword ends it. Every message
or event of a follower moves their ``last_seen_at``: WeChat's 48-hour window for
customer-service messages starts there (see :mod:`bot.channels.wechat.push`).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import timedelta

import httpx

from bot.broadcast import BroadcastWorker
from bot.core.normalize import normalize
from bot.knowledge.models import Vocabulary
from bot.settings import Settings
from bot.storage.store import Storage

from .push import CHANNEL, AccessTokens, WeChatSender

log = logging.getLogger(__name__)

TICK_SECONDS = 10.0   # how often the worker looks for due announcements
# the keyword table of the knowledge version served last (rebuilt after a reload)
_table: tuple[Vocabulary, dict[str, str]] | None = None


def _keywords(vocabulary: Vocabulary) -> dict[str, str]:
    global _table
    if _table is None or _table[0] is not vocabulary:
        _table = (vocabulary, {normalize(word): f"/{command}"
                               for command, words in vocabulary.subscription.items()
                               for word in words})
    return _table[1]


def subscription_command(text: str, vocabulary: Vocabulary) -> str | None:
    """Return "/subscribe" or "/unsubscribe" when ``text`` is only one of the words of
    ``vocabulary.subscription`` (knowledge/vocabulary.yaml: "订阅", "S'abonner !",
    "إلغاء الاشتراك"), compared after the normaliser; else None."""
    return _keywords(vocabulary).get(normalize(text))


def note_seen(storage: Storage | None, openid: str) -> None:
    """Record that this follower just wrote (their 48-hour window starts now); nothing is
    stored for a follower who never subscribed. Never raises: answering comes first."""
    if storage is None:
        return
    try:
        storage.subscriptions.seen(CHANNEL, openid)
    except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the answer
        # the error's type only: a database error's text carries the statement's
        # parameters, the follower's openid among them
        log.warning("could not record a WeChat follower's last message: %s",
                    type(exc).__name__)


class WeChatBroadcaster:
    """Runs the broadcast worker for WeChat subscribers every TICK_SECONDS while the app
    serves; :meth:`stop` on shutdown (SIGTERM) ends a pass within seconds.

    Args:
        storage: the bot's database.
        settings: WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TEMPLATE_ID,
            WECHAT_API_BASE_URL, BROADCAST_RATE, BROADCAST_MAX_AGE_HOURS.
    """

    def __init__(self, storage: Storage, settings: Settings) -> None:
        secret = settings.wechat_app_secret.get_secret_value() \
            if settings.wechat_app_secret else ""
        self.client = httpx.AsyncClient(base_url=settings.wechat_api_base_url, timeout=10)
        tokens = AccessTokens(storage.engine, settings.wechat_app_id or "", secret,
                              self.client)
        sender = WeChatSender(storage.engine, tokens, self.client,
                              template_id=settings.wechat_template_id)
        self.worker = BroadcastWorker(
            storage.engine, sender, worker_id=f"wechat@{socket.gethostname()}:{os.getpid()}",
            rate_per_second=settings.broadcast_rate,
            max_age=timedelta(hours=settings.broadcast_max_age_hours))
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def configured(settings: Settings) -> bool:
        """True when the account can push: WECHAT_APP_ID and WECHAT_APP_SECRET are set."""
        return bool(settings.wechat_app_id and settings.wechat_app_secret)

    def start(self) -> None:
        """Start the periodic passes (call inside the running event loop)."""
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while not self.worker.stopping:
            try:
                await self.worker.run_due()
            except Exception:  # noqa: BLE001 - the next pass resumes what is pending
                log.exception("WeChat broadcast pass failed")
            await self.worker._wait(TICK_SECONDS)

    async def stop(self) -> None:
        """Stop the worker (the pass in flight hands its batch back) and close the client."""
        self.worker.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=5)
        await self.client.aclose()
