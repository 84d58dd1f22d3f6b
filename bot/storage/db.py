"""Engines for SQLite and PostgreSQL, and the schema migration run at every start-up.

SQLite (the default, one bot process or a few on one machine) runs in WAL mode so readers
never block the writer, with synchronous=NORMAL so a commit does not wait for the disk;
PostgreSQL is for several bot instances sharing one database. Only these two backends are
supported: the upserts of :mod:`bot.storage.questions` use their ``INSERT ... ON CONFLICT``.
"""
from __future__ import annotations

import os
import stat
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
POSTGRES_CONNECT_TIMEOUT_S = 10  # an unreachable server fails start-up instead of hanging
# The database holds chat ids and questions: only the bot's own user may read it.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
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


def _make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents owner-only (0700), whatever the umask;
    folders that already exist are left as they are."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        try:
            new.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(new, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask


def _make_private_file(path: Path) -> None:
    """Create the database file (empty) 0600 before SQLite does (SQLite would use 0644
    minus the umask, and gives its -wal/-shm files the database file's mode); an existing
    file readable by others is narrowed to 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        _narrow(path)
        return
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


def _narrow(path: Path) -> None:
    """chmod go-rwx a regular file we own (the database or one of its side files)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if (stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid()
            and stat.S_IMODE(st.st_mode) & 0o077):
        os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first: switching to WAL needs a lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL syncs the log at checkpoints, not at every commit: the file
        # cannot be corrupted, only the last commits can be lost on a power cut (not on a
        # crash of the bot), and a commit costs a write() instead of an fsync (issue 12).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _narrow_side_files(path: Path) -> None:
    """The -wal/-shm files exist once WAL mode is on (after ``_sqlite_on_connect``): make
    sure they are owner-only too (SQLite copies the database file's mode, which an admin
    may have widened)."""
    for suffix in SQLITE_SIDE_FILES:
        _narrow(path.with_name(path.name + suffix))


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
        created owner-only (0700, when new) and the file itself too (0600; an existing
        file readable by others is narrowed to 0600), whatever the umask; its -wal and
        -shm files get 0600 as well. Every SQLite connection gets WAL mode, foreign keys
        on, a busy timeout of SQLITE_BUSY_TIMEOUT_MS milliseconds and synchronous=NORMAL
        (commits are not fsynced one by one: the last ones may be lost on a power cut,
        never on a crash of the bot); PostgreSQL connections are checked before use
        (``pool_pre_ping``), so a restarted server costs no request, and give up
        connecting after POSTGRES_CONNECT_TIMEOUT_S seconds unless the URL sets
        ``connect_timeout``.
    Raises:
        ConfigError: when ``url`` is not a URL or names another database (message
            without the password), or a SQLite file or its folder cannot be created.
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
            engine = sa.create_engine(parsed)
        event.listen(engine, "connect", _sqlite_on_connect)
        if database not in ("", ":memory:") and not database.startswith("file:"):
            path = Path(database).expanduser()
            try:
                _make_private_dirs(path.parent.absolute())
                _make_private_file(path)
            except OSError as exc:
                raise ConfigError(f"DATABASE_URL: cannot create the database file {path} "
                                  f"({exc.strerror or type(exc).__name__})") from None
            event.listen(engine, "connect", lambda *_: _narrow_side_files(path))
        return engine
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        else:
            raise ConfigError(f"DATABASE_URL: unsupported PostgreSQL driver "
                              f"{parsed.drivername!r}; use postgresql://")
        connect_args = ({} if "connect_timeout" in parsed.query
                        else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S})
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    raise ConfigError(f"DATABASE_URL: unsupported database {backend!r}; "
                      "use sqlite:///path or postgresql://user@host/dbname")


def database_secrets(url: str) -> list[str]:
    """Return the password of ``url`` (the DATABASE_URL), to redact from logs; [] when
    there is none or the URL is not parseable."""
    try:
        password = make_url(url).password if url else None
    except ArgumentError:
        return []
    return [str(password)] if password else []


def database_failure(exc: BaseException, url: str) -> str:
    """Return one line saying why the database of ``url`` could not be used: where it is
    (the URL without its password) and the driver's first line, with any secret of the
    URL removed. For start-up failures (unreachable server, refused login, a schema newer
    than this code)."""
    try:
        where = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        where = "DATABASE_URL"
    detail = getattr(exc, "orig", None) or exc
    first = (str(detail).strip().splitlines() or [""])[0][:300]
    for secret in database_secrets(url):
        first = first.replace(secret, "***")
    return (f"cannot use the database {where} ({type(detail).__name__}: {first}); "
            "check DATABASE_URL and that the server is running")


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
