"""segdb: a lab archive for calcium-imaging segmentations.

>>> import segdb
>>> archive = segdb.open("./lab-archive")
"""

from __future__ import annotations

import os

from segdb.api import Archive
from segdb.archive.records import RoiRecord, SegmentationRecord, SessionRecord, SubjectRecord
from segdb.extractors import ArchiveSegmentationExtractor, MultiSegmentationExtractor
from segdb.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    SchemaVersionError,
    SegDBError,
)

__version__ = "0.1.0"


def open(  # noqa: A001 - segdb.open mirrors h5py.File / zarr.open
    target: str | os.PathLike | None = None,
    *,
    storage_root: str | os.PathLike | None = None,
    create: bool = True,
) -> Archive:
    """Open a segdb archive.

    Parameters
    ----------
    target
        An archive folder (embedded default: ``<folder>/catalog.sqlite`` plus
        ``<folder>/arrays/``) or a database URL such as ``postgresql+psycopg://host/lab``.
        Without one, ``$SEGDB_URL`` is used, then ``./segdb-archive``.
    storage_root
        Where array files live, overriding the root recorded in the catalog (or
        ``$SEGDB_STORAGE_ROOT``); needed when a new database catalog is created.
    create
        Create a missing archive. An existing archive is never migrated: one whose
        schema is behind raises SchemaVersionError naming `segdb db upgrade`.
    """
    return Archive.open(target, storage_root=storage_root, create=create)


__all__ = [
    "open",
    "Archive",
    "ArchiveSegmentationExtractor",
    "MultiSegmentationExtractor",
    "RoiRecord",
    "SegmentationRecord",
    "SessionRecord",
    "SubjectRecord",
    "SegDBError",
    "NotFoundError",
    "InvalidInputError",
    "ConflictError",
    "SchemaVersionError",
    "IntegrityError",
    "__version__",
]
