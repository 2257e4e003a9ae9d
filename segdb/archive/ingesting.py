"""Writing into the archive: ingesting a segmentation, and adding trace series to one.

Writes follow one rule: arrays first, rows second. An ingest reserves its
segmentation (status 'writing', invisible to readers) and leases the path of each
chunk file it will write (see ``leases``), writes the files (temp name, fsync,
rename, sha256), then commits every row in one transaction that also drops the
leases and flips the status to 'ready'. A crash leaves at worst files that no row
references, their leases and a 'writing' reservation; `segdb gc` reports them and
`segdb gc --apply` collects them once the writer's process is gone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import re
import socket
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from segdb.archive.base import ProgressArg, SegmentationRef
from segdb.archive.leases import add_leases, drop_leases, release_leases, take_leases
from segdb.archive.listing import Listing
from segdb.archive.metadata import check_species, checked_metadata, fill_plane, fill_session, fill_subject
from segdb.archive.payload import (
    PlanePayload,
    RoiGeometry,
    payload_from_extractor,
    trace_name_length,
)
from segdb.archive.properties import insert_property_rows
from segdb.archive.reader import chunk_file_identity
from segdb.archive.records import (
    SegmentationRecord,
)
from segdb.archive.upkeep import delete_session_if_unused, drop_unreferenced_files, unlink_files
from segdb.archive.values import (
    check_name,
    current_user,
    jsonable,
    parse_datetime,
    positive_finite,
    slug,
)
from segdb.arrays import (
    PlaneArrays,
    check_relative_path,
    resolve_in_root,
    write_chunk_file,
    write_trace_file,
)
from segdb.catalog import models as m
from segdb.catalog.queries import get_or_create
from segdb.errors import (
    ConflictError,
    InvalidInputError,
    SegDBError,
)
from segdb.geometry import CsrMasks, apply_affine
from segdb.progress import progress_bar
from segdb.version import __version__

if TYPE_CHECKING:
    from roiextractors import SegmentationExtractor


class Ingesting(Listing):
    """Writing segmentations and new trace series into the archive."""

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
        pixel_size_um: float | None = None,
        origin_um: Sequence[float] = (0.0, 0.0, 0.0),
        species: str | None = None,
        metadata: Mapping[str, Any] | None = None,
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
        pixel_size_um
            µm per pixel of every plane (default 1).
        metadata
            What the source knows of its subject, session and planes, as
            ``{"subject": {...}, "session": {...}, "planes": {plane name: {...}}}`` with the
            fields of :meth:`set_subject`, :meth:`set_session` and :meth:`set_plane`. It fills
            only fields that are still empty: what a person set is never overwritten.
        progress
            True for a progress bar, False for none, a callable to receive sample counts;
            None shows a bar only on a terminal.

        Everything is validated before anything is written; a failure leaves no rows, no files and no
        folders of its own.
        """
        plane_extractors = _plane_extractors(extractor, plane)
        source_format = source_format or _source_format(next(iter(plane_extractors.values())))
        name = name or source_format
        for label, value in (("subject", subject), ("session", session), ("segmentation name", name)):
            check_name(label, value)
        for label, value in (("subject", subject), ("session", session)):
            _check_folder_name(label, value)
        check_name("source format", source_format, max_length=m.Segmentation.source_format.type.length)
        if field_of_view is not None:
            # Each plane of a multi-plane segmentation gets its own field of view, 'FOV:PLANE'.
            for fov_name in _fov_names(field_of_view, list(plane_extractors)):
                check_name("field of view", fov_name)
        if source_path is not None and "\x00" in str(source_path):
            raise InvalidInputError(f"the source path {str(source_path)!r} holds a NUL character; give the real path")
        created_by = created_by or os.environ.get("SEGDB_CURATOR") or current_user()
        check_name("creator (created_by)", created_by, max_length=m.Segmentation.created_by.type.length)
        pixel_size_um = 1.0 if pixel_size_um is None else positive_finite("pixel_size_um", pixel_size_um)
        origin = _origin(origin_um)
        started = parse_datetime(session_start)
        for label, mapping in (("parameters", parameters), ("metadata", metadata)):
            if mapping is not None and not isinstance(mapping, Mapping):
                raise InvalidInputError(f"{label} is a {type(mapping).__name__}; pass a dict (or None)")
        described = checked_metadata(metadata)
        if started is None and described["session"].get("session_start") is None and not self._has_session(
                subject, session):
            started = session_start_from_name(session)
        if species is not None:
            described["subject"].setdefault("species", check_species(species))
        payloads = [payload_from_extractor(ex, plane_name) for plane_name, ex in plane_extractors.items()]
        self.check_storage_root()
        seg_id, relative_paths = self._reserve_segmentation(
            subject=subject,
            session=session,
            name=name,
            plane_names=[payload.plane_name for payload in payloads],
            described=described,
            session_start=started,
            source_format=source_format,
            source_path=None if source_path is None else str(source_path),
            parameters=jsonable(dict(parameters or {}), "parameters"),
            created_by=created_by,
        )
        archive_id = self.archive_id
        written: list[str] = []
        # The folders this ingest's files go into that do not exist yet: a failed ingest removes them again.
        created_folders = (
            _missing_folders(self.storage_root, self._segmentation_folder(subject, session, seg_id))
            if self.in_folder else []
        )
        try:
            files = []
            total = sum(p.num_samples for p in payloads)
            with progress_bar(progress, total=total, desc=f"ingest {subject}/{session}/{name}", unit="samples") as tick:
                for payload, relative in zip(payloads, relative_paths):
                    identity = chunk_file_identity(archive_id, seg_id, payload.plane_name)
                    result = write_chunk_file(
                        self.store, relative, _plane_arrays(payload, source_format, identity), progress=tick
                    )
                    written.append(result.relative_path)
                    files.append(result)
            self.catalog.write_with_retry(
                lambda db: self._insert_planes(
                    db, seg_id, payloads, files, field_of_view=field_of_view, pixel_size_um=pixel_size_um,
                    origin=origin, plane_metadata=described["planes"],
                )
            )
        except BaseException:
            unlink_files(self.store, written)
            _remove_if_empty(created_folders)
            self._drop_reservation(seg_id, relative_paths)
            raise
        added = sum(len(p.roi_keys) + len(p.background_keys) for p in payloads)
        self.catalog.refresh_statistics(STATISTICS_TABLES, added_rows=added, measured_by="rois")
        return self.segmentation(seg_id)

    def _has_session(self, subject: str, session: str) -> bool:
        with self.catalog.reading() as db:
            return db.scalar(
                select(m.ImagingSession.session_id).join(m.ImagingSession.subject)
                .where(m.Subject.subject_name == subject, m.ImagingSession.session_name == session)
            ) is not None

    def _reserve_segmentation(self, *, subject: str, session: str, name: str, plane_names: list[str],
                              described: dict[str, Any], session_start: dt.datetime | None,
                              **fields: Any) -> tuple[int, list[str]]:
        """Reserve the segmentation ('writing') and lease a new file per plane, in one transaction."""

        def reserve(db: Session) -> tuple[int, list[str]]:
            subject_id = get_or_create(db, m.Subject, {"subject_name": subject})
            session_id = get_or_create(
                db, m.ImagingSession, {"subject_id": subject_id, "session_name": session},
                {"session_start": session_start},
            )
            fill_subject(db, subject_id, described["subject"], only_empty=True)
            fill_session(db, session_id, described["session"], only_empty=True)
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
            paths = [self._new_array_path(subject, session, seg.segmentation_id, plane) for plane in plane_names]
            add_leases(db, paths)
            return seg.segmentation_id, paths

        return self.catalog.write_with_retry(reserve)

    def _drop_reservation(self, seg_id: int, leased: list[str]) -> None:
        """Undo a reservation and its leases, and the subject and session it created if nothing else uses them."""
        try:
            with self.catalog.writing() as db:
                db.execute(delete(m.FileLease).where(m.FileLease.relative_path.in_(leased)))
                seg = db.get(m.Segmentation, seg_id)
                if seg is None or seg.status != "writing":
                    return
                session_row = db.get(m.ImagingSession, seg.session_id)
                db.delete(seg)
                db.flush()
                delete_session_if_unused(db, session_row)
        except SegDBError:
            # The reservation and leases stay, invisible; `segdb gc --apply` clears them once this process has exited.
            pass

    def _segmentation_folder(self, subject: str, session: str, seg_id: int) -> str:
        """Where a segmentation's array files live, relative to the storage root."""
        return check_relative_path(f"{slug(subject)}/{slug(session)}/seg-{seg_id:06d}")

    def _new_array_path(self, subject: str, session: str, seg_id: int, plane_name: str) -> str:
        return check_relative_path(
            f"{self._segmentation_folder(subject, session, seg_id)}/{slug(plane_name)}-{uuid.uuid4().hex[:12]}.h5"
        )

    def _insert_planes(self, db: Session, seg_id: int, payloads: list[PlanePayload], files: list, *,
                       field_of_view: str | None, pixel_size_um: float, origin: tuple[float, float, float],
                       plane_metadata: Mapping[str, Mapping[str, Any]]) -> None:
        seg = db.get(m.Segmentation, seg_id)
        if seg is None or seg.status != "writing":
            raise ConflictError(
                f"segmentation {seg_id} was removed while it was being ingested (did `segdb gc --apply` run?); "
                "ingest it again"
            )
        self.check_files_not_moved(db)
        release_leases(db, [written.relative_path for written in files])
        session_row = db.get(m.ImagingSession, seg.session_id)
        described: set[str] = set()
        plane_names = [payload.plane_name for payload in payloads]
        # Without a named field of view, a plane name is one place per subject: plane0 of every
        # session of m12 is registered and matched together. Several planes get one each.
        fov_names = plane_names if field_of_view is None else _fov_names(field_of_view, plane_names)
        for index, (payload, written, fov_name) in enumerate(zip(payloads, files, fov_names)):
            fov_id = get_or_create(db, m.FieldOfView, {"subject_id": session_row.subject_id, "fov_name": fov_name})
            plane = self._plane_for(db, seg.session_id, payload, fov_id, pixel_size_um, origin)
            fill_plane(db, plane, plane_metadata.get(payload.plane_name, {}), only_empty=True)
            plane_id = plane.plane_id
            file_row = m.ArrayFile(
                relative_path=check_relative_path(written.relative_path),
                size_bytes=written.size_bytes,
                sha256=written.sha256,
                server_checksum=written.server_checksum,
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
                    timestamps_dataset="timestamps" if payload.arrays.timestamps is not None else None,
                )
            )
            db.flush()
            roi_ids = _insert_rois(db, seg_id, plane, payload)
            insert_property_rows(db, seg_id, roi_ids, payload.properties, described)
            _insert_pipeline_decisions(db, seg_id, seg.source_format, roi_ids, payload.source_accepted)
            for kind, group, traces in (
                ("cell", "traces", payload.arrays.traces),
                ("background", "background_traces", payload.arrays.background_traces),
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
            for image_name, image in payload.arrays.images.items():
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
        if not isinstance(traces, Mapping) or not traces:
            raise InvalidInputError(
                "add_trace_series needs a dict of trace name to (samples, rois) array, with at least one series"
            )
        handle = self.plane_handle(segmentation, plane)
        # plane=None chose the segmentation's only plane; messages and file names use its name.
        plane = handle.plane_name
        if mask_set is not None:
            check_name("mask set name", mask_set[0], max_length=m.MaskSet.mask_set_name.type.length)
        stored_parameters = jsonable(dict(parameters or {}), "parameters")
        for name, data in traces.items():
            check_name("trace name", name, max_length=trace_name_length("traces"))
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
        self.check_storage_root()
        relative = self._new_array_path(subject, session_name, handle.segmentation_id, f"{plane}-derived")
        take_leases(self.catalog, [relative])
        identity = chunk_file_identity(self.archive_id, handle.segmentation_id, handle.plane_name)
        try:
            with progress_bar(progress, total=handle.num_samples * len(traces), desc="write traces",
                              unit="samples") as tick:
                if mask_set is None:
                    written = write_trace_file(
                        self.store, relative, dict(traces), attributes=identity, progress=tick
                    )
                else:
                    written = write_chunk_file(
                        self.store,
                        relative,
                        PlaneArrays(masks=mask_set[1], background_masks=None, traces=dict(traces),
                                    background_traces={}, images={}, timestamps=None,
                                    attributes={"derived_from": str(handle.segmentation_id), "plane": plane,
                                                **identity}),
                        progress=tick,
                    )
        except BaseException:
            drop_leases(self.catalog, [relative])
            raise

        def record(db: Session) -> list[str]:
            self.check_files_not_moved(db)
            release_leases(db, [written.relative_path])
            file_row = m.ArrayFile(relative_path=written.relative_path, size_bytes=written.size_bytes,
                                   sha256=written.sha256, server_checksum=written.server_checksum)
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
                                 num_masks=len(mask_set[1]), parameters=stored_parameters,
                                 **keys))
            db.flush()
            return drop_unreferenced_files(db, replaced_files)

        try:
            unreferenced = self.catalog.write_with_retry(record)
        except BaseException:
            unlink_files(self.store, [written.relative_path])
            drop_leases(self.catalog, [relative])
            raise
        unlink_files(self.store, unreferenced)


