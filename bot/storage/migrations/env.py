"""Alembic environment of the bot's database.

:func:`bot.storage.db.migrate` runs it with an open connection (and transaction) in
``config.attributes["connection"]``; every revision then runs inside that transaction.
Run by the ``alembic`` command line instead (a config naming this folder), it connects to
``sqlalchemy.url`` of that config, or to DATABASE_URL.
"""
from __future__ import annotations

from alembic import context

from bot.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      compare_type=True,
                      # SQLite cannot ALTER most things: later revisions use batch mode.
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a "
                     "database, e.g. bot.storage.migrate(engine)")

_connection = config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    from bot.settings import Settings
    from bot.storage.db import create_engine_for

    _engine = create_engine_for(config.get_main_option("sqlalchemy.url")
                                or Settings().database_url)
    try:
        with _engine.begin() as _conn:
            _run(_conn)
    finally:
        _engine.dispose()
