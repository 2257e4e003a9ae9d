"""A bulk builder for big benchmark catalogs: the rows and chunk files `archive.ingest` makes, written
many sessions at a time.

For each session it writes what ingest writes for a one-plane segmentation from an in-memory source: a
real chunk file (CSR pixel masks, the trace series, the file's identity attributes) through
:func:`segdb.arrays.write_chunk_file` and the archive's store, then, in one transaction per batch of
sessions, the rows of ``sessions``, ``imaging_planes``, ``segmentations`` (status 'ready'),
``array_files``, ``segmentation_planes``, ``property_descriptions``, ``trace_series``, ``rois``,
``roi_properties`` and the pipeline's accept/reject decisions in ``curation_events``, into the same
tables with the same constraints and triggers. Optionally it adds a matching run per subject whose
tracks follow the first ROIs of each group of consecutive sessions (``tracks``, ``track_members``,
``roi_matches``; no matching is run: each pair is scored 1.0 at distance 0). Ids are assigned in bulk (the next free id of each table when a batch starts) and
the rows go in with PostgreSQL's ``COPY`` or SQLite's ``executemany``.

What it skips, so it is for benchmarks only:

- ingest's checks of its input: names, masks inside the frame, duplicate keys, finite values, types
  of properties (the benchmark makes its input and the correctness test compares both paths);
- the reservation ('writing' row) and file leases that make a crashed ingest collectable: a batch
  that fails leaves chunk files no row names, which `segdb gc` reports;
- concurrent writers: ids are taken as max + 1, so nothing else may write while it runs;
- with ``label_checks_per_batch``, PostgreSQL's per-row trigger on new curation events (its checks are
  made once per batch instead);
- metadata from the source, summary images, timestamps, background components, non-numeric
  properties, progress bars, and the statistics refresh (the caller runs ANALYZE at the end).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import os
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select, text

from segdb.archive.payload import _source_acceptance, property_column
from segdb.archive.reader import chunk_file_identity
from segdb.arrays import PlaneArrays, write_chunk_file
from segdb.catalog import models as m
from segdb.catalog.queries import get_or_create
from segdb.conventions import DEFAULT_CHANNEL_NAME
from segdb.geometry import CsrMasks, apply_affine, weighted_centroids
from segdb.version import __version__

PLANE = "plane0"


@dataclass
class BulkSession:
    """One session's one-plane segmentation, as a benchmark makes it (the input of :func:`bulk_build`)."""

    subject: str
    session: str
    session_start: dt.datetime
    field_of_view: str
    frame_shape: tuple[int, int]
    masks: CsrMasks
    #: name -> (num_samples, num_rois) float32
    traces: dict[str, np.ndarray]
    #: name -> (num_rois,) numbers
    properties: dict[str, np.ndarray] = field(default_factory=dict)
    sampling_frequency: float = 30.0
    source_format: str = "memorysegmentation"
    name: str | None = None
    pixel_size_um: float = 1.0


@dataclass(frozen=True)
class TrackPlan:
    """Tracks of the first ``rois`` cell ROIs (by mask index) across each ``sessions`` consecutive sessions
    of a subject within a batch, one matching run per subject."""

    sessions: int = 10
    rois: int = 100


def mask_geometry(masks: CsrMasks) -> dict[str, np.ndarray]:
    """Every mask's centroid, bounding box, pixel count and location at once, as ingest computes them one
    by one (segdb.archive.payload._geometry): location is the median (row, col) of the brightest pixels."""
    n = len(masks)
    counts = np.diff(masks.indptr)
    starts = masks.indptr[:-1]
    rows, cols, weights = (masks.row.astype(np.int64), masks.col.astype(np.int64),
                           masks.weight.astype(np.float64))
    centroids = weighted_centroids(masks)
    owner = np.repeat(np.arange(n), counts)
    brightest = weights == np.maximum.reduceat(weights, starts)[owner]
    location = []
    for values in (rows, cols):
        kept_owner, kept = owner[brightest], values[brightest]
        order = np.lexsort((kept, kept_owner))
        kept = kept[order]
        kept_counts = np.bincount(kept_owner, minlength=n)
        first = np.concatenate([[0], np.cumsum(kept_counts)[:-1]])
        low, high = first + (kept_counts - 1) // 2, first + kept_counts // 2
        location.append(((kept[low] + kept[high]) / 2).astype(np.int64))
    return {
        "centroid_row": centroids[:, 0], "centroid_col": centroids[:, 1],
        "bbox_row_min": np.minimum.reduceat(rows, starts), "bbox_row_max": np.maximum.reduceat(rows, starts),
        "bbox_col_min": np.minimum.reduceat(cols, starts), "bbox_col_max": np.maximum.reduceat(cols, starts),
        "pixel_count": counts, "location_row": location[0], "location_col": location[1],
    }


