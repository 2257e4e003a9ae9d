"""A query's answer read straight into columns holds exactly what its records hold, with typed
property columns, empty typed columns for an empty answer, and a lazy handle that counts in SQL
without fetching a row — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
from contextlib import contextmanager

import numpy as np
import pytest
from sqlalchemy import Engine, event

import segdb
from segdb.synthetic import synthetic_segmentation

FIELDS = segdb.QueryResult.FIELDS
PROPERTIES = ["snr", "depth", "region", "good", "extra"]


@pytest.fixture
def lab(archive):
    """Three sessions: int keys with float (one NaN), int, text and bool properties and one only they have;
    str keys; and a session without a start time."""
    first = archive.ingest(synthetic_segmentation(n_rois=5, n_frames=6, seed=1), subject="m1", session="s1",
                           session_start=dt.datetime(2026, 3, 1, 9, 30), progress=False)
    second = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=6, seed=2, roi_ids="str"), subject="m1",
                            session="s2", session_start=dt.date(2026, 3, 3), progress=False)
    third = archive.ingest(synthetic_segmentation(n_rois=3, n_frames=6, seed=3), subject="m2", session="baseline",
                           progress=False)
    for record, snr in ((first, [1.5, np.nan, 3.5, 4.5, 6.0]), (second, [7.0, 0.5, 2.5, 9.0]),
                        (third, [3.0, 8.0, 1.0])):
        extractor = archive.extractor(record)
        ids, n = extractor.get_roi_ids(), len(snr)
        extractor.set_property("snr", np.array(snr), ids)
        extractor.set_property("depth", np.arange(100, 100 + n, dtype=np.int64), ids)
        extractor.set_property("region", np.array(["V1", "LM", "V1", "AL", "V1"][:n]), ids)
        extractor.set_property("good", np.array([True, False, True, True, False][:n]), ids)
    first_extractor = archive.extractor(first)
    first_extractor.set_property("extra", np.arange(5, dtype=np.int64) * 10, first_extractor.get_roi_ids())
    return archive


@contextmanager
def _statements():
    """Every SELECT sent while the block runs (SQLite's BEGIN left out)."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _as_record_values(lab, hits) -> dict[str, list]:
    """What the record path says for each column, properties read per plane as the archive keeps them."""
    mask_index = {}
    for seg_id, plane in {(h.segmentation_id, h.plane) for h in hits}:
        mask_index.update({r.roi_id: r.mask_index for r in lab.rois(seg_id, plane=plane)})
    values = {
        "roi_id": [h.roi_id for h in hits], "subject": [h.subject for h in hits], "session": [h.session for h in hits],
        "session_start": [h.session_start for h in hits], "segmentation_id": [h.segmentation_id for h in hits],
        "segmentation": [h.segmentation for h in hits], "plane": [h.plane for h in hits],
        "field_of_view": [h.field_of_view for h in hits], "key": [h.key for h in hits], "kind": [h.kind for h in hits],
        "centroid_row": [h.centroid_px[0] for h in hits], "centroid_col": [h.centroid_px[1] for h in hits],
        "fov_x_um": [h.fov_um[0] for h in hits], "fov_y_um": [h.fov_um[1] for h in hits],
        "pixel_count": [h.pixel_count for h in hits], "mask_index": [mask_index[h.roi_id] for h in hits],
    }
    for name in PROPERTIES:
        column = []
        for hit in hits:
            stored = lab.plane_properties(hit.segmentation_id, hit.plane, names=[name]).get(name)
            column.append(None if stored is None else stored[mask_index[hit.roi_id]].item())
        values[name] = column
    return values


def _same(column: np.ndarray, expected: list, name: str) -> None:
    got = column.tolist()
    if name == "session_start":
        got = [None if v is None else v.replace(tzinfo=dt.timezone.utc) for v in column.astype("datetime64[us]").tolist()]
    missing = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else v for v in expected]
    assert [None if (isinstance(v, float) and math.isnan(v)) else v for v in got] == missing, name


@pytest.mark.parametrize("filters", [
    {}, {"where": "snr > 2"}, {"subject": "m1"}, {"where": "region == 'V1' and depth < 104"}, {"limit": 4},
    {"where": "good", "subject": "m1", "limit": 3},
])
def test_columns_hold_what_the_records_hold(lab, filters):
    result = lab.query(**filters)
    hits = list(result)
    assert hits, filters
    columns = result.columns([*FIELDS, "mask_index", *PROPERTIES])
    expected = _as_record_values(lab, hits)
    assert list(columns) == [*FIELDS, "mask_index", *PROPERTIES]
    for name, values in expected.items():
        _same(columns[name], values, name)


