"""What the database tests share: the backends to run on, and a clock moved by hand."""
from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest

PG_URL = os.environ.get("TEST_DATABASE_URL")
PG_SKIP = "TEST_DATABASE_URL is not set (PostgreSQL tests run in CI)"
# every database test runs on SQLite, and on PostgreSQL when CI provides it
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL,
                                                                          reason=PG_SKIP))]


class FakeClock:
    """A clock the test moves by hand: call it for the time, ``advance(minutes=5)``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)
