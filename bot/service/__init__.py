"""The channel-agnostic service between the core and the channels (see README, "How it is
built"): :class:`AssistantService` and how to open one from the settings.

The API every channel uses::

    service = open_service(settings, KnowledgeHolder(settings.knowledge_dir))
    reply = service.handle("telegram", "12345", Message("who is cai bin"))
    reply = service.choose("telegram", "12345", reply.choices[0].id)
"""
from __future__ import annotations

import logging

from bot.core.engine import Assistant
from bot.reload import KnowledgeHolder
from bot.settings import Settings

from .assistant import ADMIN_COMMANDS, CONTEXT_TTL, LANGUAGE_NAMES, USER_COMMANDS, AssistantService
from .reloaders import Reloaders, reload_in_thread

log = logging.getLogger(__name__)


def admins_of(settings: Settings) -> dict[str, set[str]]:
    """Admin user ids per channel: ADMIN_USER_IDS on Telegram, WECHAT_ADMIN_OPENIDS on WeChat."""
    return {"telegram": {str(i) for i in settings.admin_user_ids},
            "wechat": set(settings.wechat_admin_openids)}


def open_service(settings: Settings, knowledge: KnowledgeHolder | Assistant, *,
                 database: bool = True, admins: dict[str, set[str]] | None = None
                 ) -> AssistantService:
    """Return a service over ``knowledge``, with the database of DATABASE_URL opened and
    migrated when ``database`` and the URL is not empty (else no database: conversations
    in memory, no question log, no subscriptions).

    Raises:
        bot.settings.ConfigError: DATABASE_URL is malformed or names an unsupported database.
        sqlalchemy.exc.SQLAlchemyError: the database cannot be opened or migrated.
    """
    storage = None
    if database and settings.database_url:
        from bot.storage import Storage
        storage = Storage.open(settings.database_url,
                               retention_days=settings.question_retention_days)
    return AssistantService(knowledge, storage,
                            admins=admins if admins is not None else admins_of(settings))


__all__ = ["ADMIN_COMMANDS", "CONTEXT_TTL", "LANGUAGE_NAMES", "USER_COMMANDS",
           "AssistantService", "Reloaders", "admins_of", "open_service", "reload_in_thread"]
