"""An archive's identity and location: only `segdb init` creates one, ids are never reused,
writes go only to the storage root the catalog recorded, a catalog that cannot be reached is
one line, and deleting says what goes with it."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import inspect, text

import segdb
from segdb.archive.locations import STORAGE_MARKER
from segdb.catalog import schema
from segdb.catalog.engine import Catalog
from segdb.cli import main
from segdb.synthetic import simulate_fov, synthetic_segmentation, write_suite2p_folder
from segdb.synthetic.groundtruth import ingest_simulated_fov


@pytest.fixture
def suite2p_dir(tmp_path: Path) -> Path:
    return write_suite2p_folder(tmp_path / "suite2p", n_rois=4, n_frames=20, frame_shape=(32, 32), seed=1)


def _ingest_argv(folder: Path, target: str, *options: str) -> list[str]:
    return ["ingest", "suite2p", str(folder), "--archive", target, *options, "--subject", "m1", "--session", "s1",
            "--no-progress"]


def test_ingest_into_a_folder_that_holds_no_archive_is_refused_and_creates_nothing(tmp_path, capsys, suite2p_dir):
    typo = tmp_path / "typo" / "lab"
    assert main(_ingest_argv(suite2p_dir, str(typo))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("segdb: error: there is no segdb archive at ")
    assert f"segdb init {typo}" in err
    assert not typo.exists()


def test_ingest_into_an_empty_database_is_refused_and_creates_no_tables(postgres_schema_url, tmp_path, capsys,
                                                                        suite2p_dir):
    root = tmp_path / "arrays"
    assert main(_ingest_argv(suite2p_dir, postgres_schema_url, "--storage-root", str(root))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a segdb catalog" in err and "segdb init" in err
    catalog = Catalog(postgres_schema_url)
    try:
        assert inspect(catalog.engine).get_table_names() == []
    finally:
        catalog.dispose()
    assert not root.exists()


def _max_id(archive, table: str, column: str) -> int:
    with archive.catalog.reading() as db:
        return db.execute(text(f"SELECT max({column}) FROM {table}")).scalar_one()


def test_ids_of_a_deleted_segmentation_its_rois_and_its_curation_are_never_handed_out_again(archive):
    first = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=10), subject="m1", session="s1", name="a")
    archive.curate(first, [0, 1], "accepted", curator="ana")
    roi_ids = [roi.roi_id for roi in archive.rois(first)]
    event_id = _max_id(archive, "curation_events", "event_id")
    archive.delete_segmentation(first, force=True)

    second = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=10), subject="m1", session="s1", name="a")
    archive.curate(second, [0], "rejected", curator="ana")
    assert second.segmentation_id > first.segmentation_id
    assert min(roi.roi_id for roi in archive.rois(second)) > max(roi_ids)
    assert _max_id(archive, "curation_events", "event_id") > event_id


def test_upgrading_from_0006_keeps_every_row_and_then_never_reuses_an_id(catalog_url, tmp_path):
    if catalog_url.startswith("sqlite"):
        target, options = tmp_path / "archive", {}
    else:
        target, options = catalog_url, {"storage_root": tmp_path / "arrays"}
    archive = segdb.open(target, **options)
    kept = archive.ingest(synthetic_segmentation(n_rois=5, n_frames=10), subject="m1", session="s1", name="kept")
    newest = archive.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s1", name="new")
    archive.curate(kept, [0, 2], "accepted", curator="ana")
    counts = {table: _count(archive, table) for table in _COUNTED}
    rois_before, status_before = archive.rois(kept), archive.curation_status(kept)
    schema.downgrade(archive.catalog.engine, "0006")
    schema.upgrade(archive.catalog.engine)
    archive.close()

    reopened = segdb.open(target, create=False, **options)
    try:
        assert {table: _count(reopened, table) for table in _COUNTED} == counts
        assert reopened.rois(kept) == rois_before and reopened.curation_status(kept) == status_before
        assert schema.schema_drift(reopened.catalog.engine) == []
        with pytest.raises(Exception, match="append-only"):  # curation's history triggers were kept
            with reopened.catalog.engine.begin() as conn:
                conn.execute(text("UPDATE curation_events SET label = 'rejected'"))
        reopened.delete_segmentation(newest)
        again = reopened.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s1", name="new")
        assert again.segmentation_id > newest.segmentation_id
    finally:
        reopened.close()


_COUNTED = ("segmentations", "rois", "roi_properties", "curation_events", "trace_series", "array_files")


def _count(archive, table: str) -> int:
    with archive.catalog.reading() as db:
        return db.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _segmentation_count(archive) -> int:
    return len(archive.segmentations(include_unfinished=True))


@pytest.fixture
def ingested(archive):
    record = archive.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s1")
    return archive, record


def test_a_missing_storage_root_is_refused_for_every_write_and_not_recreated(ingested, tmp_path):
    archive, record = ingested
    url = archive.reopen_spec()[0]
    unmounted = tmp_path / "nas" / "segdb"
    with segdb.open(url, storage_root=unmounted, create=False) as elsewhere:
        message = (rf"the storage root {unmounted} does not exist or is not this archive's \(no \.segdb-archive "
                   rf"marker with id {archive.archive_id}\); is the NAS mounted\?")
        with pytest.raises(segdb.IntegrityError, match=message):
            elsewhere.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s2")
        with pytest.raises(segdb.IntegrityError, match="is the NAS mounted"):
            elsewhere.add_trace_series(record, "plane0", {"extra": np.zeros((10, 3))})
        with pytest.raises(segdb.IntegrityError, match="is the NAS mounted"):
            elsewhere.gc(apply=True)
        with pytest.raises(segdb.IntegrityError, match="is the NAS mounted"):
            elsewhere.delete_segmentation(record)
        unmounted.mkdir(parents=True)  # an empty mount point
        with pytest.raises(segdb.IntegrityError, match="is the NAS mounted"):
            elsewhere.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s2")
    assert list(unmounted.iterdir()) == [] and not (tmp_path / "nas" / "segdb" / "m1").exists()
    assert _segmentation_count(archive) == 1 and "extra" not in archive.plane_handle(record, "plane0").traces


def test_the_storage_root_mounted_elsewhere_is_accepted_by_its_marker(ingested, tmp_path):
    archive, record = ingested
    mounted_here = tmp_path / "mounted-here"
    shutil.copytree(archive.storage_root, mounted_here)
    with segdb.open(archive.reopen_spec()[0], storage_root=mounted_here, create=False) as elsewhere:
        elsewhere.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s2")
        assert elsewhere.verify().ok
    assert _segmentation_count(archive) == 2


def test_another_archives_storage_root_is_refused(ingested, tmp_path):
    archive, _ = ingested
    other = segdb.open(tmp_path / "other-lab")
    other.close()
    with segdb.open(archive.reopen_spec()[0], storage_root=other.storage_root, create=False) as wrong:
        with pytest.raises(segdb.IntegrityError, match=rf"belongs to another archive \(its \.segdb-archive marker "
                                                        rf"holds id {other.archive_id}"):
            wrong.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s2")
    assert _segmentation_count(archive) == 1


def test_the_command_line_names_the_missing_storage_root_in_one_line(ingested, tmp_path, capsys, suite2p_dir):
    archive, _ = ingested
    unmounted = tmp_path / "nas"
    argv = _ingest_argv(suite2p_dir, archive.reopen_spec()[0], "--storage-root", str(unmounted))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"segdb: error: the storage root {unmounted} does not exist")
    assert not unmounted.exists()


def test_an_archive_made_before_markers_is_claimed_where_its_files_are(ingested):
    archive, _ = ingested
    (archive.storage_root / STORAGE_MARKER).unlink()
    with archive.catalog.writing() as db:
        db.execute(text("DELETE FROM archive_settings WHERE setting_name = 'archive_id'"))
    archive.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s2")
    assert archive.archive_id is not None
    assert (archive.storage_root / STORAGE_MARKER).read_text().strip() == archive.archive_id
    assert STORAGE_MARKER not in archive.gc().orphan_files


def test_init_writes_the_marker_with_the_id_the_catalog_records(tmp_path, capsys):
    assert main(["init", str(tmp_path / "lab")]) == 0
    with segdb.open(tmp_path / "lab", create=False) as archive:
        assert len(archive.archive_id) == 32
        assert (archive.storage_root / STORAGE_MARKER).read_text() == f"{archive.archive_id}\n"


class _Terminal(io.StringIO):
    """Typed answers on a terminal's stdin."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def tracked(archive):
    fov = simulate_fov(n_sessions=2, n_cells=12, frame_shape=(80, 80), drift_px=0, rotation_deg=0, seed=5)
    ingest_simulated_fov(archive, fov, subject="m30", field_of_view="site1", first_day=dt.date(2026, 4, 1),
                         n_frames=10)
    run = archive.match_field_of_view("m30", "site1")
    first = archive.segmentations(subject="m30")[0]
    archive.curate(first, [0], "accepted", curator="ana")
    return archive, run, first