def bulk_build(archive, sessions: Iterable[BulkSession], *, batch_size: int = 100,
               tracks: TrackPlan | None = None, created_by: str = "bench",
               seconds: dict[str, float] | None = None, label_checks_per_batch: bool = False) -> int:
    """Write ``sessions`` into ``archive`` (each a new session), ``batch_size`` sessions per transaction.

    Returns the number of ROIs written; ``seconds``, when given, is added the time spent on each table's
    rows and on the chunk files. With ``label_checks_per_batch`` (PostgreSQL), the per-row insert trigger of
    ``curation_events`` (about 0.4 ms a row: dynamic SQL planned for every row) is disabled while a batch's
    labels are copied, and what it checks is checked once for the batch in the same transaction (this
    takes the table's exclusive lock and needs its owner's role).
    """
    writer = _Writer(archive, created_by, tracks, label_checks_per_batch)
    written = 0
    for batch in _batches(sessions, batch_size):
        written += writer.write(batch)
    writer.finish()
    if seconds is not None:
        for name, took in writer.seconds.items():
            seconds[name] = seconds.get(name, 0.0) + took
    return written


def _batches(items: Iterable[BulkSession], size: int) -> Iterator[list[BulkSession]]:
    batch: list[BulkSession] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# The tables whose ids the builder assigns, with their id column.
_ID_COLUMNS = {
    "sessions": "session_id", "imaging_planes": "plane_id", "segmentations": "segmentation_id",
    "array_files": "array_file_id", "trace_series": "trace_series_id", "rois": "roi_id",
    "curation_events": "event_id", "tracks": "track_id",
}


