"""segdb: a lab archive for calcium-imaging segmentations.

>>> import segdb
>>> archive = segdb.open("./lab-archive")

The public names below are loaded on first use, so ``import segdb.masks`` (pure
numpy/scipy) does not pull in the SQL catalog.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from segdb import errors
from segdb.errors import (  # noqa: F401 - re-exported through errors.__all__
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    SchemaVersionError,
    SegDBError,
    StorageUnavailableError,
)
from segdb.version import __version__

if TYPE_CHECKING:
    from segdb.api import Archive

_LAZY = {
    "Archive": "segdb.api",
    "QueryResult": "segdb.api",
    "RoiHit": "segdb.archive.query",
    "ArchiveSegmentationExtractor": "segdb.extractors",
    "MultiSegmentationExtractor": "segdb.extractors",
    "RoiRecord": "segdb.archive.records",
    "SegmentationRecord": "segdb.archive.records",
    "SessionRecord": "segdb.archive.records",
    "SubjectRecord": "segdb.archive.records",
    "RoiMask": "segdb.masks",
    "NeuropilMask": "segdb.masks",
    "create_roi_mask": "segdb.masks",
    "create_neuropil_mask": "segdb.masks",
    "create_roi_mask_array": "segdb.masks",
    "validate_mask": "segdb.masks",
    "calculate_traces": "segdb.masks",
    "calculate_roi_and_neuropil_traces": "segdb.masks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segdb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    from segdb.api import Archive

    return Archive.open(target, storage_root=storage_root, create=create)


__all__ = [
    "open",
    *_LAZY,
    *errors.__all__,
    "__version__",
]
