"""Reading a property reads that property only, counted in the SQL sent to the catalog (on both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from sqlalchemy import event

from segdb.errors import InvalidInputError
from segdb.ingest.frontends import ingest_path
from segdb.synthetic import synthetic_segmentation, write_suite2p_folder


@contextmanager
def statements_sent(archive) -> Iterator[list[tuple[str, list]]]:
    """Every (SQL statement, its parameter values) the archive's engine sends while the block runs."""
    sent: list[tuple[str, list]] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        rows = parameters if executemany else [parameters]
        values = []
        for row in rows:
            values.extend(row.values() if isinstance(row, dict) else (row or ()))
        sent.append((statement, values))

    event.listen(archive.catalog.engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(archive.catalog.engine, "before_cursor_execute", note)


def value_reads(sent: list[tuple[str, list]]) -> list[list]:
    """The parameters of each statement that reads stored property values."""
    return [values for statement, values in sent if "roi_properties" in statement and "value_num" in statement]


@pytest.fixture
def scored(archive):
    record = archive.ingest(synthetic_segmentation(n_rois=8, n_frames=30, seed=3), subject="m1", session="s1")
    extractor = archive.extractor(record)
    ids = extractor.get_roi_ids()
    extractor.set_property("snr", np.arange(8.0), ids)
    extractor.set_property("region", np.array(["V1"] * 4 + ["LM"] * 4), ids)
    return archive, extractor


def test_get_property_reads_only_the_asked_property(scored):
    archive, extractor = scored
    with statements_sent(archive) as sent:
        values = extractor.get_property("snr", [5, 2])
    np.testing.assert_array_equal(values, [5.0, 2.0])
    reads = value_reads(sent)
    assert len(reads) == 1
    assert "snr" in reads[0] and "region" not in reads[0] and "accepted" not in reads[0]


def test_get_property_keys_reads_names_not_values(scored):
    archive, extractor = scored
    with statements_sent(archive) as sent:
        keys = extractor.get_property_keys()
    assert {"snr", "region", "accepted"} <= set(keys)
    assert any("roi_properties" in statement for statement, _ in sent)
    assert value_reads(sent) == []


def test_a_multiplane_property_is_read_once_per_plane_asked_and_only_that_property(archive, tmp_path):
    folder = write_suite2p_folder(tmp_path / "suite2p", n_planes=3, n_rois=4, n_frames=20, frame_shape=(30, 32))
    [record] = ingest_path(archive, "suite2p", folder, subject="m1", session="s1")
    multi = archive.multiplane_extractor(record)
    for index, plane in enumerate(multi.segmentations):
        plane.set_property("snr", np.arange(4.0) + 10 * index, plane.get_roi_ids())
        plane.set_property("region", np.array(["V1"] * 4), plane.get_roi_ids())
    with statements_sent(archive) as sent:
        values = multi.get_property("snr", [5, 1, 6])  # planes 1, 0, 1
    np.testing.assert_array_equal(values, [11.0, 1.0, 12.0])
    reads = value_reads(sent)
    assert len(reads) == 2
    assert all("snr" in read and "region" not in read and "iscell" not in read for read in reads)


def test_a_new_property_for_some_rois_is_refused_before_anything_is_written(scored):
    archive, extractor = scored
    view = extractor.select_rois([5, 2])
    for target in (extractor, view):
        with pytest.raises(InvalidInputError, match=r"'area' is not set for the other 6 ROIs .* each of its 8 ROIs"):
            target.set_property("area", ["CA1", "CA3"], [2, 5])
    for reader in (extractor, view, archive.extractor(extractor.segmentation_id)):
        assert "area" not in reader.get_property_keys()
    assert "area" not in archive.property_descriptions(extractor.segmentation_id)


def test_a_view_replaces_its_rois_values_and_every_reader_sees_them_in_place(scored):
    archive, extractor = scored
    view = extractor.select_rois([5, 2])
    view.set_property("region", ["CA1", "CA3"], [2, 5])
    expected = ["V1", "V1", "CA1", "V1", "LM", "CA3", "LM", "LM"]
    for reader in (extractor, archive.extractor(extractor.segmentation_id)):
        assert reader.get_property("region", reader.get_roi_ids()).tolist() == expected
    assert view.get_property("region", [5, 2]).tolist() == ["CA3", "CA1"]
    assert archive.count_rois(where="region = 'CA3'") == 1


def test_a_replacement_widens_numbers_and_strings_without_truncating_the_kept_values(archive):
    record = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=30, seed=3), subject="m1", session="s1")
    extractor = archive.extractor(record)
    extractor.set_property("count", np.arange(4), [0, 1, 2, 3])
    extractor.select_rois([1]).set_property("count", [2.5], [1])
    np.testing.assert_array_equal(extractor.get_property("count", [0, 1, 2, 3]), [0.0, 2.5, 2.0, 3.0])
    extractor.set_property("region", np.array(["CA1", "LM", "CA1", "LM"]), [0, 1, 2, 3])
    extractor.set_property("region", ["V1"], [3])
    assert extractor.get_property("region", [0, 1, 2, 3]).tolist() == ["CA1", "LM", "CA1", "V1"]


def test_a_replacement_of_another_kind_is_refused_and_the_old_values_stay(scored):
    archive, extractor = scored
    refused = r"'snr' of segmentation \d+ holds float values; the new values are str"
    with pytest.raises(InvalidInputError, match=refused):
        extractor.select_rois([1]).set_property("snr", ["high"], [1])
    np.testing.assert_array_equal(extractor.get_property("snr", extractor.get_roi_ids()), np.arange(8.0))
    extractor.set_property("snr", np.array(["low"] * 8), extractor.get_roi_ids())
    assert extractor.get_property("snr", [0]).tolist() == ["low"]