class _Writer:
    def __init__(self, archive, created_by: str, tracks: TrackPlan | None, label_checks_per_batch: bool):
        self.archive = archive
        self.catalog = archive.catalog
        self.postgres = self.catalog.dialect == "postgresql"
        self.created_by = created_by
        self.tracks = tracks
        self.label_checks_per_batch = label_checks_per_batch
        self.host, self.pid = socket.gethostname(), os.getpid()
        #: seconds spent inserting each table's rows, and writing chunk files ('chunk files')
        self.seconds: dict[str, float] = {}
        self.subjects: dict[str, int] = {}
        self.fovs: dict[tuple[int, str], int] = {}
        self.curators: dict[str, int] = {}
        self.runs: dict[int, int] = {}  # fov_id -> matching run
        self.run_counts: dict[int, list[int]] = {}  # matching run -> [sessions, tracks]
        archive.check_storage_root()

    # -- values as each database's driver takes them -------------------------------------------------

    def _time(self, value: dt.datetime):
        if self.postgres:
            return value
        return m.Segmentation.__table__.c.created_at.type.dialect_impl(
            self.catalog.engine.dialect).bind_processor(self.catalog.engine.dialect)(value)

    def _bool(self, value):
        if value is None:
            return None
        return bool(value) if self.postgres else int(bool(value))

    # -- one batch ----------------------------------------------------------------------------------

    def _shared_rows(self, batch: list[BulkSession]) -> None:
        """Subjects, fields of view, curators and matching runs: few rows, through the ORM as ingest makes them."""
        with self.catalog.writing() as db:
            for item in batch:
                if item.subject not in self.subjects:
                    self.subjects[item.subject] = get_or_create(db, m.Subject, {"subject_name": item.subject})
                subject_id = self.subjects[item.subject]
                key = (subject_id, item.field_of_view)
                if key not in self.fovs:
                    self.fovs[key] = get_or_create(db, m.FieldOfView, {"subject_id": subject_id,
                                                                      "fov_name": item.field_of_view})
                curator = f"{m.PIPELINE_CURATOR_PREFIX}{item.source_format}"
                if curator not in self.curators:
                    self.curators[curator] = get_or_create(db, m.Curator, {"curator_name": curator},
                                                           {"is_pipeline": True})
                fov_id = self.fovs[key]
                if self.tracks is not None and fov_id not in self.runs:
                    run = m.MatchingRun(fov_id=fov_id, plane_name=PLANE, method="bulk-benchmark", parameters={},
                                        created_by=self.created_by, num_sessions=0, num_tracks=0)
                    db.add(run)
                    db.flush()
                    self.runs[fov_id] = run.matching_run_id
                    self.run_counts[run.matching_run_id] = [0, 0]

    def _next_ids(self) -> dict[str, int]:
        with self.catalog.reading() as db:
            return {table: int(db.scalar(select(func.coalesce(func.max(text(column)), 0))
                                         .select_from(text(table)))) + 1
                    for table, column in _ID_COLUMNS.items()}

    def write(self, batch: list[BulkSession]) -> int:
        self._shared_rows(batch)
        ids = self._next_ids()
        now = dt.datetime.now(dt.timezone.utc)
        rows: dict[str, list[tuple]] = {table: [] for table in _COLUMNS}
        files = []
        session_ids, roi_ids_of = [], []
        # Arrays first: every chunk file of the batch, then its rows in one transaction.
        start = time.perf_counter()
        for index, item in enumerate(batch):
            seg_id = ids["segmentations"] + index
            relative = self.archive._new_array_path(item.subject, item.session, seg_id, PLANE)
            identity = chunk_file_identity(self.archive.archive_id, seg_id, PLANE)
            attributes = {"source": item.source_format, "segdb_version": __version__, "plane": PLANE, **identity}
            files.append(write_chunk_file(self.archive.store, relative, PlaneArrays(
                masks=item.masks, background_masks=None, traces=dict(item.traces), background_traces={},
                images={}, timestamps=None, attributes=attributes)))
        self.seconds["chunk files"] = self.seconds.get("chunk files", 0.0) + time.perf_counter() - start
        roi_id = ids["rois"]
        event_id = ids["curation_events"]
        for index, (item, written) in enumerate(zip(batch, files)):
            session_id, plane_id = ids["sessions"] + index, ids["imaging_planes"] + index
            seg_id, file_id = ids["segmentations"] + index, ids["array_files"] + index
            subject_id = self.subjects[item.subject]
            fov_id = self.fovs[(subject_id, item.field_of_view)]
            height, width = item.frame_shape
            n = len(item.masks)
            num_samples = int(next(iter(item.traces.values())).shape[0])
            rows["sessions"].append((session_id, subject_id, item.session, self._time(item.session_start),
                                     self._time(now)))
            rows["imaging_planes"].append((plane_id, session_id, fov_id, PLANE, height, width, item.pixel_size_um,
                                           0.0, 0.0, 0.0, item.sampling_frequency,
                                           json.dumps([DEFAULT_CHANNEL_NAME])))
            rows["segmentations"].append((seg_id, session_id, item.name or item.source_format, item.source_format,
                                          "{}", self._time(now), self.created_by, "ready", self.host, self.pid))
            rows["array_files"].append((file_id, written.relative_path, written.size_bytes, written.sha256,
                                        written.server_checksum, self._time(now)))
            rows["segmentation_planes"].append((seg_id, plane_id, 0, file_id, num_samples, n, 0,
                                                item.sampling_frequency, json.dumps([DEFAULT_CHANNEL_NAME])))
            for trace_index, name in enumerate(item.traces):
                info = written.datasets[f"traces/{name}"]
                rows["trace_series"].append((ids["trace_series"] + index * len(item.traces) + trace_index,
                                             seg_id, plane_id, file_id, name, "cell", f"traces/{name}",
                                             int(info.shape[0]), int(info.shape[1]), str(info.dtype)))
            columns = [property_column(name, np.asarray(values), "", f"session {item.session}")
                       for name, values in item.properties.items()]
            accepted = _source_acceptance(columns, n)
            geometry = mask_geometry(item.masks)
            x_um = geometry["centroid_col"] * item.pixel_size_um
            y_um = geometry["centroid_row"] * item.pixel_size_um
            fov_xy = apply_affine(None, np.column_stack([x_um, y_um]))
            ids_here = np.arange(roi_id, roi_id + n)
            roi_ids_of.append(ids_here)
            session_ids.append((session_id, item.subject, fov_id))
            geo = {key: value.tolist() for key, value in geometry.items()}
            x_list, y_list = x_um.tolist(), y_um.tolist()
            fx, fy = fov_xy[:, 0].tolist(), fov_xy[:, 1].tolist()
            for i in range(n):
                rows["rois"].append((
                    roi_id + i, seg_id, plane_id, str(i), "int", "cell", i, i, geo["centroid_row"][i],
                    geo["centroid_col"][i], x_list[i], y_list[i], geo["bbox_row_min"][i], geo["bbox_row_max"][i],
                    geo["bbox_col_min"][i], geo["bbox_col_max"][i], geo["pixel_count"][i], fov_id, fx[i], fy[i],
                    geo["location_row"][i], geo["location_col"][i], self._bool(accepted[i]),
                ))
            for column in columns:
                rows["property_descriptions"].append((seg_id, column.name, column.description, column.value_dtype,
                                                      json.dumps(list(column.value_shape))))
                values = column.values.astype(np.float64)
                numbers = [None if math.isnan(v) else v for v in values.tolist()]
                rows["roi_properties"].extend(zip(ids_here.tolist(), [column.name] * n, [seg_id] * n,
                                                  [column.value_type] * n, numbers))
            curator_id = self.curators[f"{m.PIPELINE_CURATOR_PREFIX}{item.source_format}"]
            batch_id, created = f"ingest-{seg_id}", self._time(now)
            for i, ok in enumerate(accepted):
                if ok is None:
                    continue
                rows["curation_events"].append((event_id, seg_id, roi_id + i, curator_id,
                                                "accepted" if ok else "rejected",
                                                "imported from the pipeline at ingest", 1, batch_id, created))
                event_id += 1
            roi_id += n
        if self.tracks is not None:
            self._track_rows(rows, ids["tracks"], session_ids, roi_ids_of)
        with self.catalog.writing() as db:
            self.archive.check_files_not_moved(db)
            raw = db.connection().connection.driver_connection
            if not self.postgres:
                # The indexes of 10^7 rows stay in memory while they grow (SQLite's default cache is 2 MB).
                raw.execute("PRAGMA cache_size = -2000000")
            checked_per_batch = self.postgres and self.label_checks_per_batch
            if checked_per_batch:
                db.execute(text(f"ALTER TABLE curation_events DISABLE TRIGGER {_LABEL_TRIGGER}"))
            for table, columns in _COLUMNS.items():
                if rows[table]:
                    self._insert(raw, table, columns, rows[table])
            if checked_per_batch:
                self._check_labels(db, ids["curation_events"], ids["segmentations"])
                db.execute(text(f"ALTER TABLE curation_events ENABLE TRIGGER {_LABEL_TRIGGER}"))
            if self.postgres:
                for table, column in _ID_COLUMNS.items():
                    db.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                                    f"(SELECT coalesce(max({column}), 0) + 1 FROM {table}), false)"))
        return roi_id - ids["rois"]

    def _check_labels(self, db, first_event: int, first_segmentation: int) -> None:
        """What PostgreSQL's curation_events insert trigger checks of each row, for the whole batch at once:
        each event's ROI is in its segmentation, no segmentation is frozen, and the archive does not
        require curators to write as their own database roles (the builder's labels are the pipeline's,
        written by the role that owns the tables, as at ingest)."""
        wrong = db.execute(text(
            "SELECT count(*) FROM curation_events e JOIN rois r ON r.roi_id = e.roi_id "
            "WHERE e.event_id >= :first AND r.segmentation_id <> e.segmentation_id"), {"first": first_event}).scalar()
        frozen = db.execute(text("SELECT count(*) FROM curation_freezes WHERE segmentation_id >= :first"),
                            {"first": first_segmentation}).scalar()
        roles = db.execute(text("SELECT count(*) FROM archive_settings WHERE setting_name = 'curators_are_roles' "
                                "AND setting_value = 'true'")).scalar()
        if wrong or frozen or roles:
            raise RuntimeError(f"bulk build: {wrong} labels name a ROI of another segmentation, {frozen} segmentations "
                               f"are frozen, curators-are-roles set: {bool(roles)}; build into a new archive")

    def _track_rows(self, rows: dict[str, list[tuple]], track_id: int, sessions: list[tuple[int, str, int]],
                    roi_ids_of: list[np.ndarray]) -> None:
        by_fov: dict[int, list[int]] = {}
        for index, (_, _, fov_id) in enumerate(sessions):
            by_fov.setdefault(fov_id, []).append(index)
        plan = self.tracks
        for fov_id, members in by_fov.items():
            run_id = self.runs[fov_id]
            for start in range(0, len(members) - plan.sessions + 1, plan.sessions):
                group = members[start:start + plan.sessions]
                for i in range(min(plan.rois, *(len(roi_ids_of[g]) for g in group))):
                    rows["tracks"].append((track_id, run_id, len(group)))
                    chain = [int(roi_ids_of[g][i]) for g in group]
                    for g, roi in zip(group, chain):
                        rows["track_members"].append((track_id, roi, sessions[g][0], run_id))
                    for a, b in itertools.pairwise(chain):
                        rows["roi_matches"].append((run_id, a, b, 0.0, None, 1.0))
                    track_id += 1
                    self.run_counts[run_id][1] += 1
                self.run_counts[run_id][0] += len(group)

    def _insert(self, raw, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        start = time.perf_counter()
        names = ", ".join(columns)
        if self.postgres:
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        self.seconds[table] = self.seconds.get(table, 0.0) + time.perf_counter() - start

    def finish(self) -> None:
        if not self.run_counts:
            return
        with self.catalog.writing() as db:
            for run_id, (num_sessions, num_tracks) in self.run_counts.items():
                run = db.get(m.MatchingRun, run_id)
                run.num_sessions, run.num_tracks = num_sessions, num_tracks


# PostgreSQL's per-row check of new curation events (migrations 0003 and 0009).
_LABEL_TRIGGER = "curation_events_check_insert"

# The columns each table's rows give, in the order the builder writes the tables (parents first).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "sessions": ("session_id", "subject_id", "session_name", "session_start", "created_at"),
    "imaging_planes": ("plane_id", "session_id", "fov_id", "plane_name", "height", "width", "pixel_size_um",
                       "origin_x_um", "origin_y_um", "origin_z_um", "sampling_frequency", "channel_names"),
    "segmentations": ("segmentation_id", "session_id", "segmentation_name", "source_format", "parameters",
                      "created_at", "created_by", "status", "writer_host", "writer_pid"),
    "array_files": ("array_file_id", "relative_path", "size_bytes", "sha256", "server_checksum", "created_at"),
    "segmentation_planes": ("segmentation_id", "plane_id", "plane_index", "array_file_id", "num_samples",
                            "num_rois", "num_background", "sampling_frequency", "channel_names"),
    "property_descriptions": ("segmentation_id", "property_name", "description", "value_dtype", "value_shape"),
    "trace_series": ("trace_series_id", "segmentation_id", "plane_id", "array_file_id", "trace_name", "kind",
                     "dataset", "num_samples", "num_columns", "dtype"),
    "rois": ("roi_id", "segmentation_id", "plane_id", "roi_key", "roi_key_type", "kind", "mask_index",
             "trace_column", "centroid_row", "centroid_col", "centroid_x_um", "centroid_y_um", "bbox_row_min",
             "bbox_row_max", "bbox_col_min", "bbox_col_max", "pixel_count", "fov_id", "fov_x_um", "fov_y_um",
             "location_row", "location_col", "source_accepted"),
    "roi_properties": ("roi_id", "property_name", "segmentation_id", "value_type", "value_num"),
    "curation_events": ("event_id", "segmentation_id", "roi_id", "curator_id", "label", "note", "roi_revision",
                        "batch_id", "created_at"),
    "tracks": ("track_id", "matching_run_id", "num_sessions"),
    "track_members": ("track_id", "roi_id", "session_id", "matching_run_id"),
    "roi_matches": ("matching_run_id", "roi_a_id", "roi_b_id", "distance_um", "iou", "score"),
}
