"""Where an archive lives: a folder (SQLite catalog + arrays/) or a database URL, with a storage root.

A storage root is a folder (a :class:`~pathlib.Path`) or an S3-compatible bucket (``"s3://bucket/prefix"``);
every machine reaches the same root, a bucket with its own endpoint and credentials.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from segdb.arrays import Store, is_bucket_url, open_store
from segdb.catalog import models as m
from segdb.catalog.engine import Catalog, damaged_catalog_error, redacted_url
from segdb.errors import (
    IntegrityError,
    InvalidInputError,
    StorageUnavailableError,
)

CATALOG_FILENAME = "catalog.sqlite"
ARRAYS_DIRNAME = "arrays"
DEFAULT_ARCHIVE = "./segdb-archive"
STORAGE_ROOT_SETTING = "storage_root"
ARCHIVE_ID_SETTING = "archive_id"
# How many times `segdb storage copy` has moved the archive's files to a new root: a writer that opened the
# archive before a move writes into the old root, and this count tells it so before it records a file.
STORAGE_MOVES_SETTING = "storage_moves"
# A file in the storage root holding the id of the archive whose files live there.
STORAGE_MARKER = ".segdb-archive"

StorageRoot = Path | str


@dataclass(frozen=True)
class ArchiveTarget:
    """Where an archive's catalog and arrays live.

    ``root_given`` says the storage root was given (an argument or ``$SEGDB_STORAGE_ROOT``) rather
    than taken from the layout; an archive folder's given root is recorded in its catalog.
    """

    url: str
    location: str
    storage_root: StorageRoot | None
    is_folder: bool
    root_given: bool = False


def storage_root_value(value: str | os.PathLike) -> StorageRoot:
    """A storage root as given or recorded: ``s3://bucket/prefix`` in its normal form, or a resolved folder."""
    text = os.fspath(value)
    if is_bucket_url(text):
        return open_store(text).url
    if "://" in text:
        raise InvalidInputError(
            f"storage root {text!r} is neither a folder nor an s3:// bucket; give a folder path, or "
            "s3://bucket/prefix for an S3-compatible object store"
        )
    return Path(text).expanduser().resolve()


def resolve_target(target: str | os.PathLike | None, storage_root: str | os.PathLike | None = None) -> ArchiveTarget:
    """Turn ``segdb.open``'s argument into a catalog URL and a storage root."""
    if target is None:
        target = os.environ.get("SEGDB_URL") or DEFAULT_ARCHIVE
    text = os.fspath(target)
    override = storage_root or os.environ.get("SEGDB_STORAGE_ROOT") or None
    if "://" in text:
        root = storage_root_value(override) if override else None
        database = make_url(text).database if text.startswith("sqlite") else None
        if root is None and database:
            # A SQLite catalog named by URL keeps the folder layout: arrays/ beside the file.
            root = Path(database).expanduser().resolve().parent / ARRAYS_DIRNAME
        return ArchiveTarget(url=text, location=redacted_url(text), storage_root=root, is_folder=False,
                             root_given=bool(override))
    folder = Path(text).expanduser().resolve()
    if folder.suffix in (".sqlite", ".db") or folder.is_file():
        raise InvalidInputError(
            f"{text!r} is a file; segdb.open takes an archive folder (it holds {CATALOG_FILENAME} and "
            f"{ARRAYS_DIRNAME}/) or a database URL"
        )
    root = storage_root_value(override) if override else folder / ARRAYS_DIRNAME
    return ArchiveTarget(
        url=f"sqlite:///{folder / CATALOG_FILENAME}", location=str(folder), storage_root=root, is_folder=True,
        root_given=bool(override),
    )


def check_catalog_file(catalog_file: Path) -> None:
    """Refuse an archive folder's catalog.sqlite that is a folder or empty: SQLite would take either for a
    new, empty database, and an archive whose catalog was lost must be restored, not started afresh."""
    if catalog_file.is_dir():
        raise damaged_catalog_error(str(catalog_file), "it is a folder, not a file")
    if catalog_file.is_file() and catalog_file.stat().st_size == 0:
        raise damaged_catalog_error(str(catalog_file), "the file is empty: 0 bytes")


def recorded_storage_root(catalog: Catalog, location: str, *, required: bool = True) -> StorageRoot | None:
    """The storage root the catalog records (a folder or a bucket); None only when not ``required``."""
    with catalog.reading() as db:
        value = db.scalar(
            select(m.ArchiveSetting.setting_value).where(m.ArchiveSetting.setting_name == STORAGE_ROOT_SETTING)
        )
    if not value:
        if not required:
            return None
        raise InvalidInputError(
            f"the catalog at {location} records no storage root for its array files; pass storage_root= "
            "(or --storage-root, or set SEGDB_STORAGE_ROOT)"
        )
    return value if is_bucket_url(value) else Path(value)


def storage_moves(db: Session) -> int:
    """How many times the archive's files have been moved to a new storage root (0 for never)."""
    value = db.scalar(
        select(m.ArchiveSetting.setting_value).where(m.ArchiveSetting.setting_name == STORAGE_MOVES_SETTING)
    )
    return int(value) if value else 0


def url_without_password(url: str) -> str:
    """The catalog URL with any password taken out, fit to be pickled or shown."""
    if "://" not in url:
        return url
    parsed = make_url(url)
    if parsed.password is None:
        return url
    bare = URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query)
    return bare.render_as_string(hide_password=False)


