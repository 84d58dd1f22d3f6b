"""Every knowledge version the bot loaded (or failed to load), and what triggered it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .models import (
    MAX_COMMIT_CHARS,
    MAX_TRIGGER_CHARS,
    MAX_VERSION_CHARS,
    KnowledgeVersionModel,
    as_utc,
    utc_now,
)

_versions = cast(sa.Table, KnowledgeVersionModel.__table__)


@dataclass(frozen=True)
class KnowledgeVersionRow:
    """One load of the knowledge folder.

    Attributes:
        id: row id, increasing with each record.
        version: content hash of the knowledge files (``content_hash``).
        git_commit: commit of the knowledge checkout, or None.
        trigger: what caused the load: "startup", "file change", "/reload by admin 123",
            "SIGHUP".
        ok: True when the knowledge was valid and is now in use.
        errors: number of errors found (0 when ok).
        loaded_at: when it was loaded (aware datetime, UTC).
    """

    id: int
    version: str
    git_commit: str | None
    trigger: str
    ok: bool
    errors: int
    loaded_at: datetime


def _check(name: str, value: str, limit: int) -> None:
    if not value or len(value) > limit:
        raise ValueError(f"{name} must be 1 to {limit} characters, got {value!r}")


class VersionLog:
    """Records knowledge loads; one short transaction per call, safe to share by threads."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        """Log into ``engine`` (already migrated); ``clock`` returns aware datetimes."""
        self._engine = engine
        self._clock = clock

    def record(self, *, version: str, git_commit: str | None, trigger: str, ok: bool,
               errors: int) -> None:
        """Store one load of the knowledge, stamped with the clock's time (UTC).

        Args:
            version: content hash (1-64 characters).
            git_commit: commit hash (1-64 characters) or None.
            trigger: what caused the load (1-200 characters).
            ok: whether the knowledge was accepted.
            errors: number of errors found (>= 0).
        Raises:
            ValueError: when an argument breaks the limits above or the clock gives a
                naive datetime.
            sqlalchemy.exc.SQLAlchemyError: when the database fails.
        """
        _check("version", version, MAX_VERSION_CHARS)
        _check("trigger", trigger, MAX_TRIGGER_CHARS)
        if git_commit is not None:
            _check("git_commit", git_commit, MAX_COMMIT_CHARS)
        if errors < 0:
            raise ValueError(f"errors must not be negative, got {errors}")
        row = {"version": version, "git_commit": git_commit, "trigger": trigger,
               "ok": bool(ok), "errors": int(errors), "loaded_at": as_utc(self._clock())}
        with self._engine.begin() as conn:
            conn.execute(sa.insert(_versions).values(**row))

    def latest(self, *, ok_only: bool = True) -> KnowledgeVersionRow | None:
        """Return the most recent load (by loaded_at, then id), or None when none is stored.

        Args:
            ok_only: True for the newest accepted version (the one in use), False for
                the newest attempt, failed or not.
        Raises:
            sqlalchemy.exc.SQLAlchemyError: when the database fails.
        """
        rows = self.history(limit=1, ok_only=ok_only)
        return rows[0] if rows else None

    def history(self, *, limit: int = 20, ok_only: bool = False) -> list[KnowledgeVersionRow]:
        """Return the most recent loads, newest first (at most ``limit``, >= 0).

        Raises:
            ValueError: when ``limit`` is negative.
            sqlalchemy.exc.SQLAlchemyError: when the database fails.
        """
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        query = (sa.select(_versions)
                 .order_by(_versions.c.loaded_at.desc(), _versions.c.id.desc()).limit(limit))
        if ok_only:
            query = query.where(_versions.c.ok.is_(True))
        with self._engine.connect() as conn:
            return [KnowledgeVersionRow(**row._mapping) for row in conn.execute(query)]
