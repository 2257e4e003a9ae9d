"""The benchmarks' bulk builder makes the archive `archive.ingest` makes: the same rows in every table it
writes, the same answers to queries, traces, masks, consensus and verify — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from segdb.geometry import CsrMasks

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _bulk import _COLUMNS, BulkSession, TrackPlan, bulk_build
from _common import MemorySegmentation

FRAME = (64, 48)
# What differs between two archives holding the same data: times, who wrote, and file paths and bytes
# (a chunk file's attributes name its archive and path).
VOLATILE = {"created_at", "writer_host", "writer_pid", "relative_path", "size_bytes", "sha256"}


def _sessions(n_sessions: int = 4, n_rois: int = 30) -> list[tuple[BulkSession, list[np.ndarray]]]:
    """Sessions of two subjects with masks of several sizes and weights (ties for the brightest pixel
    included), two trace series, an iscell with NaN-free 0/1 and an snr with a NaN."""
    rng = np.random.default_rng(7)
    sessions = []
    for index in range(n_sessions):
        pixel_masks = []
        for roi in range(n_rois):
            side = 2 + roi % 4
            r, c = rng.integers(0, FRAME[0] - side), rng.integers(0, FRAME[1] - side)
            rows, cols = np.mgrid[r:r + side, c:c + side]
            weights = np.round(rng.uniform(0.1, 1, side * side), 1)  # rounded: several brightest pixels
            pixel_masks.append(np.column_stack([rows.ravel(), cols.ravel(), weights]))
        lengths = [len(mask) for mask in pixel_masks]
        stacked = np.concatenate(pixel_masks)
        masks = CsrMasks(np.concatenate([[0], np.cumsum(lengths)]), stacked[:, 0].astype(int), stacked[:, 1].astype(int),
                         stacked[:, 2])
        snr = rng.gamma(2.0, 2.5, n_rois)
        snr[3] = np.nan
        sessions.append((BulkSession(
            subject=f"m{index % 2}", session=f"day{index}", field_of_view="site1", frame_shape=FRAME,
            session_start=dt.datetime(2025, 1, 1 + index, tzinfo=dt.timezone.utc), masks=masks,
            traces={"raw": rng.random((2, n_rois), np.float32), "dff": rng.random((2, n_rois), np.float32)},
            properties={"iscell": (rng.random(n_rois) < 0.7).astype(float), "snr": snr},
        ), pixel_masks))
    return sessions


def _ingest(archive, sessions: list[tuple[BulkSession, list[np.ndarray]]]) -> None:
    for item, pixel_masks in sessions:
        source = MemorySegmentation(item.traces, pixel_masks, item.frame_shape, properties=item.properties,
                                    sampling_frequency=item.sampling_frequency)
        archive.ingest(source, subject=item.subject, session=item.session, session_start=item.session_start,
                       field_of_view=item.field_of_view, created_by="bench", progress=False)


def _table(archive, table: str) -> list[tuple]:
    columns = [c for c in _COLUMNS[table] if c not in VOLATILE]
    with archive.catalog.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY "
                                                        f"{', '.join(columns[:3])}"))]


@pytest.fixture
def both(request, tmp_path, archive_maker):
    backend, checks = request.param.partition("+")[::2]
    with archive_maker.new(backend, tmp_path / "ingested") as ingested, \
            archive_maker.new(backend, tmp_path / "bulk") as bulk:
        sessions = _sessions()
        _ingest(ingested, sessions)
        assert bulk_build(bulk, [s for s, _ in sessions], batch_size=3,
                          label_checks_per_batch=checks == "batch-checks") == sum(len(s.masks) for s, _ in sessions)
        yield ingested, bulk


@pytest.mark.parametrize("both", ["sqlite", "postgresql", "postgresql+batch-checks"], indirect=True)
def test_bulk_build_writes_the_rows_ingest_writes(both):
    ingested, bulk = both
    for table in _COLUMNS:
        if table not in ("tracks", "track_members", "roi_matches"):
            assert _table(bulk, table) == _table(ingested, table), table
            assert _table(bulk, table), table
    for name in ("subjects", "fields_of_view", "curators"):
        with ingested.catalog.engine.connect() as a, bulk.catalog.engine.connect() as b:
            assert a.execute(text(f"SELECT count(*) FROM {name}")).scalar() == \
                b.execute(text(f"SELECT count(*) FROM {name}")).scalar()


@pytest.mark.parametrize("both", ["sqlite", "postgresql", "postgresql+batch-checks"], indirect=True)
def test_bulk_built_archive_answers_as_the_ingested_one(both):
    ingested, bulk = both
    queries = [dict(subject="m1", field_of_view="site1", near=(24.0, 32.0, 15.0), accepted=True),
               dict(where="snr > 5", date_from=dt.date(2025, 1, 2)), dict(accepted=True, curation="majority")]
    columns = ["key", "session", "plane", "centroid_row", "centroid_col", "snr"]
    for filters in queries:
        expected = ingested.query(**filters).columns(columns)
        got = bulk.query(**filters).columns(columns)
        assert len(expected["key"]) > 0
        for name in columns:
            np.testing.assert_array_equal(got[name], expected[name])
        assert [r.key for r in bulk.query_rois(**filters)] == [r.key for r in ingested.query_rois(**filters)]
    for a, b in zip(ingested.segmentations(), bulk.segmentations(), strict=True):
        ex_a, ex_b = ingested.extractor(a), bulk.extractor(b)
        np.testing.assert_array_equal(ex_b.get_traces(name="dff"), ex_a.get_traces(name="dff"))
        np.testing.assert_array_equal(ex_b.get_traces(), ex_a.get_traces())
        for mask_a, mask_b in zip(ex_a.get_roi_pixel_masks(), ex_b.get_roi_pixel_masks(), strict=True):
            np.testing.assert_array_equal(mask_b, mask_a)
        np.testing.assert_array_equal(ex_b.get_property("snr", ex_b.get_roi_ids()),
                                      ex_a.get_property("snr", ex_a.get_roi_ids()))
        labels_a = [(s.roi, s.label) for s in ingested.curation_status(a, policy="majority")]
        assert [(s.roi, s.label) for s in bulk.curation_status(b, policy="majority")] == labels_a
        assert {label for _, label in labels_a} == {"accepted", "rejected"}
    # People label on top of the pipeline's labels (new ids follow the builder's), and PostgreSQL's
    # per-row check of new labels is on again.
    if bulk.catalog.dialect == "postgresql":
        with bulk.catalog.engine.connect() as conn:
            assert conn.execute(text("SELECT tgenabled FROM pg_trigger WHERE tgname = 'curation_events_check_insert' "
                                     "AND tgrelid = 'curation_events'::regclass")).scalar() == "O"
    seg = bulk.segmentations()[0]
    bulk.curate(seg, [0], "rejected", curator="alice")
    assert next(s.label for s in bulk.curation_status(seg, policy="majority") if s.roi == 0) == "rejected"
    report, expected_report = bulk.verify(), ingested.verify()
    assert report.ok and expected_report.ok and report.files_checked == expected_report.files_checked == 4


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bulk_tracks_are_read_as_tracks(backend, tmp_path, archive_maker):
    with archive_maker.new(backend, tmp_path) as archive:
        sessions = _sessions(n_sessions=8, n_rois=5)  # two subjects, four sessions each
        bulk_build(archive, [s for s, _ in sessions], batch_size=8, tracks=TrackPlan(sessions=2, rois=3))
        runs = archive.matching_runs()
        assert [(run.num_sessions, run.num_tracks) for run in runs] == [(4, 6), (4, 6)]
        track = archive.track(archive.tracks(runs[0].matching_run_id)[0])
        assert [(member.session, member.roi) for member in track.members] == [("day0", 0), ("day2", 0)]
        seg = archive.segmentations(subject="m0", session="day2")[0]
        run_id, keys = archive.tracks_of_plane(seg, "plane0")
        assert run_id == runs[0].matching_run_id and sorted(keys) == [0, 1, 2]