def _delete_argv(archive, record, *options: str) -> list[str]:
    target, root = archive.reopen_spec()
    return ["delete", str(record.segmentation_id), "--archive", target, "--storage-root", root, *options]


def test_delete_off_a_terminal_needs_yes(ingested, capsys, monkeypatch):
    archive, record = ingested
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert main(_delete_argv(archive, record)) == 2
    out, err = capsys.readouterr()
    assert "deleting it deletes 3 ROI(s); 1 array file(s)" in out
    assert err.count("\n") == 1 and "stdin is not a terminal; pass --yes" in err
    assert _segmentation_count(archive) == 1


def test_delete_on_a_terminal_says_what_goes_and_asks(ingested, capsys, monkeypatch):
    archive, record = ingested
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    assert main(_delete_argv(archive, record)) == 1
    assert "nothing deleted" in capsys.readouterr().out and _segmentation_count(archive) == 1
    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    assert main(_delete_argv(archive, record)) == 0
    out = capsys.readouterr().out
    assert "0 curation event(s) by people, 3 by the pipeline" in out
    assert out.rstrip().endswith(f"deleted segmentation {record.segmentation_id} m1/s1/numpy")
    assert _segmentation_count(archive) == 0


def test_deleting_a_segmentation_a_matching_run_uses_needs_force_and_marks_the_run(tracked, capsys):
    archive, run, first = tracked
    plan = archive.deletion_plan(first)
    assert plan.matching_runs == (run.matching_run_id,) and plan.track_members > 0
    assert plan.people_curation_events == 1

    assert main(_delete_argv(archive, first, "--yes")) == 2
    out, err = capsys.readouterr()
    assert f"track member(s) of matching run(s) {run.matching_run_id}" in out and "1 curation event(s) by people" in out
    assert err.count("\n") == 1 and "--force" in err
    second = archive.segmentations(subject="m30")[1]  # nobody curated it: only the matching run stands in the way
    assert archive.deletion_plan(second).people_curation_events == 0
    with pytest.raises(segdb.ConflictError, match=rf"in stored matching run\(s\) \[{run.matching_run_id}\]"):
        archive.delete_segmentation(second)
    assert _segmentation_count(archive) == 2


