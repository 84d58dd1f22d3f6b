"""Announcements to subscribers, channel-agnostic.

* :mod:`bot.broadcast.announcements` - the organisers' ``knowledge/announcements.yaml``:
  strict loading with problems by file/line/field, time zones, sync into the database;
* :mod:`bot.broadcast.delivery` - :class:`BroadcastWorker`, which sends due announcements
  through a channel's :class:`Sender`, paced, leased, safe with several bot instances;
* :mod:`bot.broadcast.admin` - ad-hoc announcements, cancel, send now, list, report.

Subscribers themselves are in :class:`bot.storage.Subscriptions`.
"""
from __future__ import annotations

from .admin import (
                    AnnouncementReport,
                    AnnouncementSummary,
                    cancel,
                    create_adhoc,
                    list_announcements,
                    report,
                    send_now,
)
from .announcements import (
                    LoadedAnnouncements,
                    ScheduledAnnouncement,
                    SyncResult,
                    load_announcements,
                    load_announcements_text,
                    local_to_utc,
                    sync_announcements,
)
from .delivery import (
    Blocked,
    BroadcastWorker,
    InDoubt,
    Migrated,
    PermanentError,
    RetryLater,
    Sender,
    TransientError,
    Unreachable,
)
from .ratelimit import SharedRateLimiter

__all__ = ["AnnouncementReport", "AnnouncementSummary", "Blocked", "BroadcastWorker",
           "InDoubt", "Migrated", "PermanentError", "SharedRateLimiter", "Unreachable",
           "LoadedAnnouncements", "RetryLater", "ScheduledAnnouncement", "Sender",
           "SyncResult", "TransientError", "cancel", "create_adhoc", "list_announcements",
           "load_announcements", "load_announcements_text", "local_to_utc", "report",
           "send_now", "sync_announcements"]
