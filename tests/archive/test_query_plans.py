"""Each cross-session query shape is answered from the index meant for it, as the database's own
EXPLAIN says, so that a migration that drops or changes one fails here rather than in a benchmark —
on SQLite and PostgreSQL.

On a small archive PostgreSQL would rightly scan a table of a few hundred rows; sequential scans are
switched off for the EXPLAIN, so the plan shows whether an index can answer the shape at all.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import text

from segdb.archive.query import RoiQuery, ScopedQuery, explain
from segdb.synthetic import synthetic_segmentation

POSITION_INDEX = "ix_rois__fov_id_segmentation_id_fov_x_um_fov_y_um"
PROPERTY_INDEX = "ix_roi_properties__property_name_segmentation_id_value_num"

# Query A: accepted ROIs of a subject near a point of its field of view; query B: snr above a threshold in
# the sessions after a date. In a lab's archive the sessions are the narrow part (200 of 1,000); in twelve
# sessions a threshold that most ROIs pass keeps it so, else the planner may rightly range over the
# threshold in every session instead.
QUERY_A = dict(subject="m0", field_of_view="site1", near=(30.0, 30.0, 15.0), accepted=True)
QUERY_B = dict(where="snr > 0.5", date_from=dt.date(2026, 3, 11))


@pytest.fixture
def small_lab(archive):
    """Twelve sessions of two subjects, 20 ROIs each with an snr, in one field of view per subject; query B
    selects the last two sessions, a small part of the archive as in a lab's."""
    rng = np.random.default_rng(3)
    for index in range(12):
        extractor = synthetic_segmentation(n_rois=20, n_frames=4, seed=index)
        extractor.set_property("snr", rng.gamma(2.0, 2.5, 20), extractor.get_roi_ids())
        archive.ingest(extractor, subject=f"m{index % 2}", session=f"day{index}", pixel_size_um=1.0,
                       session_start=dt.date(2026, 3, 1) + dt.timedelta(days=index), field_of_view="site1",
                       progress=False)
    assert archive.count_rois(**QUERY_A) and archive.count_rois(**QUERY_B)
    with archive.catalog.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")  # what autovacuum (PostgreSQL) or `segdb db` upkeep would have done
    return archive


def _plans(archive, filters: dict) -> dict[str, str]:
    """The plans of a query's steps: listing, counting and reading its columns."""
    query = RoiQuery(**filters)
    with archive.catalog.reading() as db:
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text("SET LOCAL enable_seqscan = off"))
        scoped = ScopedQuery.resolve(db, query)
        columns = query.column_statement(scoped.segmentation_ids, scoped.roi_ids,
                                         ["roi_id", "segmentation_id", "roi_key", "roi_key_type"],
                                         {"snr": ("float", "<f8")})
        return {"listed": query.explain(db), "counted": query.explain(db, count=True),
                "columns": explain(db, columns)}


def test_query_a_finds_its_rois_by_the_position_index(small_lab):
    plans = _plans(small_lab, QUERY_A)
    for step, plan in plans.items():
        if step != "columns":
            assert POSITION_INDEX in plan, (step, plan)


def _position_step(plan: str) -> str:
    """The plan of the step that finds ROIs by position, from ``RoiQuery.explain``."""
    [step] = [part for part in plan.split("\n2. ")[1:] if part.startswith("ROIs by position")]
    return step.split("\n3. ")[0]


def test_a_position_query_over_a_few_sessions_ranges_over_their_segmentations_only(small_lab):
    """The index is searched on the field of view and each selected segmentation before the position, so
    a query over the last sessions reads their ROIs near the point, not those of every session."""
    recent = dict(QUERY_A, date_from=dt.date(2026, 3, 9))
    plans = _plans(small_lab, recent)
    step = _position_step(plans["listed"])
    assert POSITION_INDEX in step, step
    if small_lab.catalog.engine.dialect.name == "sqlite":
        # SEARCH rois USING COVERING INDEX ... (fov_id=? AND segmentation_id=? AND fov_x_um>? AND fov_x_um<?)
        assert "segmentation_id=?" in step and "fov_x_um>?" in step, step
    else:
        condition = next(line for line in step.splitlines() if "Index Cond" in line)
        assert "segmentation_id = ANY" in condition and "fov_x_um >=" in condition, step
    full, later = small_lab.count_rois(**QUERY_A), small_lab.count_rois(**recent)
    assert 0 < later < full


def test_query_b_reads_the_property_index_to_list_count_and_fetch_columns(small_lab):
    plans = _plans(small_lab, QUERY_B)
    for step, plan in plans.items():
        assert PROPERTY_INDEX in plan, (step, plan)
    # The snr column is read by each ROI's (roi_id, property_name) key, not by scanning its values.
    assert "Seq Scan" not in plans["columns"] and "SCAN roi_properties" not in plans["columns"], plans["columns"]


def test_a_date_range_finds_its_sessions_by_their_start_not_by_walking_every_segmentation(small_lab):
    """Query B's first steps, the segmentations of the sessions after D and the sessions it leaves out for want
    of a start time, read the sessions' start index; neither visits every segmentation of the archive."""
    query = RoiQuery(**QUERY_B)
    with small_lab.catalog.reading() as db:
        postgres = db.get_bind().dialect.name == "postgresql"
        if postgres:
            db.execute(text("SET LOCAL enable_seqscan = off"))
        plans = [explain(db, query.segmentations_statement()), explain(db, query.sessions_without_start_statement())]
    for plan in plans:
        assert "ix_sessions__session_start" in plan, plan
        if postgres:
            assert "Seq Scan on segmentations" not in plan, plan
        else:
            # SEARCH segmentations USING INDEX ix_segmentations__session_id (session_id=?)
            assert "SCAN segmentations" not in plan and "ix_segmentations__session_id" in plan, plan
