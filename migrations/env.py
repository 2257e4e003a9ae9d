"""Alembic environment for the segdb catalog.

It imports only the catalog's models and engine settings. segdb passes its own
engine in ``config.attributes["engine"]``; the ``alembic`` command line builds
one from ``sqlalchemy.url`` in alembic.ini (or the SEGDB_URL variable).
"""

from __future__ import annotations

import os

from alembic import context

from segdb.catalog.engine import create_catalog_engine
from segdb.catalog.models import Base

config = context.config
target_metadata = Base.metadata


def _engine():
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine
    url = os.environ.get("SEGDB_URL") or config.get_main_option("sqlalchemy.url")
    return create_catalog_engine(url)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _set_sqlite_foreign_keys(connection, enabled: bool) -> None:  # noqa: ANN001 - a SQLAlchemy Connection
    # Outside any transaction (SQLite ignores the pragma inside one), on the driver's connection.
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


def _check_sqlite_foreign_keys(connection) -> None:  # noqa: ANN001
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left rows whose foreign keys point at nothing: {broken[:5]}")


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table by dropping it; with foreign keys on, SQLite would first
            # delete its rows and cascade that to every table referencing it. They are checked
            # before the migration commits instead.
            _set_sqlite_foreign_keys(connection, False)
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                if not sqlite:
                    # A migration may rewrite big tables: no read bound applies to it.
                    connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
                context.run_migrations()
                if sqlite:
                    _check_sqlite_foreign_keys(connection)
        finally:
            if sqlite:
                _set_sqlite_foreign_keys(connection, True)
                # The pragma is ignored while a transaction is open, and this connection goes back to the
                # catalog's pool: drop it, so the next one is made afresh with foreign keys on.
                connection.invalidate()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
