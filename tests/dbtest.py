"""What the database tests share: the backends to run on, and a clock moved by hand."""
from __future__ import annotations

import os
import secrets
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import make_url

from bot.storage import create_engine_for, migrate

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


def _pg_engine():
    admin = create_engine_for(PG_URL)
    schema = f"test_{secrets.token_hex(6)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return admin, schema, url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """A database URL of its own for one test: a SQLite file, and on PostgreSQL a fresh
    schema (dropped afterwards). Import it into a test module to use it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        return
    admin, schema, url = _pg_engine()
    yield url
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture
def db(database_url):
    """A migrated engine on ``database_url`` (SQLite, and PostgreSQL in CI)."""
    engine = create_engine_for(database_url)
    migrate(engine)
    yield engine
    engine.dispose()
