"""What the Telegram end-to-end tests share: reading sent messages and running the bot."""
from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.channels.telegram.app import build_application
from bot.settings import Settings


def text_of(message: dict) -> str:
    """The text a user reads in a sent message (HTML entities and bold tags undone)."""
    return html.unescape(message["text"]).replace("<b>", "").replace("</b>", "")


def settings_for(fake: Any, **more: Any) -> Settings:
    """Settings for a bot talking to ``fake`` (a FakeBotApi): no database and no knowledge
    watcher unless the test asks for them through ``more`` (Settings fields)."""
    fields: dict[str, Any] = {"database_url": "", "watch_knowledge": False, **more}
    return Settings(telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url,
                    **fields)


@asynccontextmanager
async def polling_bot(settings: Settings, knowledge: Any, *,
                      hooks: bool = False) -> AsyncIterator[Any]:
    """The bot of ``forumbot run`` (``build_application``), long-polling the fake Bot API.

    ``knowledge`` is an Assistant or a KnowledgeHolder; ``hooks`` runs the application's
    post_init/post_shutdown too (command menus, the knowledge watcher, stop signals), as
    ``run_polling`` does. Yields the PTB Application; stops and shuts it down on exit.
    """
    app = build_application(settings, knowledge)
    await app.initialize()
    if hooks:
        await app.post_init(app)
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield app
    finally:
        # in run_polling's order; post_stop always: it closes the broadcast worker's Bot
        if app.updater.running:
            await app.updater.stop()
        await app.stop()
        await app.post_stop(app)
        await app.shutdown()
        if hooks:
            await app.post_shutdown(app)


ADMIN = 4242   # the admin of the database-backed bot below


@pytest.fixture
def database(tmp_path) -> str:
    """A SQLite database URL in the test's folder."""
    return f"sqlite:///{tmp_path}/bot.sqlite3"


@pytest.fixture
async def bot(fake, assistant, database):
    """The bot with a database (subscriptions, announcements), ADMIN as its admin and a
    broadcast rate no test waits for, long-polling the fake Bot API."""
    settings = settings_for(fake, database_url=database, admin_user_ids=[ADMIN],
                            broadcast_rate=1000)
    async with polling_bot(settings, assistant) as app:
        yield app
