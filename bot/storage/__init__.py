"""The bot's database: engines, migrations, reply statistics and knowledge versions.

Start-up::

    engine = create_engine_for(settings.database_url)
    migrate(engine)                      # every start-up; a no-op when up to date
    questions = QuestionLog(engine)
    versions = VersionLog(engine)
    subscriptions = Subscriptions(engine)   # who asked for announcements (bot.broadcast)
    conversations = SqlConversations(engine)  # language preference and context per chat
"""
from __future__ import annotations

from .conversations import ConversationState, ConversationStore, MemoryConversations, SqlConversations
from .db import MIGRATION_LOCK_KEY, alembic_config, create_engine_for, migrate
from .models import (
                            AnnouncementModel,
                            Base,
                            ConversationModel,
                            DeliveryModel,
                            KnowledgeVersionModel,
                            ReplyCountModel,
                            SubscriberModel,
                            UnansweredQuestionModel,
                            utc_now,
)
from .questions import QuestionLog, ReplyStats, UnansweredQuestion
from .store import Storage
from .subscriptions import Subscriber, Subscriptions
from .versions import KnowledgeVersionRow, VersionLog

__all__ = ["MIGRATION_LOCK_KEY", "AnnouncementModel", "Base", "ConversationModel",
           "ConversationState", "ConversationStore", "DeliveryModel", "MemoryConversations",
           "SqlConversations", "Storage",
           "KnowledgeVersionModel", "KnowledgeVersionRow", "QuestionLog", "ReplyCountModel",
           "ReplyStats", "Subscriber", "SubscriberModel", "Subscriptions",
           "UnansweredQuestion", "UnansweredQuestionModel", "VersionLog", "alembic_config",
           "create_engine_for", "migrate", "utc_now"]
