"""The Archive: opening and creating one, and the parts it is made of."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.exc import OperationalError

from segdb.archive.ingesting import Ingesting
from segdb.archive.locations import (
    ARCHIVE_ID_SETTING,
    CATALOG_FILENAME,
    STORAGE_MARKER,
    STORAGE_ROOT_SETTING,
    check_catalog_file,
    new_archive_id,
    recorded_storage_root,
    resolve_target,
    storage_marker_id,
    url_with_known_password,
    write_storage_marker,
)
from segdb.archive.metadata import Describing
from segdb.archive.moving import Moving
from segdb.archive.rois import RoiAccess
from segdb.arrays import is_bucket_url, shared_store
from segdb.catalog import models as m
from segdb.catalog.engine import Catalog, damaged_catalog_error, is_damaged_sqlite, unreachable_catalog_error
from segdb.catalog.schema import (
    SCHEMA_REVISION,
    catalog_has_tables,
    check_schema,
    upgrade,
)
from segdb.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SegDBError,
)


class Archive(Ingesting, Moving, RoiAccess, Describing):
    """A segdb archive: catalog rows in SQL, arrays in write-once HDF5 chunk files.

    Open one with :func:`segdb.open`.
    """

    @classmethod
    def open(
        cls,
        target: str | os.PathLike | None = None,
        *,
        storage_root: str | os.PathLike | None = None,
        create: bool = True,
    ) -> Archive:
        """Open the archive at ``target`` (a folder or a database URL).

        A missing archive is created at the current schema when ``create`` is true (what
        :func:`segdb.open` does by default; every command but `segdb init` and `segdb demo`
        passes false); an existing one is never migrated: if its schema is behind, this raises
        SchemaVersionError naming `segdb db upgrade`.
        """
        where = resolve_target(target, storage_root)
        if where.is_folder:
            catalog_path = Path(where.location) / CATALOG_FILENAME
            check_catalog_file(catalog_path)
            if not catalog_path.exists():
                if not create:
                    raise NotFoundError(
                        f"there is no segdb archive at {where.location}; create one with `segdb init {where.location}`"
                    )
                return cls.create(where.location, storage_root=storage_root)
        catalog = Catalog(where.url)
        try:
            if create and not where.is_folder and not catalog_has_tables(catalog.engine):
                catalog.dispose()
                return cls.create(target, storage_root=storage_root)
            check_schema(catalog.engine, where.location)
            root = where.storage_root if where.root_given else None
            if root is None:
                # A SQLite catalog keeps arrays/ beside its file unless it records another root.
                recorded = recorded_storage_root(catalog, where.location, required=where.storage_root is None)
                root = recorded or where.storage_root
        except BaseException as exc:
            catalog.dispose()
            _raise_unreachable(catalog, where.location, exc)
            raise
        return cls(catalog, root, where.location)

    @classmethod
    def create(cls, target: str | os.PathLike | None, *, storage_root: str | os.PathLike | None = None) -> Archive:
        """Create a new, empty archive at the current schema (what `segdb init` does)."""
        where = resolve_target(target, storage_root)
        store = None if where.storage_root is None else shared_store(where.storage_root)
        other = None if store is None else storage_marker_id(store)
        if other is not None:
            raise ConflictError(
                f"{where.storage_root} is already the storage root of archive {other} (its {STORAGE_MARKER} "
                "marker says so); open that archive, or give a new one a folder of its own"
            )
        if store is not None and is_bucket_url(where.storage_root) and not store.root_exists():
            raise InvalidInputError(
                f"the storage root {store.describe_root()} is in a bucket that does not exist; create the "
                "bucket first (e.g. `aws s3 mb`), or check AWS_ENDPOINT_URL and the bucket's name"
            )
        if where.is_folder:
            Path(where.location).mkdir(parents=True, exist_ok=True)
        elif where.storage_root is None:
            raise InvalidInputError(
                f"a new catalog at {where.location} needs a storage root for its array files: pass "
                "storage_root= (or --storage-root, or set SEGDB_STORAGE_ROOT) to a folder every machine can read"
            )
        catalog = Catalog(where.url)
        try:
            if catalog_has_tables(catalog.engine):
                raise ConflictError(
                    f"{where.location} already holds a catalog; open it with segdb.open instead of creating it"
                )
            assert store is not None
            upgrade(catalog.engine, SCHEMA_REVISION)
            archive_id = new_archive_id()
            with catalog.writing() as session:
                session.add(m.ArchiveSetting(setting_name=ARCHIVE_ID_SETTING, setting_value=archive_id))
                if not where.is_folder or where.root_given:
                    session.add(m.ArchiveSetting(setting_name=STORAGE_ROOT_SETTING, setting_value=str(where.storage_root)))
            # The marker is how a later write tells this archive's root from an empty mount point.
            write_storage_marker(store, archive_id)
        except BaseException as exc:
            catalog.dispose()
            _raise_unreachable(catalog, where.location, exc)
            raise
        return cls(catalog, where.storage_root, where.location)


def _raise_unreachable(catalog: Catalog, location: str, exc: BaseException) -> None:
    """A refused or failed connection, or a damaged SQLite file, becomes one line naming the catalog;
    other errors pass through."""
    if is_damaged_sqlite(exc):
        raise damaged_catalog_error(catalog.sqlite_file or location, str(exc.orig)) from exc
    if isinstance(exc, OperationalError):
        raise unreachable_catalog_error(location, exc) from exc


_REOPENED: dict[tuple[int, tuple[str, str]], Archive] = {}


def reopen(spec: tuple[str, str]) -> Archive:
    """The archive a pickled extractor came from (see :meth:`Archive.reopen_spec`), opened once per process.

    The spec carries no password: it comes from ``$SEGDB_URL`` when that names the same
    database, else from where libpq looks (``PGPASSWORD``, ``~/.pgpass``).
    """
    key = (os.getpid(), tuple(spec))
    if key not in _REOPENED:
        url, storage_root = spec
        try:
            _REOPENED[key] = Archive.open(url_with_known_password(url), storage_root=storage_root, create=False)
        except SegDBError as exc:
            raise type(exc)(
                f"the archive a pickled extractor came from ({url}) cannot be opened in this process: {exc}. "
                "A pickled extractor carries no database password: give it to this process with PGPASSWORD, "
                "a ~/.pgpass entry, or SEGDB_URL naming the same database with its password"
            ) from exc
    return _REOPENED[key]
