"""Where an archive lives: a folder (SQLite catalog + arrays/) or a database URL with a storage root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import URL, make_url

from segdb.catalog import models as m
from segdb.catalog.engine import Catalog, redacted_url
from segdb.errors import (
    InvalidInputError,
)

CATALOG_FILENAME = "catalog.sqlite"
ARRAYS_DIRNAME = "arrays"
DEFAULT_ARCHIVE = "./segdb-archive"
STORAGE_ROOT_SETTING = "storage_root"


@dataclass(frozen=True)
class ArchiveTarget:
    """Where an archive's catalog and arrays live."""

    url: str
    location: str
    storage_root: Path | None
    is_folder: bool


def resolve_target(target: str | os.PathLike | None, storage_root: str | os.PathLike | None = None) -> ArchiveTarget:
    """Turn ``segdb.open``'s argument into a catalog URL and a storage root."""
    if target is None:
        target = os.environ.get("SEGDB_URL") or DEFAULT_ARCHIVE
    text = os.fspath(target)
    override = storage_root or os.environ.get("SEGDB_STORAGE_ROOT") or None
    if "://" in text:
        root = Path(override).expanduser().resolve() if override else None
        database = make_url(text).database if text.startswith("sqlite") else None
        if root is None and database:
            # A SQLite catalog named by URL keeps the folder layout: arrays/ beside the file.
            root = Path(database).expanduser().resolve().parent / ARRAYS_DIRNAME
        return ArchiveTarget(url=text, location=redacted_url(text), storage_root=root, is_folder=False)
    folder = Path(text).expanduser().resolve()
    if folder.suffix in (".sqlite", ".db") or folder.is_file():
        raise InvalidInputError(
            f"{text!r} is a file; segdb.open takes an archive folder (it holds {CATALOG_FILENAME} and "
            f"{ARRAYS_DIRNAME}/) or a database URL"
        )
    root = Path(override).expanduser().resolve() if override else folder / ARRAYS_DIRNAME
    return ArchiveTarget(
        url=f"sqlite:///{folder / CATALOG_FILENAME}", location=str(folder), storage_root=root, is_folder=True
    )


def recorded_storage_root(catalog: Catalog, location: str) -> Path:
    with catalog.reading() as db:
        value = db.scalar(
            select(m.ArchiveSetting.setting_value).where(m.ArchiveSetting.setting_name == STORAGE_ROOT_SETTING)
        )
    if not value:
        raise InvalidInputError(
            f"the catalog at {location} records no storage root for its array files; pass storage_root= "
            "(or --storage-root, or set SEGDB_STORAGE_ROOT)"
        )
    return Path(value)


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