def test_property_columns_are_typed_with_nan_where_a_roi_has_no_value(lab):
    columns = lab.query().columns(["key", "session", "snr", "depth", "region", "good", "extra"])
    assert columns["depth"].dtype == np.int64 and columns["good"].dtype == np.bool_
    assert columns["snr"].dtype == np.float64 and columns["extra"].dtype == np.float64
    assert columns["region"].dtype == object and set(columns["region"]) == {"V1", "LM", "AL"}
    assert columns["key"].dtype == object  # int keys of s1 beside the str keys of s2
    assert {type(k) for k in columns["key"]} == {int, str}
    in_s1 = columns["session"] == "s1"
    assert np.isnan(columns["snr"][in_s1][1]) and np.isnan(columns["extra"][~in_s1]).all()
    assert columns["extra"][in_s1].tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]
    ints = lab.query(subject="m1", session="s1").columns(["key", "extra"])
    assert ints["key"].dtype == np.int64 and ints["extra"].dtype == np.int64


def test_pandas_and_arrow_tables_are_typed(lab):
    pandas = pytest.importorskip("pandas")
    frame = lab.query(subject="m1").to_pandas([*FIELDS, "depth", "snr", "region"])
    assert list(frame.columns) == [*FIELDS, "depth", "snr", "region"] and len(frame) == 9
    assert isinstance(frame.dtypes["session_start"], pandas.DatetimeTZDtype)
    assert frame["session_start"].iloc[0] == pandas.Timestamp("2026-03-01T09:30", tz="UTC")
    assert frame.dtypes["roi_id"] == np.int64 and frame.dtypes["depth"] == np.int64
    assert frame.dtypes["fov_x_um"] == np.float64
    assert list(lab.query().to_pandas().columns) == list(FIELDS)
    pa = pytest.importorskip("pyarrow")
    table = lab.query().to_arrow(["key", "session_start", "snr", "region", "good"])
    assert table.schema.field("session_start").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("snr").type == pa.float64() and table.schema.field("good").type == pa.bool_()
    assert table.column("snr").null_count == 1 and table.column("session_start").null_count == 3
    assert table.num_rows == 12


@pytest.mark.parametrize("filters", [{"where": "snr > 1000"}, {"subject": "m1", "date_from": "2027-01-01"}])
def test_an_empty_answer_is_an_empty_typed_table(lab, filters):
    result = lab.query(**filters)
    assert len(result) == 0 and list(result) == [] and result == []
    columns = result.columns([*FIELDS, "depth", "snr"])
    assert all(len(column) == 0 for column in columns.values())
    assert columns["roi_id"].dtype == np.int64 and columns["fov_x_um"].dtype == np.float64
    assert columns["session_start"].dtype == np.dtype("datetime64[us]") and columns["snr"].dtype == np.float64
    pandas = pytest.importorskip("pandas")
    frame = result.to_pandas(["key", "session_start", "snr"])
    assert len(frame) == 0 and list(frame.columns) == ["key", "session_start", "snr"]
    assert isinstance(frame.dtypes["session_start"], pandas.DatetimeTZDtype)


def test_len_and_count_are_one_count_in_sql_and_fetch_no_row(lab):
    result = lab.query(where="snr > 2", subject="m1")
    with _statements() as sent:
        assert len(result) == result.count() == 6
    assert len(sent) == 1 and "count(" in sent[0].lower() and "roi_key" not in sent[0]
    with _statements() as sent:
        columns = result.columns(["key", "session", "snr"])
    assert len(columns["key"]) == 6
    # One statement reads the ROIs' rows; the others look up names, descriptions and (PostgreSQL's packed
    # columns carrying int keys only) the text keys of s2 by id.
    reads = [statement for statement in sent if "rois.roi_key" in statement and "rois.roi_id IN" not in statement]
    assert len(reads) == 1


def test_the_handle_still_acts_as_the_list_it_was(lab):
    result = lab.query(subject="m1")
    hits = lab.query_rois(subject="m1")
    assert list(result) == hits and result == hits and len(result) == 9 and bool(result)
    assert result[0] == hits[0] and result[-1] == hits[-1] and result[2:4] == hits[2:4]
    assert [hit.key for hit in result] == [hit.key for hit in hits]
    assert hits[3] in result and result.index(hits[3]) == 3
    extractors = result.extractors()
    assert sorted(len(e.get_roi_ids()) for e in extractors.values()) == [4, 5]


def test_an_unknown_column_is_one_error_line_naming_what_there_is(lab):
    with pytest.raises(segdb.InvalidInputError, match=r"columns \['snrr'\] are neither fields nor properties") as got:
        lab.query().columns(["key", "snrr"])
    assert "\n" not in str(got.value) and "snr" in str(got.value) and "fov_x_um" in str(got.value)


def test_filters_are_checked_when_the_query_is_made(lab):
    with pytest.raises(segdb.InvalidInputError, match="'skw'"):
        lab.query(where="skw > 1")
    with pytest.raises(segdb.InvalidInputError, match="ROI kinds"):
        lab.query(where="kind == 'neuron' or snr > 5")
