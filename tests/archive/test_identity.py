"""An archive's identity and location: only `segdb init` creates one, ids are never reused,
writes go only to the storage root the catalog recorded, a catalog that cannot be reached is
one line, and deleting says what goes with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

import segdb
from segdb.catalog import schema
from segdb.catalog.engine import Catalog
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation, write_suite2p_folder


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
        reopened.delete_segmentation(newest)
        again = reopened.ingest(synthetic_segmentation(n_rois=3, n_frames=10), subject="m1", session="s1", name="new")
        assert again.segmentation_id > newest.segmentation_id
    finally:
        reopened.close()


_COUNTED = ("segmentations", "rois", "roi_properties", "curation_events", "trace_series", "array_files")


def _count(archive, table: str) -> int:
    with archive.catalog.reading() as db:
        return db.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