# The folder a segmentation's files go in (subject/session/seg-N/): a subject or session folder named so
# would make the layout ambiguous.
_SEGMENTATION_FOLDER = re.compile(r"seg-\d+")
# The tables an ingest grows by a row (or more) per ROI, which the planner must know the size of.
STATISTICS_TABLES = ("rois", "roi_properties", "curation_events")


def _check_folder_name(label: str, value: str) -> None:
    folder = slug(value)
    if _SEGMENTATION_FOLDER.fullmatch(folder):
        raise InvalidInputError(
            f"the {label} {value!r} would get the folder {folder!r}, which looks like a segmentation's folder "
            "(segdb keeps files as subject/session/seg-N/); choose another name, e.g. with a letter in front"
        )


# Session names that are a date: 2026-03-01, 2026_03_01, 2026.03.01, 20260301.
_DATE_NAME = re.compile(r"(\d{4})([-_.]?)(\d{2})\2(\d{2})")


def session_start_from_name(session: str) -> dt.datetime | None:
    """The date a session's name is (midnight UTC), with a warning saying so; None when it is not a date."""
    match = _DATE_NAME.fullmatch(session)
    if match is None:
        return None
    try:
        day = dt.date(int(match[1]), int(match[3]), int(match[4]))
    except ValueError:
        return None
    warnings.warn(
        f"session {session!r} has no start time given; taking {day.isoformat()} from its name (give --session-start, "
        "session_start= in Python, or set it later with `segdb session set SUBJECT/SESSION --start ...`)",
        stacklevel=3,
    )
    return parse_datetime(day)


