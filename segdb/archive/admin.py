"""Catalog administration: the schema's revision and drift, upgrades, and owner scripts.

These are what ``segdb db`` does. Each function takes an archive target and storage
root as :func:`segdb.open` does (``None`` for ``$SEGDB_URL``), opens the catalog only for as long as it works on it,
and never creates an archive: a folder that holds none is refused.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url

from segdb.archive.locations import check_catalog_file, resolve_target
from segdb.catalog.engine import (
    Catalog,
    damaged_catalog_error,
    is_damaged_sqlite,
    translate_db_error,
    unreachable_catalog_error,
)
from segdb.catalog.schema import SCHEMA_REVISION, check_upgradable, current_revision, schema_drift, upgrade
from segdb.errors import ConflictError, InvalidInputError, NotFoundError, SchemaVersionError

# SCHEMA_REVISION, the revision this segdb expects, is re-exported for the layers above the archive.
__all__ = ["SCHEMA_REVISION", "SchemaStatus", "postgres_schema", "run_owner_script", "schema_status", "upgrade_problem",
           "upgrade_schema"]

Target = str | os.PathLike | None


@dataclass(frozen=True)
class SchemaStatus:
    """Where a catalog's schema stands against the one this segdb expects.

    Attributes
    ----------
    location
        The archive folder, or the database URL with its password hidden.
    revision
        The catalog's schema revision; None when it has none (an empty database).
    expected_revision
        The revision this segdb's models describe.
    drift
        Differences between the catalog's tables and the models; empty when they agree.
    """

    location: str
    revision: str | None
    expected_revision: str
    drift: tuple[str, ...]


def schema_status(target: Target, *, storage_root: Target = None) -> SchemaStatus:
    """The catalog's schema revision, the revision this segdb expects, and any drift from the models."""
    with _open_catalog(target, storage_root) as (location, catalog):
        return SchemaStatus(
            location=location,
            revision=current_revision(catalog.engine),
            expected_revision=SCHEMA_REVISION,
            drift=tuple(schema_drift(catalog.engine)),
        )


def upgrade_problem(target: Target, *, storage_root: Target = None) -> str | None:
    """Why `segdb db upgrade` would refuse this catalog (not segdb's, or at a revision this segdb does not know);
    None when it would not."""
    with _open_catalog(target, storage_root) as (location, catalog):
        try:
            check_upgradable(catalog.engine, location)
        except SchemaVersionError as exc:
            return str(exc)
    return None


def upgrade_schema(target: Target, *, storage_root: Target = None) -> str | None:
    """Migrate the catalog to the schema this segdb expects.

    Returns
    -------
    str or None
        The revision the catalog was at before; None when it had no schema.
    """
    with _open_catalog(target, storage_root) as (location, catalog):
        check_upgradable(catalog.engine, location)
        before = current_revision(catalog.engine)
        upgrade(catalog.engine, SCHEMA_REVISION)
        return before


def postgres_schema(target: Target, *, storage_root: Target = None) -> str:
    """The PostgreSQL schema the catalog's tables live in (the connection's ``current_schema()``)."""
    where = resolve_target(target, storage_root)
    if make_url(where.url).get_backend_name() != "postgresql":
        raise InvalidInputError(
            f"the catalog at {where.location} is SQLite, which has no schemas or database roles; "
            "they exist only in a PostgreSQL catalog (a postgresql+psycopg://… URL)"
        )
    with _open_catalog(target, storage_root) as (_, catalog):
        with catalog.engine.connect() as connection:
            return connection.execute(text("SELECT current_schema()")).scalar_one()


def run_owner_script(target: Target, sql: str, *, storage_root: Target = None, what: str = "this script") -> None:
    """Execute an SQL script in one transaction, as the role the target's URL connects as.

    Meant for scripts the catalog's owner must run, such as :func:`segdb.curation.roles_sql`.
    Nothing of it is committed unless every statement succeeds; a role that lacks a privilege the
    script needs gets one line naming the role and ``what`` it could not do.
    """
    with _open_catalog(target, storage_root) as (location, catalog):
        with catalog.engine.connect() as connection:
            try:
                with connection.begin():
                    connection.exec_driver_sql(sql)
            except sa_exc.DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != _POSTGRES_INSUFFICIENT_PRIVILEGE:
                    raise
                reason = str(exc.orig).strip().splitlines()[0]
                role = connection.execute(text("SELECT current_user")).scalar_one()
                raise ConflictError(
                    f"database role {role} may not run {what} on {location} ({reason}); nothing was changed: "
                    "connect as the schema's owner (a role with CREATEROLE), or hand the SQL to your database "
                    "administrator"
                ) from None


_POSTGRES_INSUFFICIENT_PRIVILEGE = "42501"


@contextlib.contextmanager
def _open_catalog(target: Target, storage_root: Target) -> Iterator[tuple[str, Catalog]]:
    where = resolve_target(target, storage_root)
    if where.is_folder:
        check_catalog_file(Path(make_url(where.url).database))
    if where.is_folder and not Path(make_url(where.url).database).exists():
        raise NotFoundError(
            f"there is no segdb archive at {where.location}; create one with `segdb init {where.location}`"
        )
    catalog = Catalog(where.url)
    try:
        yield where.location, catalog
    except sa_exc.DBAPIError as exc:
        if is_damaged_sqlite(exc):
            raise damaged_catalog_error(catalog.sqlite_file or where.location, str(exc.orig)) from exc
        if isinstance(exc, sa_exc.OperationalError):
            raise unreachable_catalog_error(where.location, exc) from exc
        raise translate_db_error(exc, catalog.sqlite_file) from exc
    finally:
        catalog.dispose()
