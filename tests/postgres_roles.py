"""Real PostgreSQL roles for the permission tests: segdb's reader and curator roles in a test's schema,
login roles in the curator role, archives opened as one of them, and everything dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import create_engine, text

import segdb
from segdb import curation


def install_roles(owner, *, reader: str, curator: str, logins: Iterable[str]) -> None:
    """`segdb db roles`' SQL for ``owner``'s schema, and each of ``logins`` as a login in the curator role."""
    with owner.catalog.engine.begin() as conn:
        schema_name = conn.execute(text("SELECT current_schema()")).scalar()
        conn.exec_driver_sql(curation.roles_sql(schema_name, reader=reader, curator_role=curator))
        for login in logins:
            conn.exec_driver_sql(f'CREATE ROLE "{login}" LOGIN IN ROLE "{curator}"')


def open_as(postgres_schema_url: str, role: str, storage_root) -> segdb.Archive:
    """The archive at ``postgres_schema_url`` opened by a session that acts as ``role``."""
    return segdb.open(postgres_schema_url.replace("options=", f"options=-crole%3D{role}%20"),
                      storage_root=storage_root, create=False)


def drop_roles(postgres_schema_url: str, roles: Iterable[str]) -> None:
    """Drop ``roles`` and what they own, logins first."""
    admin = create_engine(postgres_schema_url.split("?")[0])
    try:
        with admin.begin() as conn:
            for role in roles:
                conn.exec_driver_sql(f'DROP OWNED BY "{role}" CASCADE')
                conn.exec_driver_sql(f'DROP ROLE "{role}"')
    finally:
        admin.dispose()