def _missing_folders(root: Path, relative_folder: str) -> list[Path]:
    """The folders from ``root`` down to ``relative_folder`` that do not exist yet, outermost first."""
    missing = []
    root = Path(root).resolve()
    folder = resolve_in_root(root, relative_folder)
    while folder != root and not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (outermost first) innermost first, stopping at one that is not empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            break  # another writer put something there: not ours to remove


def _origin(origin_um: Any) -> tuple[float, float, float]:
    """The stage origin (x, y, z) in µm as three finite floats, or an error saying what it should be."""
    refused = InvalidInputError(f"origin_um is {origin_um!r}; give three finite numbers (x, y, z) in µm")
    if isinstance(origin_um, (str, bytes)):
        raise refused
    try:
        origin = tuple(float(v) for v in origin_um)
    except (TypeError, ValueError) as exc:
        raise refused from exc
    if len(origin) != 3 or not all(math.isfinite(v) for v in origin):
        raise refused
    return origin


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


def _fov_names(field_of_view: str, plane_names: Sequence[str]) -> list[str]:
    """The field of view each plane is placed in: the one named, or 'FOV:PLANE' for each of several planes."""
    if len(plane_names) == 1:
        return [field_of_view]
    return [f"{field_of_view}:{plane_name}" for plane_name in plane_names]


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


def _plane_arrays(payload: PlanePayload, source_format: str, identity: Mapping[str, str]) -> PlaneArrays:
    """The payload's arrays with the chunk file's root attributes: provenance, and whose file it is."""
    attributes = {"source": source_format, "segdb_version": __version__, "plane": payload.plane_name, **identity}
    return dataclasses.replace(payload.arrays, attributes=attributes)


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