def test_a_forced_delete_marks_the_matching_runs_it_changed(tracked):
    archive, run, first = tracked
    plan = archive.deletion_plan(first)
    with pytest.raises(segdb.ConflictError, match="force"):
        archive.delete_segmentation(first)
    archive.delete_segmentation(first, force=True)
    [after] = [r for r in archive.matching_runs("m30") if r.matching_run_id == run.matching_run_id]
    [note] = after.parameters["changed_by_deletes"]
    assert note["segmentation_id"] == first.segmentation_id and note["track_members_removed"] == plan.track_members
    assert {k: v for k, v in after.parameters.items() if k != "changed_by_deletes"} == run.parameters


def test_delete_removes_the_folders_it_emptied(ingested):
    archive, record = ingested
    [folder] = {path.parent for path in archive.storage_root.rglob("*.h5")}
    archive.delete_segmentation(record)
    assert not folder.exists() and not (archive.storage_root / "m1").exists()
    assert [p.name for p in archive.storage_root.iterdir()] == [STORAGE_MARKER]


def test_init_refuses_a_storage_root_another_archive_already_holds(ingested, tmp_path, capsys):
    archive, _ = ingested
    second = tmp_path / "second-lab"
    assert main(["init", str(second), "--storage-root", str(archive.storage_root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"is already the storage root of archive {archive.archive_id}" in err
    assert not (second / "catalog.sqlite").exists()
    assert (archive.storage_root / STORAGE_MARKER).read_text().strip() == archive.archive_id
