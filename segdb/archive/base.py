"""The archive's shared state and the references every part of it resolves (segmentations, planes, files)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from segdb.archive.locations import (
    ARRAYS_DIRNAME,
    StorageRoot,
    check_storage_root,
    recorded_archive_id,
    storage_moves,
    url_without_password,
)
from segdb.archive.reader import (
    PlaneHandle,
    plane_handles,
)
from segdb.archive.records import (
    SegmentationRecord,
)
from segdb.archive.values import is_catalog_id
from segdb.arrays import ArrayFile as ArrayFileRef
from segdb.arrays import LocalStore, Store, shared_store
from segdb.catalog import models as m
from segdb.catalog.engine import Catalog
from segdb.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
)

SegmentationRef = int | str | SegmentationRecord
ProgressArg = bool | Callable[[int], None] | None


class ArchiveBase:
    """What every part of the archive shares: the catalog, the storage root, and resolving references.

    ``storage_root`` is a folder (a Path) or a bucket (``"s3://bucket/prefix"``); ``store`` reads and
    writes the files in it.
    """

    def __init__(self, catalog: Catalog, storage_root: StorageRoot, location: str):
        self.catalog = catalog
        self.storage_root = storage_root
        self.location = location
        self.store: Store = shared_store(storage_root)
        with catalog.reading() as db:
            # Which move of the files this archive opened after (see check_files_not_moved).
            self.storage_moves_seen = storage_moves(db)

    @property
    def in_folder(self) -> bool:
        """Whether the array files are in a folder on this machine (not in a bucket)."""
        return isinstance(self.store, LocalStore)

    def close(self) -> None:
        self.catalog.dispose()

    def __enter__(self) -> ArchiveBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def archive_id(self) -> str | None:
        """The archive's id, as its catalog records it and its storage root's marker file repeats it."""
        return recorded_archive_id(self.catalog)

    def check_storage_root(self, *, deleting: bool = False) -> None:
        """Raise IntegrityError unless the storage root is this archive's (see :func:`check_storage_root`).

        Every write of array files calls it first, so an unmounted NAS is refused, not recreated
        locally; ``deleting`` (gc --apply) also refuses a root nothing proves to be this archive's.
        """
        database = self.catalog.engine.url.database if self.catalog.dialect == "sqlite" else None
        beside = database is not None and self.storage_root == Path(database).resolve().parent / ARRAYS_DIRNAME
        check_storage_root(self.catalog, self.store, self.location, beside_catalog=beside, deleting=deleting)

    def check_files_not_moved(self, db: Session) -> None:
        """In the unit of work that records new files: refuse if `segdb storage copy` moved the files since this
        archive was opened, since those files went to the old root, which the catalog no longer names.

        Raises
        ------
        ConflictError
        """
        if storage_moves(db) != self.storage_moves_seen:
            raise ConflictError(
                f"the array files of the archive at {self.location} were moved to a new storage root "
                f"(`segdb storage copy`) while this process wrote into {self.storage_root}; open the archive again "
                "and write it again (the file left in the old root is not part of the archive)"
            )

    def __repr__(self) -> str:
        return f"<segdb.Archive {self.location} ({self.catalog.dialect}), arrays in {self.storage_root}>"

    def resolve_segmentation(self, db: Session, segmentation: SegmentationRef, *, ready_only: bool = True) -> int:
        """The id of a segmentation given as an id, a record or 'subject/session/name', inside the caller's unit of work.

        Raises NotFoundError naming the archive and how to list what it holds; a segmentation
        whose ingest has not finished counts as missing unless ``ready_only`` is False.
        """
        if isinstance(segmentation, SegmentationRecord):
            segmentation = segmentation.segmentation_id
        if isinstance(segmentation, (bool, np.bool_)):
            raise InvalidInputError(f"{segmentation!r} is not a segmentation; pass its id or 'subject/session/name'")
        if isinstance(segmentation, (int, np.integer)) and not is_catalog_id(segmentation):
            raise NotFoundError(
                f"segmentation {int(segmentation)} is not in the archive at {self.location}: ids are positive "
                "integers below 2**63; list them with `segdb ls segmentations`"
            )
        if isinstance(segmentation, (int, np.integer)):
            query = select(m.Segmentation.segmentation_id, m.Segmentation.status).where(
                m.Segmentation.segmentation_id == int(segmentation)
            )
            described = f"segmentation {int(segmentation)}"
        elif isinstance(segmentation, str):
            parts = segmentation.split("/")
            if len(parts) != 3 or not all(parts):
                raise InvalidInputError(
                    f"segmentation {segmentation!r} is not an id or 'subject/session/name'; "
                    "list them with `segdb ls segmentations`"
                )
            query = (
                select(m.Segmentation.segmentation_id, m.Segmentation.status)
                .join(m.Segmentation.session)
                .join(m.ImagingSession.subject)
                .where(
                    m.Subject.subject_name == parts[0],
                    m.ImagingSession.session_name == parts[1],
                    m.Segmentation.segmentation_name == parts[2],
                )
            )
            described = f"segmentation {segmentation!r}"
        else:
            raise InvalidInputError(
                f"{segmentation!r} is not a segmentation; pass its id, its record, or 'subject/session/name'"
            )
        row = db.execute(query).first()
        if row is None or (ready_only and row.status != "ready"):
            count = db.scalar(select(func.count()).select_from(m.Segmentation).where(m.Segmentation.status == "ready"))
            state = "" if row is None else " (its ingest has not finished; `segdb gc` reports unfinished ingests)"
            raise NotFoundError(
                f"{described} is not in the archive at {self.location}{state}; it holds {count} segmentation(s): "
                "list them with `segdb ls segmentations`"
            )
        return int(row.segmentation_id)

    def plane_handles(self, segmentation: SegmentationRef) -> list[PlaneHandle]:
        """Lazy handles on every plane of a segmentation (no array file is opened)."""
        with self.catalog.reading() as db:
            return plane_handles(db, self.storage_root, self.resolve_segmentation(db, segmentation))

    def plane_handle(self, segmentation: SegmentationRef, plane: str | None = None) -> PlaneHandle:
        """One plane of a segmentation: its ROI keys and lazy references to its arrays (nothing is read).

        ``plane`` may be left out when the segmentation has one plane.
        """
        handles = self.plane_handles(segmentation)
        return handles[_plane_position(handles[0].segmentation_id, plane, [h.plane_name for h in handles])]

    def resolve_plane(self, db: Session, segmentation: SegmentationRef, plane: str | None = None) -> tuple[int, int, str]:
        """(segmentation id, plane id, plane name) of one plane of a segmentation, inside the caller's unit of work.

        ``plane`` may be left out when the segmentation has one plane.
        """
        seg_id = self.resolve_segmentation(db, segmentation)
        planes = db.execute(
            select(m.ImagingPlane.plane_id, m.ImagingPlane.plane_name)
            .join(m.SegmentationPlane, m.SegmentationPlane.plane_id == m.ImagingPlane.plane_id)
            .where(m.SegmentationPlane.segmentation_id == seg_id)
            .order_by(m.SegmentationPlane.plane_index)
        ).all()
        plane_id, name = planes[_plane_position(seg_id, plane, [name for _, name in planes])]
        return seg_id, plane_id, name

    def reopen_spec(self) -> tuple[str, str]:
        """What another process needs to open this archive again: the catalog URL without its password, and
        the storage root. :func:`segdb.archive.reopen` finds the password where the driver would."""
        return url_without_password(self.catalog.url), str(self.storage_root)

    def array_file(self, relative_path: str, size_bytes: int | None = None, sha256: str | None = None) -> ArrayFileRef:
        """A lazy handle on one of the archive's chunk files (nothing is opened yet)."""
        return ArrayFileRef(self.storage_root, relative_path, size_bytes=size_bytes, sha256=sha256)


def _plane_position(segmentation_id: int, plane: str | None, names: list[str]) -> int:
    """Which of a segmentation's planes ``plane`` names; None names the only one."""
    if plane is None:
        if len(names) == 1:
            return 0
        raise InvalidInputError(
            f"segmentation {segmentation_id} has planes {names}; pass plane=NAME (--plane NAME), or use "
            "archive.multiplane_extractor for all of them"
        )
    if plane not in names:
        raise NotFoundError(f"plane {plane!r} is not part of segmentation {segmentation_id}; its planes are {names}")
    return names.index(plane)
