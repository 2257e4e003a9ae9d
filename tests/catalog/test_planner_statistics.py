"""An ingest leaves PostgreSQL's planner knowing how many ROIs there are, so the first page or query over a
new segmentation is planned for its size (not as an empty table, joined row by row)."""

from __future__ import annotations

from sqlalchemy import text

from segdb.synthetic import synthetic_segmentation


def _counted(archive, table: str) -> float | None:
    with archive.catalog.reading() as db:
        return db.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}).scalar()


def test_an_ingest_that_grows_the_tables_a_lot_refreshes_the_planners_counts(archive):
    source = synthetic_segmentation(n_rois=300, n_frames=20, seed=1, frame_shape=(64, 64))
    record = archive.ingest(source, subject="m1", session="s1", progress=False)
    if archive.catalog.dialect == "sqlite":
        assert archive.catalog.refresh_statistics(["rois"], added_rows=300, measured_by="rois") is False
        return
    rois = record.num_rois
    assert _counted(archive, "rois") >= rois
    assert _counted(archive, "roi_properties") >= rois
    # A small ingest into tables the planner already counted leaves the counts to autovacuum.
    assert archive.catalog.refresh_statistics(["rois"], added_rows=rois // 10, measured_by="rois") is False
    assert archive.catalog.refresh_statistics(["rois"], added_rows=rois, measured_by="rois") is True
