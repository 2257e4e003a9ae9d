"""The archive: the only layer that joins the SQL catalog and the HDF5 arrays.

Writes follow one rule: arrays first, rows second. An ingest reserves its
segmentation (status 'writing', invisible to readers), writes its chunk files
(temp name, fsync, rename, sha256), then commits every row in one transaction
and flips the status to 'ready'. A crash leaves at worst files that no row
references and a 'writing' reservation; `segdb gc` reports both.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from roiextractors import SegmentationExtractor
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from segdb.archive.consensus import accepted_clause, check_policy, consensus
from segdb.archive.filters import WhereSpec, roi_filter
from segdb.archive.payload import (
    PlanePayload,
    PropertyColumn,
    RoiGeometry,
    payload_from_extractor,
    property_column,
)
from segdb.archive.properties import encode_property_value
from segdb.archive.query import RoiHit, RoiQuery
from segdb.archive.reader import (
    PlaneHandle,
    plane_handles,
    plane_properties,
    plane_property_names,
    property_descriptions,
)
from segdb.archive.records import (
    FileProblem,
    GcReport,
    PlaneRecord,
    RoiRecord,
    SegmentationRecord,
    SessionRecord,
    SubjectRecord,
    VerifyReport,
)
from segdb.archive.values import (
    as_utc,
    check_name,
    current_user,
    jsonable,
    parse_datetime,
    positive_finite,
    roi_key_value,
    slug,
)
from segdb.arrays import ArrayFile as ArrayFileRef
from segdb.arrays import (
    PlaneArrays,
    check_relative_path,
    resolve_in_root,
    sha256_file,
    write_chunk_file,
    write_trace_file,
)
from segdb.catalog import models as m
from segdb.catalog.engine import Catalog
from segdb.catalog.queries import get_or_create
from segdb.catalog.schema import (
    SCHEMA_REVISION,
    catalog_has_tables,
    check_schema,
    upgrade,
)
from segdb.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    SegDBError,
)
from segdb.geometry import CsrMasks, apply_affine
from segdb.progress import progress_bar
from segdb.version import __version__

CATALOG_FILENAME = "catalog.sqlite"
ARRAYS_DIRNAME = "arrays"
DEFAULT_ARCHIVE = "./segdb-archive"
STORAGE_ROOT_SETTING = "storage_root"
SegmentationRef = int | str | SegmentationRecord
# Every table whose rows reference an array file (each also names its segmentation).
FILE_REFERENCES = (m.SegmentationPlane, m.TraceSeries, m.SummaryImage, m.MaskSet)
ProgressArg = bool | Callable[[int], None] | None


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
        return ArchiveTarget(url=text, location=_redact(text), storage_root=root, is_folder=False)
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


def _recorded_storage_root(catalog: Catalog, location: str) -> Path:
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


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


class Archive:
    """A segdb archive: catalog rows in SQL, arrays in write-once HDF5 chunk files.

    Open one with :func:`segdb.open`.
    """

    def __init__(self, catalog: Catalog, storage_root: Path, location: str):
        self.catalog = catalog
        self.storage_root = storage_root
        self.location = location

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        target: str | os.PathLike | None = None,
        *,
        storage_root: str | os.PathLike | None = None,
        create: bool = True,
    ) -> Archive:
        """Open the archive at ``target`` (a folder or a database URL).

        A missing archive is created at the current schema when ``create`` is true;
        an existing one is never migrated: if its schema is behind, this raises
        SchemaVersionError naming `segdb db upgrade`.
        """
        where = resolve_target(target, storage_root)
        if where.is_folder:
            catalog_path = Path(where.location) / CATALOG_FILENAME
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
            root = where.storage_root or _recorded_storage_root(catalog, where.location)
        except BaseException:
            catalog.dispose()
            raise
        return cls(catalog, root, where.location)

    @classmethod
    def create(cls, target: str | os.PathLike | None, *, storage_root: str | os.PathLike | None = None) -> Archive:
        """Create a new, empty archive at the current schema (what `segdb init` does)."""
        where = resolve_target(target, storage_root)
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
            upgrade(catalog.engine, SCHEMA_REVISION)
            assert where.storage_root is not None
            where.storage_root.mkdir(parents=True, exist_ok=True)
            if not where.is_folder:
                with catalog.writing() as session:
                    session.add(m.ArchiveSetting(setting_name=STORAGE_ROOT_SETTING, setting_value=str(where.storage_root)))
        except BaseException:
            catalog.dispose()
            raise
        return cls(catalog, where.storage_root, where.location)

    def close(self) -> None:
        self.catalog.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<segdb.Archive {self.location} ({self.catalog.dialect}), arrays in {self.storage_root}>"

    # -- reading the catalog -------------------------------------------------------------------

    def subjects(self) -> list[SubjectRecord]:
        with self.catalog.reading() as session:
            rows = session.execute(
                select(m.Subject, func.count(m.ImagingSession.session_id))
                .outerjoin(m.ImagingSession, m.ImagingSession.subject_id == m.Subject.subject_id)
                .group_by(m.Subject.subject_id)
                .order_by(m.Subject.subject_name)
            ).all()
            return [SubjectRecord(s.subject_id, s.subject_name, s.species, int(n)) for s, n in rows]

    def sessions(self, subject: str | None = None) -> list[SessionRecord]:
        ready = (
            select(m.Segmentation.session_id, func.count().label("n"))
            .where(m.Segmentation.status == "ready")
            .group_by(m.Segmentation.session_id)
            .subquery()
        )
        query = (
            select(m.ImagingSession, m.Subject.subject_name, ready.c.n)
            .join(m.Subject, m.Subject.subject_id == m.ImagingSession.subject_id)
            .outerjoin(ready, ready.c.session_id == m.ImagingSession.session_id)
            .order_by(m.Subject.subject_name, m.ImagingSession.session_start, m.ImagingSession.session_name)
        )
        if subject is not None:
            query = query.where(m.Subject.subject_name == subject)
        with self.catalog.reading() as session:
            return [
                SessionRecord(s.session_id, subj, s.session_name, as_utc(s.session_start), int(n or 0))
                for s, subj, n in session.execute(query).all()
            ]

    def segmentations(
        self,
        subject: str | None = None,
        session: str | None = None,
        *,
        include_unfinished: bool = False,
    ) -> list[SegmentationRecord]:
        """Segmentations in the archive, newest session last; only finished ones unless asked."""
        query = _segmentation_query()
        if subject is not None:
            query = query.where(m.Subject.subject_name == subject)
        if session is not None:
            query = query.where(m.ImagingSession.session_name == session)
        if not include_unfinished:
            query = query.where(m.Segmentation.status == "ready")
        with self.catalog.reading() as db:
            return _segmentation_records(db, db.execute(query).all())

    def segmentation(self, segmentation: SegmentationRef) -> SegmentationRecord:
        """One segmentation, by id, record, or 'subject/session/name'."""
        with self.catalog.reading() as db:
            seg_id = self.resolve_segmentation(db, segmentation)
            rows = db.execute(_segmentation_query().where(m.Segmentation.segmentation_id == seg_id)).all()
            return _segmentation_records(db, rows)[0]

    def planes(self, segmentation: SegmentationRef) -> list[PlaneRecord]:
        with self.catalog.reading() as db:
            seg_id = self.resolve_segmentation(db, segmentation)
            rows = db.execute(
                select(m.ImagingPlane, m.FieldOfView.fov_name)
                .join(m.SegmentationPlane, m.SegmentationPlane.plane_id == m.ImagingPlane.plane_id)
                .outerjoin(m.FieldOfView, m.FieldOfView.fov_id == m.ImagingPlane.fov_id)
                .where(m.SegmentationPlane.segmentation_id == seg_id)
                .order_by(m.SegmentationPlane.plane_index)
            ).all()
            return [_plane_record(p, fov) for p, fov in rows]

    def rois(
        self, segmentation: SegmentationRef, *, plane: str | None = None, kind: str | None = "cell"
    ) -> list[RoiRecord]:
        """ROIs of a segmentation in catalog order (plane by plane, then mask order)."""
        if kind not in (None, *m.ROI_KINDS):
            raise InvalidInputError(f"ROI kind {kind!r} is not one of {m.ROI_KINDS} (or None for both)")
        with self.catalog.reading() as db:
            seg_id = self.resolve_segmentation(db, segmentation)
            query = (
                select(m.Roi, m.ImagingPlane.plane_name)
                .join(m.ImagingPlane, m.ImagingPlane.plane_id == m.Roi.plane_id)
                .join(
                    m.SegmentationPlane,
                    (m.SegmentationPlane.segmentation_id == m.Roi.segmentation_id)
                    & (m.SegmentationPlane.plane_id == m.Roi.plane_id),
                )
                .where(m.Roi.segmentation_id == seg_id)
                .order_by(m.SegmentationPlane.plane_index, m.Roi.kind.desc(), m.Roi.mask_index)
            )
            if plane is not None:
                query = query.where(m.ImagingPlane.plane_name == plane)
            if kind is not None:
                query = query.where(m.Roi.kind == kind)
            return [_roi_record(roi, plane_name) for roi, plane_name in db.execute(query).all()]

    def resolve_segmentation(self, db: Session, segmentation: SegmentationRef, *, ready_only: bool = True) -> int:
        """The id of a segmentation given as an id, a record or 'subject/session/name', inside the caller's unit of work.

        Raises NotFoundError naming the archive and how to list what it holds; a segmentation
        whose ingest has not finished counts as missing unless ``ready_only`` is False.
        """
        if isinstance(segmentation, SegmentationRecord):
            segmentation = segmentation.segmentation_id
        if isinstance(segmentation, (bool, np.bool_)):
            raise InvalidInputError(f"{segmentation!r} is not a segmentation; pass its id or 'subject/session/name'")
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
                .join(m.ImagingSession, m.ImagingSession.session_id == m.Segmentation.session_id)
                .join(m.Subject, m.Subject.subject_id == m.ImagingSession.subject_id)
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

    # -- ingest -------------------------------------------------------------------------------

    def ingest(
        self,
        extractor: SegmentationExtractor | Mapping[str, SegmentationExtractor],
        *,
        subject: str,
        session: str,
        plane: str | None = None,
        name: str | None = None,
        source_format: str | None = None,
        source_path: str | os.PathLike | None = None,
        parameters: Mapping[str, Any] | None = None,
        session_start: dt.datetime | str | None = None,
        field_of_view: str | None = None,
        pixel_size_um: float = 1.0,
        origin_um: Sequence[float] = (0.0, 0.0, 0.0),
        species: str | None = None,
        created_by: str | None = None,
        progress: ProgressArg = None,
    ) -> SegmentationRecord:
        """Archive a segmentation from any roiextractors SegmentationExtractor.

        Parameters
        ----------
        extractor
            One extractor (one plane, named ``plane``, default "plane0"), or a mapping of plane
            name to extractor for a multi-plane segmentation.
        subject, session
            Created if they do not exist yet.
        name
            The segmentation's name within its session (default: the source format).
        progress
            True for a progress bar, False for none, a callable to receive sample counts;
            None shows a bar only on a terminal.

        Everything is validated before anything is written; a failure leaves no rows and no files.
        """
        plane_extractors = _plane_extractors(extractor, plane)
        source_format = source_format or _source_format(next(iter(plane_extractors.values())))
        name = name or source_format
        for label, value in (("subject", subject), ("session", session), ("segmentation name", name)):
            check_name(label, value)
        if field_of_view is not None:
            check_name("field of view", field_of_view)
        pixel_size_um = positive_finite("pixel_size_um", pixel_size_um)
        origin = tuple(float(v) for v in origin_um)
        if len(origin) != 3 or not all(math.isfinite(v) for v in origin):
            raise InvalidInputError(f"origin_um is {origin_um!r}; give three finite numbers (x, y, z) in µm")
        started = parse_datetime(session_start)
        payloads = [payload_from_extractor(ex, plane_name) for plane_name, ex in plane_extractors.items()]
        seg_id = self._reserve_segmentation(
            subject=subject,
            session=session,
            name=name,
            species=species,
            session_start=started,
            source_format=source_format,
            source_path=None if source_path is None else str(source_path),
            parameters=jsonable(dict(parameters or {}), "parameters"),
            created_by=created_by or os.environ.get("SEGDB_CURATOR") or current_user(),
        )
        written: list[Path] = []
        try:
            files = []
            total = sum(p.num_samples for p in payloads)
            with progress_bar(progress, total=total, desc=f"ingest {subject}/{session}/{name}", unit="samples") as tick:
                for payload in payloads:
                    relative = self._new_array_path(subject, session, seg_id, payload.plane_name)
                    result = write_chunk_file(
                        self.storage_root, relative, _plane_arrays(payload, source_format), progress=tick
                    )
                    written.append(resolve_in_root(self.storage_root, result.relative_path))
                    files.append(result)
            self.catalog.write_with_retry(
                lambda db: self._insert_planes(
                    db, seg_id, payloads, files, field_of_view=field_of_view, pixel_size_um=pixel_size_um, origin=origin
                )
            )
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            self._drop_reservation(seg_id)
            raise
        return self.segmentation(seg_id)

    def _reserve_segmentation(self, *, subject: str, session: str, name: str, species: str | None,
                              session_start: dt.datetime | None, **fields: Any) -> int:
        def reserve(db: Session) -> int:
            subject_id = get_or_create(db, m.Subject, {"subject_name": subject}, {"species": species})
            session_id = get_or_create(
                db, m.ImagingSession, {"subject_id": subject_id, "session_name": session},
                {"session_start": session_start},
            )
            existing = db.execute(
                select(m.Segmentation).where(
                    m.Segmentation.session_id == session_id, m.Segmentation.segmentation_name == name
                )
            ).scalar_one_or_none()
            if existing is not None:
                if existing.status == "writing":
                    raise ConflictError(
                        f"segmentation {subject}/{session}/{name} is being ingested by {existing.writer_host} "
                        f"(pid {existing.writer_pid}) since {existing.created_at:%Y-%m-%d %H:%M}; if that ingest "
                        "crashed, clear it with `segdb gc --apply`, or choose another name"
                    )
                raise ConflictError(
                    f"session {subject}/{session} already has a segmentation named {name!r} "
                    f"(id {existing.segmentation_id}); pass another name (--name) or delete the old one first"
                )
            seg = m.Segmentation(
                session_id=session_id,
                segmentation_name=name,
                status="writing",
                writer_host=socket.gethostname(),
                writer_pid=os.getpid(),
                **fields,
            )
            db.add(seg)
            db.flush()
            return seg.segmentation_id

        return self.catalog.write_with_retry(reserve)

    def _drop_reservation(self, seg_id: int) -> None:
        """Undo a reservation, and the subject and session it created if nothing else uses them."""
        try:
            with self.catalog.writing() as db:
                seg = db.get(m.Segmentation, seg_id)
                if seg is None or seg.status != "writing":
                    return
                session_row = db.get(m.ImagingSession, seg.session_id)
                db.delete(seg)
                db.flush()
                _delete_if_unused(db, session_row)
        except SegDBError:
            # The reservation stays 'writing' and invisible; `segdb gc` clears it.
            pass

    def _new_array_path(self, subject: str, session: str, seg_id: int, plane_name: str) -> str:
        return check_relative_path(
            f"{slug(subject)}/{slug(session)}/seg-{seg_id:06d}/{slug(plane_name)}-{uuid.uuid4().hex[:12]}.h5"
        )

    def _insert_planes(self, db: Session, seg_id: int, payloads: list[PlanePayload], files: list, *,
                       field_of_view: str | None, pixel_size_um: float, origin: tuple[float, float, float]) -> None:
        seg = db.get(m.Segmentation, seg_id)
        if seg is None or seg.status != "writing":
            raise ConflictError(
                f"segmentation {seg_id} was removed while it was being ingested (did `segdb gc --apply` run?); "
                "ingest it again"
            )
        session_row = db.get(m.ImagingSession, seg.session_id)
        described: set[str] = set()
        for index, (payload, written) in enumerate(zip(payloads, files)):
            # Without a named field of view, a plane name is one place per subject: plane0 of every
            # session of m12 is registered and matched together. Several planes get one each.
            if field_of_view is None:
                fov_name = payload.plane_name
            else:
                fov_name = field_of_view if len(payloads) == 1 else f"{field_of_view}:{payload.plane_name}"
            fov_id = get_or_create(db, m.FieldOfView, {"subject_id": session_row.subject_id, "fov_name": fov_name})
            plane = self._plane_for(db, seg.session_id, payload, fov_id, pixel_size_um, origin)
            plane_id = plane.plane_id
            file_row = m.ArrayFile(
                relative_path=check_relative_path(written.relative_path),
                size_bytes=written.size_bytes,
                sha256=written.sha256,
            )
            db.add(file_row)
            db.flush()
            db.add(
                m.SegmentationPlane(
                    segmentation_id=seg_id,
                    plane_id=plane_id,
                    plane_index=index,
                    array_file_id=file_row.array_file_id,
                    num_samples=payload.num_samples,
                    num_rois=len(payload.roi_keys),
                    num_background=len(payload.background_keys),
                    sampling_frequency=payload.sampling_frequency,
                    channel_names=payload.channel_names,
                    timestamps_dataset="timestamps" if payload.timestamps is not None else None,
                )
            )
            db.flush()
            roi_ids = _insert_rois(db, seg_id, plane, payload)
            _insert_properties(db, seg_id, roi_ids, payload.properties, described)
            _insert_pipeline_decisions(db, seg_id, seg.source_format, roi_ids, payload.source_accepted)
            for kind, group, traces in (
                ("cell", "traces", payload.traces),
                ("background", "background_traces", payload.background_traces),
            ):
                for trace_name, data in traces.items():
                    info = written.datasets[f"{group}/{trace_name}"]
                    db.add(
                        m.TraceSeries(
                            segmentation_id=seg_id, plane_id=plane_id, trace_name=trace_name, kind=kind,
                            array_file_id=file_row.array_file_id, dataset=f"{group}/{trace_name}",
                            num_samples=int(info.shape[0]), num_columns=int(info.shape[1]), dtype=str(info.dtype),
                        )
                    )
            for image_name, image in payload.images.items():
                db.add(
                    m.SummaryImage(
                        segmentation_id=seg_id, plane_id=plane_id, image_name=image_name,
                        array_file_id=file_row.array_file_id, dataset=f"images/{image_name}",
                        height=int(image.shape[0]), width=int(image.shape[1]), dtype=image.dtype.str,
                    )
                )
        seg.status = "ready"

    def _plane_for(self, db: Session, session_id: int, payload: PlanePayload, fov_id: int | None,
                   pixel_size_um: float, origin: tuple[float, float, float]) -> m.ImagingPlane:
        height, width = payload.frame_shape
        plane = db.execute(
            select(m.ImagingPlane).where(
                m.ImagingPlane.session_id == session_id, m.ImagingPlane.plane_name == payload.plane_name
            )
        ).scalar_one_or_none()
        if plane is None:
            plane = m.ImagingPlane(
                session_id=session_id, fov_id=fov_id, plane_name=payload.plane_name, height=height, width=width,
                pixel_size_um=pixel_size_um, origin_x_um=origin[0], origin_y_um=origin[1], origin_z_um=origin[2],
                sampling_frequency=payload.sampling_frequency, channel_names=payload.channel_names,
            )
            db.add(plane)
            db.flush()
            return plane
        if (plane.height, plane.width) != (height, width):
            raise InvalidInputError(
                f"plane {payload.plane_name!r} of this session is already archived as {plane.height} x {plane.width} "
                f"pixels, but this segmentation's frame is {height} x {width}; use another plane name for a "
                "different field of view"
            )
        if plane.fov_id is None:
            plane.fov_id = fov_id
        return plane

    # -- deleting -----------------------------------------------------------------------------

    def delete_segmentation(self, segmentation: SegmentationRef, *, force: bool = False) -> SegmentationRecord:
        """Remove a segmentation's rows in one transaction, then its array files.

        A segmentation that people have curated is kept unless ``force`` is true: deleting it
        deletes their decisions too.
        """
        record = self.segmentation(segmentation)
        seg_id = record.segmentation_id

        def remove(db: Session) -> list[str]:
            curated = db.scalar(
                select(func.count())
                .select_from(m.CurationEvent)
                .join(m.Curator, m.Curator.curator_id == m.CurationEvent.curator_id)
                .where(m.CurationEvent.segmentation_id == seg_id, m.Curator.is_pipeline.is_(False))
            )
            if curated and not force:
                raise ConflictError(
                    f"segmentation {seg_id} holds {curated} curation decision(s) made by people; deleting it deletes "
                    "them too. Export them first (segdb curate export), then delete with force=True (--force)"
                )
            file_ids = {
                file_id
                for table in FILE_REFERENCES
                for file_id in db.scalars(select(table.array_file_id).where(table.segmentation_id == seg_id))
            }
            db.execute(delete(m.Segmentation).where(m.Segmentation.segmentation_id == seg_id))
            db.flush()
            return _drop_unreferenced_files(db, file_ids)

        self._unlink_files(self.catalog.write_with_retry(remove))
        return record

    def _unlink_files(self, relative_paths: Iterable[str]) -> None:
        """Delete files whose rows are already gone; one that resists is an orphan `segdb gc` reports."""
        for relative in relative_paths:
            try:
                resolve_in_root(self.storage_root, relative).unlink(missing_ok=True)
            except (OSError, IntegrityError):
                continue

    # -- integrity ----------------------------------------------------------------------------

    def array_files(self) -> list[tuple[str, int, str]]:
        with self.catalog.reading() as db:
            return [
                (r.relative_path, int(r.size_bytes), r.sha256)
                for r in db.execute(select(m.ArrayFile).order_by(m.ArrayFile.relative_path)).scalars()
            ]

    def verify(self, *, progress: ProgressArg = None) -> VerifyReport:
        """Recompute the sha256 of every array file and name each missing or damaged one."""
        files = self.array_files()
        problems: list[FileProblem] = []
        checked_bytes = 0
        with progress_bar(progress, total=sum(f[1] for f in files), desc="verify", unit="B") as tick:
            for relative, size, digest in files:
                problem = self._file_problem(relative, size, digest)
                if problem:
                    problems.append(FileProblem(relative, problem))
                checked_bytes += size
                tick(size)
        return VerifyReport(files_checked=len(files), bytes_checked=checked_bytes, problems=tuple(problems))

    def _file_problem(self, relative: str, size: int, digest: str) -> str | None:
        try:
            path = resolve_in_root(self.storage_root, relative)
        except IntegrityError as exc:
            return str(exc)
        if not path.is_file():
            return "missing"
        actual_size = path.stat().st_size
        if actual_size != size:
            return f"damaged: {actual_size} bytes, the catalog recorded {size}"
        actual = sha256_file(path)
        if actual != digest:
            return f"damaged: sha256 {actual[:12]}…, the catalog recorded {digest[:12]}…"
        return None

    def gc(self, *, apply: bool = False, older_than: dt.timedelta = dt.timedelta(hours=6)) -> GcReport:
        """Find files under the storage root that no row references, and unfinished ingests.

        Nothing is deleted unless ``apply`` is true. An ingest still running (its process
        alive on this host, or younger than ``older_than`` on another host) is left alone.
        """
        with self.catalog.reading() as db:
            referenced = set(db.scalars(select(m.ArrayFile.relative_path)))
            unfinished = db.execute(select(m.Segmentation).where(m.Segmentation.status == "writing")).scalars().all()
            stale = [s.segmentation_id for s in unfinished if not _writer_alive(s, older_than)]
            live = {s.segmentation_id for s in unfinished} - set(stale)
        orphans = []
        orphan_bytes = 0
        root = self.storage_root
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
                relative = path.relative_to(root).as_posix()
                if relative in referenced or _segmentation_of(relative) in live:
                    continue
                orphans.append(relative)
                orphan_bytes += path.lstat().st_size
        if apply:
            if stale:
                with self.catalog.writing() as db:
                    db.execute(
                        delete(m.Segmentation).where(
                            m.Segmentation.segmentation_id.in_(stale), m.Segmentation.status == "writing"
                        )
                    )
            for relative in orphans:
                (root / relative).unlink(missing_ok=True)
            _remove_empty_dirs(root)
        return GcReport(tuple(orphans), orphan_bytes, tuple(stale), apply)

    # -- cross-session queries ----------------------------------------------------------------

    def query_rois(self, **filters: Any) -> list[RoiHit]:
        """ROIs across sessions matching every filter, answered in SQL; see :class:`RoiQuery`."""
        query = RoiQuery(**filters)
        with self.catalog.reading() as db:
            return query.run(db)

    def count_rois(self, **filters: Any) -> int:
        """How many ROIs a query finds, counted in SQL."""
        query = RoiQuery(**filters)
        with self.catalog.reading() as db:
            return query.count(db)

    def explain_query(self, *, count: bool = False, **filters: Any) -> str:
        """The database's plan for a query (which indexes it uses); ``count`` for counting it."""
        query = RoiQuery(**filters)
        with self.catalog.reading() as db:
            return query.explain(db, count=count)

    # -- arrays for the layers above ----------------------------------------------------------

    def plane_handles(self, segmentation: SegmentationRef) -> list[PlaneHandle]:
        """Lazy handles on every plane of a segmentation (no array file is opened)."""
        with self.catalog.reading() as db:
            return plane_handles(db, self.storage_root, self.resolve_segmentation(db, segmentation))

    def matching_mask_indices(
        self, segmentation: SegmentationRef, plane: str, where: WhereSpec, *, curation: str = "latest"
    ) -> tuple[list[int], list[int]]:
        """Mask indices of a plane's cells and background components that satisfy ``where``, in SQL.

        'accepted' in the filter means accepted under the curation policy ``curation``.
        """
        check_policy(curation)
        with self.catalog.reading() as db:
            seg_id = self.resolve_segmentation(db, segmentation)
            condition = roi_filter(where, [seg_id], accepted=accepted_clause(seg_id, curation))
            rows = db.execute(
                select(m.Roi.kind, m.Roi.mask_index)
                .join(m.ImagingPlane, m.ImagingPlane.plane_id == m.Roi.plane_id)
                .where(m.Roi.segmentation_id == seg_id, m.ImagingPlane.plane_name == plane, condition)
                .order_by(m.Roi.kind.desc(), m.Roi.mask_index)
            ).all()
        cells = [int(i) for kind, i in rows if kind == "cell"]
        background = [int(i) for kind, i in rows if kind == "background"]
        return cells, background

    def set_roi_property(
        self,
        segmentation: SegmentationRef,
        plane: str,
        name: str,
        values_by_mask_index: Mapping[int, Any],
        *,
        description: str = "",
    ) -> None:
        """Write a property of some cell ROIs of a plane (insert or replace), visible to every reader."""
        check_name("property name", name)
        indices = list(values_by_mask_index)
        values = np.asarray([values_by_mask_index[i] for i in indices])
        column = property_column(name, values, description, f"plane {plane!r}")

        def write(db: Session) -> None:
            seg_id = self.resolve_segmentation(db, segmentation)
            found = dict(
                db.execute(
                    select(m.Roi.mask_index, m.Roi.roi_id)
                    .join(m.ImagingPlane, m.ImagingPlane.plane_id == m.Roi.plane_id)
                    .where(
                        m.Roi.segmentation_id == seg_id,
                        m.ImagingPlane.plane_name == plane,
                        m.Roi.kind == "cell",
                        m.Roi.mask_index.in_(indices),
                    )
                ).all()
            )
            roi_ids = [found[i] for i in indices]
            described = db.get(m.PropertyDescription, (seg_id, name))
            if described is None:
                db.add(
                    m.PropertyDescription(
                        segmentation_id=seg_id, property_name=name, description=description,
                        value_dtype=column.value_dtype, value_shape=list(column.value_shape),
                    )
                )
            else:
                described.value_dtype = column.value_dtype
                described.value_shape = list(column.value_shape)
                if description:
                    described.description = description
            db.execute(
                delete(m.RoiProperty).where(m.RoiProperty.roi_id.in_(roi_ids), m.RoiProperty.property_name == name)
            )
            db.flush()
            _insert_properties(db, seg_id, roi_ids, [column], {name})

        self.catalog.write_with_retry(write)

    def add_trace_series(
        self,
        segmentation: SegmentationRef,
        plane: str,
        traces: Mapping[str, Any],
        *,
        mask_set: tuple[str, CsrMasks] | None = None,
        parameters: Mapping[str, Any] | None = None,
        replace: bool = False,
        progress: ProgressArg = None,
    ) -> None:
        """Add trace series (and optionally a set of derived masks) to one plane, in a new chunk file.

        Each series is (num_samples, num_rois) in the plane's ROI order. Existing series of the
        same name are a ConflictError unless ``replace`` is true; old chunk files are never changed.
        """
        handle = self.plane_handle(segmentation, plane)
        if not traces:
            raise InvalidInputError("add_trace_series needs at least one trace series")
        for name, data in traces.items():
            check_name("trace name", name)
            shape = tuple(np.shape(data))
            if shape != (handle.num_samples, len(handle.roi_keys)):
                raise InvalidInputError(
                    f"trace series {name!r} has shape {shape}, but plane {plane!r} of segmentation "
                    f"{handle.segmentation_id} has {handle.num_samples} samples x {len(handle.roi_keys)} ROIs"
                )
        clashes = sorted(set(traces) & set(handle.traces))
        if mask_set is not None and mask_set[0] in handle.mask_sets:
            clashes.append(f"mask set {mask_set[0]!r}")
        if clashes and not replace:
            raise ConflictError(
                f"plane {plane!r} of segmentation {handle.segmentation_id} already has {clashes}; choose other "
                "names or pass replace=True (--replace) to point them at the new data"
            )
        with self.catalog.reading() as db:
            seg = db.get(m.Segmentation, handle.segmentation_id)
            session_row = db.get(m.ImagingSession, seg.session_id)
            subject = db.get(m.Subject, session_row.subject_id).subject_name
            session_name = session_row.session_name
        relative = self._new_array_path(subject, session_name, handle.segmentation_id, f"{plane}-derived")
        with progress_bar(progress, total=handle.num_samples * len(traces), desc="write traces", unit="samples") as tick:
            if mask_set is None:
                written = write_trace_file(self.storage_root, relative, dict(traces), progress=tick)
            else:
                written = write_chunk_file(
                    self.storage_root,
                    relative,
                    PlaneArrays(masks=mask_set[1], background_masks=None, traces=dict(traces),
                                background_traces={}, images={}, timestamps=None,
                                attributes={"derived_from": str(handle.segmentation_id), "plane": plane}),
                    progress=tick,
                )
        path = resolve_in_root(self.storage_root, written.relative_path)

        def record(db: Session) -> list[str]:
            file_row = m.ArrayFile(relative_path=written.relative_path, size_bytes=written.size_bytes,
                                   sha256=written.sha256)
            db.add(file_row)
            db.flush()
            keys = dict(segmentation_id=handle.segmentation_id, plane_id=handle.plane_id)
            replaced_files = set()
            for name in traces:
                old = db.execute(select(m.TraceSeries).filter_by(kind="cell", trace_name=name, **keys)).scalar_one_or_none()
                if old is not None:
                    replaced_files.add(old.array_file_id)
                    db.delete(old)
                    db.flush()
                info = written.datasets[f"traces/{name}"]
                db.add(m.TraceSeries(kind="cell", trace_name=name, array_file_id=file_row.array_file_id,
                                     dataset=f"traces/{name}", num_samples=int(info.shape[0]),
                                     num_columns=int(info.shape[1]), dtype=str(info.dtype), **keys))
            if mask_set is not None:
                old = db.execute(
                    select(m.MaskSet).filter_by(mask_set_name=mask_set[0], **keys)
                ).scalar_one_or_none()
                if old is not None:
                    replaced_files.add(old.array_file_id)
                    db.delete(old)
                    db.flush()
                db.add(m.MaskSet(mask_set_name=mask_set[0], array_file_id=file_row.array_file_id, csr_group="masks",
                                 num_masks=len(mask_set[1]), parameters=jsonable(dict(parameters or {}), "parameters"),
                                 **keys))
            db.flush()
            return _drop_unreferenced_files(db, replaced_files)

        try:
            unreferenced = self.catalog.write_with_retry(record)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self._unlink_files(unreferenced)

    def plane_handle(self, segmentation: SegmentationRef, plane: str | None = None) -> PlaneHandle:
        """One plane of a segmentation: its ROI keys and lazy references to its arrays (nothing is read).

        ``plane`` may be left out when the segmentation has one plane.
        """
        handles = self.plane_handles(segmentation)
        if plane is None and len(handles) == 1:
            return handles[0]
        for handle in handles:
            if handle.plane_name == plane:
                return handle
        raise NotFoundError(
            f"plane {plane!r} is not part of segmentation {handles[0].segmentation_id}; its planes are "
            f"{[h.plane_name for h in handles]}"
        )

    def property_descriptions(self, segmentation: SegmentationRef) -> dict[str, str]:
        with self.catalog.reading() as db:
            return property_descriptions(db, self.resolve_segmentation(db, segmentation))

    def curation_labels(
        self, segmentation: SegmentationRef, plane: str, mask_indices: Sequence[int], *, policy: str = "latest"
    ) -> list[str | None]:
        """The consensus label of each of a plane's cell ROIs under ``policy`` (None: nobody decided)."""
        check_policy(policy)
        with self.catalog.reading() as db:
            seg_id = self.resolve_segmentation(db, segmentation)
            state = consensus(seg_id, policy).subquery("state")
            labels = dict(
                db.execute(
                    select(m.Roi.mask_index, state.c.label)
                    .join(state, state.c.roi_id == m.Roi.roi_id)
                    .join(m.ImagingPlane, m.ImagingPlane.plane_id == m.Roi.plane_id)
                    .where(m.Roi.segmentation_id == seg_id, m.ImagingPlane.plane_name == plane, m.Roi.kind == "cell")
                ).all()
            )
        return [labels.get(int(i)) for i in mask_indices]

    def reopen_spec(self) -> tuple[str, str]:
        """What another process needs to open this archive again (catalog URL, storage root)."""
        return self.catalog.url, str(self.storage_root)

    def plane_properties(
        self, segmentation: SegmentationRef, plane: str | None = None, names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Properties of one plane's cell ROIs (all, or only ``names``), as arrays in catalog (mask) order."""
        with self.catalog.reading() as db:
            seg_id, plane_id = self._plane_id(db, segmentation, plane)
            return plane_properties(db, seg_id, plane_id, names)

    def property_names(self, segmentation: SegmentationRef, plane: str | None = None) -> list[str]:
        """The names of the properties one plane's cell ROIs carry (read from the property index)."""
        with self.catalog.reading() as db:
            seg_id, plane_id = self._plane_id(db, segmentation, plane)
            return plane_property_names(db, seg_id, plane_id)

    def _plane_id(self, db: Session, segmentation: SegmentationRef, plane: str | None) -> tuple[int, int]:
        seg_id = self.resolve_segmentation(db, segmentation)
        plane_ids = dict(
            db.execute(
                select(m.ImagingPlane.plane_name, m.ImagingPlane.plane_id)
                .join(m.SegmentationPlane, m.SegmentationPlane.plane_id == m.ImagingPlane.plane_id)
                .where(m.SegmentationPlane.segmentation_id == seg_id)
            ).all()
        )
        if plane is None and len(plane_ids) == 1:
            plane = next(iter(plane_ids))
        if plane not in plane_ids:
            raise NotFoundError(
                f"plane {plane!r} is not part of segmentation {seg_id}; its planes are {sorted(plane_ids)}"
            )
        return seg_id, plane_ids[plane]

    def array_file(self, relative_path: str, size_bytes: int | None = None, sha256: str | None = None) -> ArrayFileRef:
        """A lazy handle on one of the archive's chunk files (nothing is opened yet)."""
        return ArrayFileRef(self.storage_root, relative_path, size_bytes=size_bytes, sha256=sha256)


# -- helpers -------------------------------------------------------------------------------------


_REOPENED: dict[tuple[int, tuple[str, str]], Archive] = {}


def reopen(spec: tuple[str, str]) -> Archive:
    """The archive a pickled extractor came from (see :meth:`Archive.reopen_spec`), opened once per process."""
    key = (os.getpid(), tuple(spec))
    if key not in _REOPENED:
        url, storage_root = spec
        _REOPENED[key] = Archive.open(url, storage_root=storage_root, create=False)
    return _REOPENED[key]


def _plane_extractors(
    extractor: SegmentationExtractor | Mapping[str, SegmentationExtractor], plane: str | None
) -> dict[str, SegmentationExtractor]:
    if isinstance(extractor, Mapping):
        if plane is not None:
            raise InvalidInputError("pass plane= only with a single extractor; a mapping already names its planes")
        if not extractor:
            raise InvalidInputError("the mapping of plane name to extractor is empty; there is nothing to ingest")
        planes = {str(k): v for k, v in extractor.items()}
    else:
        planes = {plane or "plane0": extractor}
    for plane_name in planes:
        check_name("plane name", plane_name)
    return planes


def _source_format(extractor: SegmentationExtractor) -> str:
    name = type(extractor).__name__
    stem = name.removesuffix("SegmentationExtractor") or name
    return stem.lower()


def _insert_pipeline_decisions(
    db: Session, seg_id: int, source_format: str, roi_ids: Sequence[int], accepted: Sequence[bool | None]
) -> None:
    """The source pipeline's accept/reject decisions become each ROI's first curation event."""
    decided = [(roi_id, ok) for roi_id, ok in zip(roi_ids, accepted) if ok is not None]
    if not decided:
        return
    name = f"{m.PIPELINE_CURATOR_PREFIX}{source_format}"
    curator_id = get_or_create(db, m.Curator, {"curator_name": name}, {"is_pipeline": True})
    now = dt.datetime.now(dt.timezone.utc)
    db.execute(
        insert(m.CurationEvent),
        [
            {
                "segmentation_id": seg_id, "roi_id": roi_id, "curator_id": curator_id,
                "label": "accepted" if ok else "rejected", "note": "imported from the pipeline at ingest",
                "roi_revision": 1, "batch_id": f"ingest-{seg_id}", "created_at": now,
            }
            for roi_id, ok in decided
        ],
    )


def _drop_unreferenced_files(db: Session, file_ids: Iterable[int]) -> list[str]:
    """Delete array_files rows no longer referenced by any row; returns their paths."""
    paths = []
    for file_id in file_ids:
        used = sum(
            db.scalar(select(func.count()).select_from(table).where(table.array_file_id == file_id))
            for table in FILE_REFERENCES
        )
        if not used:
            row = db.get(m.ArrayFile, file_id)
            paths.append(row.relative_path)
            db.delete(row)
    return paths


def _delete_if_unused(db: Session, session_row: m.ImagingSession) -> None:
    """Remove a session (and then its subject) that holds nothing, as a failed first ingest leaves it."""
    session_id, subject_id = session_row.session_id, session_row.subject_id
    in_use = db.scalar(select(func.count()).select_from(m.Segmentation).where(m.Segmentation.session_id == session_id))
    in_use += db.scalar(
        select(func.count()).select_from(m.ImagingPlane).where(m.ImagingPlane.session_id == session_id)
    )
    if in_use:
        return
    db.delete(session_row)
    db.flush()
    sessions = db.scalar(select(func.count()).select_from(m.ImagingSession).where(m.ImagingSession.subject_id == subject_id))
    fovs = db.scalar(select(func.count()).select_from(m.FieldOfView).where(m.FieldOfView.subject_id == subject_id))
    if not sessions and not fovs:
        db.execute(delete(m.Subject).where(m.Subject.subject_id == subject_id))


def _plane_arrays(payload: PlanePayload, source_format: str) -> PlaneArrays:
    return PlaneArrays(
        masks=payload.masks,
        background_masks=payload.background_masks,
        traces=payload.traces,
        background_traces=payload.background_traces,
        images=payload.images,
        timestamps=payload.timestamps,
        attributes={"source": source_format, "segdb_version": __version__, "plane": payload.plane_name},
    )


def _roi_rows(
    seg_id: int, plane: m.ImagingPlane, keys: Sequence[int | str], geometry: Sequence[RoiGeometry], kind: str,
    accepted: Sequence[bool | None],
) -> list[dict[str, Any]]:
    rows = []
    for index, (key, geo) in enumerate(zip(keys, geometry)):
        x_um = plane.origin_x_um + geo.centroid_col * plane.pixel_size_um
        y_um = plane.origin_y_um + geo.centroid_row * plane.pixel_size_um
        fov_x, fov_y = apply_affine(plane.fov_transform, np.array([[x_um, y_um]]))[0]
        rows.append(
            {
                "segmentation_id": seg_id,
                "plane_id": plane.plane_id,
                "roi_key": str(key),
                "roi_key_type": "int" if isinstance(key, int) else "str",
                "kind": kind,
                "mask_index": index,
                "trace_column": index,
                "centroid_row": geo.centroid_row,
                "centroid_col": geo.centroid_col,
                "centroid_x_um": x_um,
                "centroid_y_um": y_um,
                "fov_id": plane.fov_id,
                "fov_x_um": fov_x,
                "fov_y_um": fov_y,
                "bbox_row_min": geo.bbox[0],
                "bbox_row_max": geo.bbox[1],
                "bbox_col_min": geo.bbox[2],
                "bbox_col_max": geo.bbox[3],
                "pixel_count": geo.pixel_count,
                "location_row": geo.location_row,
                "location_col": geo.location_col,
                "source_accepted": accepted[index] if accepted else None,
            }
        )
    return rows


def _insert_rois(db: Session, seg_id: int, plane: m.ImagingPlane, payload: PlanePayload) -> list[int]:
    rows = _roi_rows(seg_id, plane, payload.roi_keys, payload.roi_geometry, "cell", payload.source_accepted)
    rows += _roi_rows(seg_id, plane, payload.background_keys, payload.background_geometry, "background", [])
    result = db.execute(insert(m.Roi).returning(m.Roi.roi_id, sort_by_parameter_order=True), rows)
    return [int(r[0]) for r in result.all()][: len(payload.roi_keys)]


def _insert_properties(db: Session, seg_id: int, roi_ids: list[int], columns: Iterable[PropertyColumn],
                       described: set[str]) -> None:
    rows = []
    for column in columns:
        if column.name not in described:
            db.add(
                m.PropertyDescription(
                    segmentation_id=seg_id, property_name=column.name, description=column.description,
                    value_dtype=column.value_dtype, value_shape=list(column.value_shape),
                )
            )
            described.add(column.name)
        for roi_id, value in zip(roi_ids, column.values):
            num, text = encode_property_value(column.value_type, value)
            rows.append(
                {"roi_id": roi_id, "segmentation_id": seg_id, "property_name": column.name,
                 "value_type": column.value_type, "value_num": num, "value_text": text}
            )
    if rows:
        db.flush()
        db.execute(insert(m.RoiProperty), rows)


def _segmentation_query():
    return (
        select(m.Segmentation, m.ImagingSession.session_name, m.Subject.subject_name)
        .join(m.ImagingSession, m.ImagingSession.session_id == m.Segmentation.session_id)
        .join(m.Subject, m.Subject.subject_id == m.ImagingSession.subject_id)
        .order_by(m.Subject.subject_name, m.ImagingSession.session_start, m.ImagingSession.session_name,
                  m.Segmentation.segmentation_id)
    )


def _segmentation_records(db: Session, rows: Sequence) -> list[SegmentationRecord]:
    ids = [seg.segmentation_id for seg, _, _ in rows]
    planes: dict[int, list] = {i: [] for i in ids}
    if ids:
        for sp, plane_name in db.execute(
            select(m.SegmentationPlane, m.ImagingPlane.plane_name)
            .join(m.ImagingPlane, m.ImagingPlane.plane_id == m.SegmentationPlane.plane_id)
            .where(m.SegmentationPlane.segmentation_id.in_(ids))
            .order_by(m.SegmentationPlane.segmentation_id, m.SegmentationPlane.plane_index)
        ).all():
            planes[sp.segmentation_id].append((sp, plane_name))
    records = []
    for seg, session_name, subject_name in rows:
        parts = planes[seg.segmentation_id]
        records.append(
            SegmentationRecord(
                segmentation_id=seg.segmentation_id,
                subject=subject_name,
                session=session_name,
                name=seg.segmentation_name,
                source_format=seg.source_format,
                source_path=seg.source_path,
                status=seg.status,
                created_at=as_utc(seg.created_at),
                created_by=seg.created_by,
                planes=tuple(name for _, name in parts),
                num_rois=sum(sp.num_rois for sp, _ in parts),
                num_background=sum(sp.num_background for sp, _ in parts),
                num_samples=max((sp.num_samples for sp, _ in parts), default=0),
                sampling_frequency=parts[0][0].sampling_frequency if parts else None,
                parameters=dict(seg.parameters or {}),
            )
        )
    return records


def _plane_record(plane: m.ImagingPlane, fov_name: str | None) -> PlaneRecord:
    return PlaneRecord(
        plane_id=plane.plane_id,
        session_id=plane.session_id,
        name=plane.plane_name,
        height=plane.height,
        width=plane.width,
        pixel_size_um=plane.pixel_size_um,
        origin_um=(plane.origin_x_um, plane.origin_y_um, plane.origin_z_um),
        sampling_frequency=plane.sampling_frequency,
        field_of_view=fov_name,
    )


def _roi_record(roi: m.Roi, plane_name: str) -> RoiRecord:
    return RoiRecord(
        roi_id=roi.roi_id,
        segmentation_id=roi.segmentation_id,
        plane=plane_name,
        key=roi_key_value(roi.roi_key, roi.roi_key_type),
        kind=roi.kind,
        mask_index=roi.mask_index,
        centroid_px=(roi.centroid_row, roi.centroid_col),
        centroid_um=(roi.centroid_x_um, roi.centroid_y_um),
        bbox=(roi.bbox_row_min, roi.bbox_row_max, roi.bbox_col_min, roi.bbox_col_max),
        pixel_count=roi.pixel_count,
        source_accepted=roi.source_accepted,
    )


def _writer_alive(seg: m.Segmentation, older_than: dt.timedelta) -> bool:
    if seg.writer_host == socket.gethostname() and seg.writer_pid:
        try:
            os.kill(seg.writer_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    created = as_utc(seg.created_at)
    return created is not None and dt.datetime.now(dt.timezone.utc) - created < older_than


def _segmentation_of(relative_path: str) -> int | None:
    match = re.search(r"(?:^|/)seg-(\d+)/", relative_path)
    return int(match.group(1)) if match else None


def _remove_empty_dirs(root: Path) -> None:
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass
