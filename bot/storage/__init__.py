"""The bot's database: engines, migrations, reply statistics and knowledge versions.

Start-up::

    engine = create_engine_for(settings.database_url)
    migrate(engine)                      # every start-up; a no-op when up to date
    questions = QuestionLog(engine)
    versions = VersionLog(engine)
    subscriptions = Subscriptions(engine)   # who asked for announcements (bot.broadcast)
"""
from __future__ import annotations

from .db import MIGRATION_LOCK_KEY, alembic_config, create_engine_for, migrate
from .models import (
                     AnnouncementModel,
                     Base,
                     DeliveryModel,
                     KnowledgeVersionModel,
                     ReplyCountModel,
                     SubscriberModel,
                     UnansweredQuestionModel,
                     utc_now,
)
from .questions import QuestionLog, ReplyStats, UnansweredQuestion
from .subscriptions import Subscriber, Subscriptions
from .versions import KnowledgeVersionRow, VersionLog

__all__ = ["MIGRATION_LOCK_KEY", "AnnouncementModel", "Base", "DeliveryModel",
           "KnowledgeVersionModel", "KnowledgeVersionRow", "QuestionLog", "ReplyCountModel",
           "ReplyStats", "Subscriber", "SubscriberModel", "Subscriptions",
           "UnansweredQuestion", "UnansweredQuestionModel", "VersionLog", "alembic_config",
           "create_engine_for", "migrate", "utc_now"]