def url_with_known_password(url: str) -> str:
    """A password-less catalog URL with the password ``$SEGDB_URL`` gives for the same database.

    When ``$SEGDB_URL`` names another database, or none, the URL is returned as it is and the
    driver looks where libpq always looks (``PGPASSWORD``, ``~/.pgpass`` or ``PGPASSFILE``).
    """
    parsed = make_url(url)
    configured = os.environ.get("SEGDB_URL", "")
    if parsed.password is not None or "://" not in configured:
        return url
    other = make_url(configured)
    same = (other.drivername, other.username, other.host, other.port, other.database) == (
        parsed.drivername, parsed.username, parsed.host, parsed.port, parsed.database
    )
    if not same or other.password is None:
        return url
    return parsed.set(password=other.password).render_as_string(hide_password=False)


def new_archive_id() -> str:
    """A new archive's id, recorded in its catalog and in its storage root's marker file."""
    return uuid.uuid4().hex


def recorded_archive_id(catalog: Catalog) -> str | None:
    """The id the catalog records for its archive; None for one made before archives had ids."""
    with catalog.reading() as db:
        return db.scalar(
            select(m.ArchiveSetting.setting_value).where(m.ArchiveSetting.setting_name == ARCHIVE_ID_SETTING)
        )


def write_storage_marker(store: Store, archive_id: str) -> None:
    """Mark the store's root as the storage root of archive ``archive_id`` (written whole, never over another).

    Raises IntegrityError when the root holds another archive's marker by the time it is written.
    """
    if not store.write_text_new(STORAGE_MARKER, f"{archive_id}\n"):
        found = storage_marker_id(store)
        if found != archive_id:
            raise _belongs_elsewhere(store, found, archive_id, "this archive")


def storage_marker_id(store: Store) -> str | None:
    """The archive id in the store root's marker file; None when it has none."""
    try:
        text = store.read_text(STORAGE_MARKER)
    except (NotADirectoryError, FileNotFoundError):
        return None
    except StorageUnavailableError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"the storage root's marker {store.describe(STORAGE_MARKER)} cannot be read ({exc})") from exc
    return None if text is None else text.strip()


def _belongs_elsewhere(store: Store, found: str | None, archive_id: str | None, location: str) -> IntegrityError:
    return IntegrityError(
        f"the storage root {store.url} belongs to another archive (its {STORAGE_MARKER} marker holds id {found}, "
        f"the catalog at {location} is archive {archive_id or 'without an id'}); pass --storage-root "
        "(or SEGDB_STORAGE_ROOT) naming this archive's own array folder or bucket prefix"
    )


def check_storage_root(catalog: Catalog, store: Store, location: str, *, beside_catalog: bool,
                       deleting: bool = False) -> None:
    """Refuse to write array files unless ``root`` is this archive's storage root.

    The root is the archive's when its marker file holds the id the catalog records. A root
    without a marker is claimed (the marker written, and an id recorded for a catalog made
    before archives had ids) only where that cannot be a wrong guess: the ``arrays/`` folder
    beside a SQLite catalog, a root that holds a file the catalog records, or any existing root
    of an id-less catalog that records no files yet. A missing root (an unmounted NAS) or one that
    holds another archive's marker is refused, so no machine writes files only it can see.
    ``deleting`` (gc --apply, which deletes what no row names) claims a root only on proof: beside
    the SQLite catalog, or holding a file the catalog records; never an empty catalog's guess.
    """
    archive_id = recorded_archive_id(catalog)
    found = storage_marker_id(store)
    if found is not None and found == archive_id:
        return
    if found is not None:
        raise _belongs_elsewhere(store, found, archive_id, location)
    root = store.url
    present = store.root_exists()
    if deleting and not beside_catalog and present and not _root_holds_a_recorded_file(catalog, store):
        raise IntegrityError(
            f"segdb gc --apply deletes files only in this archive's storage root, and {root} has no "
            f"{STORAGE_MARKER} marker naming archive {archive_id or '(none recorded yet)'}, nor any file the catalog "
            f"at {location} records; check --storage-root (or SEGDB_STORAGE_ROOT). An ingest into the right "
            "folder marks it"
        )
    if not present and is_bucket_url(root):
        raise IntegrityError(
            f"the storage root {store.describe_root()} is in a bucket that does not exist; create the bucket "
            "(e.g. `aws s3 mb`), or check AWS_ENDPOINT_URL and the bucket's name"
        )
    if not (beside_catalog or (present and _root_is_ours(catalog, store, archive_id))):
        raise IntegrityError(
            f"the storage root {root} does not exist or is not this archive's (no {STORAGE_MARKER} marker with id "
            f"{archive_id or '(none recorded yet)'}); is the NAS mounted? If the array folder is mounted "
            "elsewhere on this machine, pass --storage-root (or set SEGDB_STORAGE_ROOT) to that folder"
        )
    if archive_id is None:
        archive_id = new_archive_id()
        with catalog.writing() as db:
            db.add(m.ArchiveSetting(setting_name=ARCHIVE_ID_SETTING, setting_value=archive_id))
    write_storage_marker(store, archive_id)


def _root_is_ours(catalog: Catalog, store: Store, archive_id: str | None) -> bool:
    """Whether an existing root without a marker holds this archive's files (one it records is there)."""
    recorded = _first_recorded_file(catalog)
    if recorded is None:
        return archive_id is None
    return _holds(store, recorded)


def _root_holds_a_recorded_file(catalog: Catalog, store: Store) -> bool:
    recorded = _first_recorded_file(catalog)
    return recorded is not None and _holds(store, recorded)


def _holds(store: Store, relative: str) -> bool:
    try:
        return store.exists(relative)
    except IntegrityError:
        return False  # a recorded path the key rules refuse is not proof of anything


def _first_recorded_file(catalog: Catalog) -> str | None:
    with catalog.reading() as db:
        return db.scalar(select(m.ArrayFile.relative_path).order_by(m.ArrayFile.array_file_id).limit(1))
