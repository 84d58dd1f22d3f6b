"""Engines for SQLite and PostgreSQL, and the schema migration run at every start-up.

SQLite (the default, one bot process or a few on one machine) runs in WAL mode so readers
never block the writer; PostgreSQL is for several bot instances sharing one database. Only
these two backends are supported: the upserts of :mod:`bot.storage.questions` use their
``INSERT ... ON CONFLICT``.
"""
from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from bot.settings import ConfigError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
# Key of the PostgreSQL advisory lock held while migrating; any fixed 64-bit number that no
# other code of this database uses ("forumbot" in ASCII).
MIGRATION_LOCK_KEY = 0x666F72756D626F74

# Alembic installs its `context`/`op` proxies as module globals: two upgrades in one process
# at the same time would use each other's context, so they take turns.
_MIGRATE_LOCK = threading.Lock()


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise ConfigError("DATABASE_URL is not a database URL: expected sqlite:///path or "
                          "postgresql://user@host/dbname") from None


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first: switching to WAL needs a lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def create_engine_for(url: str) -> Engine:
    """Return an Engine for ``url`` (the DATABASE_URL setting), configured for the bot.

    Args:
        url: ``sqlite:///relative/file.sqlite3``, ``sqlite:////absolute/path``,
            ``sqlite:///:memory:`` (tests: one connection shared by all threads), or
            ``postgresql://user:password@host:5432/dbname`` (``postgres://`` and
            ``postgresql+psycopg://`` too; always driven by psycopg 3). Query parameters
            are passed to the driver, e.g. ``?options=-csearch_path%3Dmyschema``.
    Returns:
        an Engine; nothing is connected yet, except that the folder of a SQLite file is
        created. Every SQLite connection gets WAL mode, foreign keys on and a busy
        timeout of SQLITE_BUSY_TIMEOUT_MS milliseconds; PostgreSQL connections are
        checked before use (``pool_pre_ping``), so a restarted server costs no request.
    Raises:
        ConfigError: when ``url`` is not a URL or names another database (message
            without the password).
    """
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise ConfigError(f"DATABASE_URL: unsupported SQLite driver {parsed.drivername!r}; "
                              "use sqlite:///path")
        database = parsed.database or ""
        if database in ("", ":memory:"):
            engine = sa.create_engine(parsed, poolclass=StaticPool,
                                      connect_args={"check_same_thread": False})
        else:
            if not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(parsed)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        else:
            raise ConfigError(f"DATABASE_URL: unsupported PostgreSQL driver "
                              f"{parsed.drivername!r}; use postgresql://")
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise ConfigError(f"DATABASE_URL: unsupported database {backend!r}; "
                      "use sqlite:///path or postgresql://user@host/dbname")


def alembic_config() -> Config:
    """Return an Alembic Config for the package's migrations, without any alembic.ini.

    Used by :func:`migrate`; also handy to write the next revision by hand, e.g.
    ``command.revision(alembic_config(), "add subscribers", rev_id="0002")``.
    """
    config = Config()
    # ConfigParser interpolation: a % in the path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def migrate(engine: Engine) -> None:
    """Upgrade the database of ``engine`` to the newest schema (Alembic ``head``).

    Safe at every start-up: a database already at head is left alone. Safe when several
    processes start at once: on PostgreSQL the upgrade runs in one transaction holding
    the advisory lock MIGRATION_LOCK_KEY (``pg_advisory_xact_lock``), so the others wait
    and then find nothing to do; on SQLite the transaction starts with
    ``BEGIN IMMEDIATE``, which takes the file's write lock for the same effect (others
    wait up to SQLITE_BUSY_TIMEOUT_MS). Threads of one process take turns.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: when the database is unreachable, locked for
            longer than the busy timeout, or a revision fails (its transaction is rolled
            back on PostgreSQL).
        alembic.util.CommandError: when the database is at a revision this code does not
            know (a newer bot version migrated it).
    """
    config = alembic_config()
    with _MIGRATE_LOCK, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK_KEY})
        elif connection.dialect.name == "sqlite":
            # pysqlite opens transactions lazily (before the first INSERT); begin now, as
            # a writer, so the version check and the upgrade are one atomic step.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        # An open transaction is handed over: env.py runs every revision inside it.
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
