"""Laziness is measured, not assumed: making extractors and views reads nothing, and a small
window of a long series reads a bounded number of chunks whatever the series' length."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from segdb.arrays import close_all, io_stats, reset_io_stats, trace_chunk_shape
from segdb.synthetic import synthetic_segmentation


@pytest.fixture(scope="module")
def short_and_long_sources():
    """Simulating 60,000 frames takes seconds: once for both backends."""
    return (synthetic_segmentation(n_rois=64, n_frames=2_000, seed=1),
            synthetic_segmentation(n_rois=64, n_frames=60_000, seed=1))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ingested(request, archive_maker, tmp_path_factory, short_and_long_sources):
    """A short and a long segmentation, ingested once per backend: the tests here only read them."""
    short_source, long_source = short_and_long_sources
    with archive_maker.new(request.param, tmp_path_factory.mktemp("laziness")) as archive:
        short = archive.ingest(short_source, subject="m1", session="short")
        long = archive.ingest(long_source, subject="m1", session="long")
        yield archive, short, long


@pytest.fixture
def long_and_short(ingested):
    # Each test starts with no array file open, whatever the test before it read.
    close_all()
    return ingested


def test_opening_an_extractor_and_making_views_reads_no_array(long_and_short):
    archive, _, long = long_and_short
    reset_io_stats()
    extractor = archive.extractor(long)
    view = extractor.select_rois([5, 2, 40]).slice_samples(1000, 2000).select_rois([40, 5])
    traces = view.get_traces_dict()
    assert view.get_num_samples() == 1000 and view.get_roi_ids() == [40, 5]
    assert traces["raw"].shape == (1000, 2)
    stats = io_stats()
    assert stats.files_opened == 0 and stats.dataset_reads == 0 and stats.bytes_read == 0


@pytest.mark.parametrize("mask_type", ["pixel", "image"])
def test_what_neuroconv_and_roiextractors_read_from_the_private_containers_reads_no_array(long_and_short, mask_type):
    archive, _, long = long_and_short
    reset_io_stats()
    extractor = archive.extractor(long, mask_type=mask_type)
    masks = extractor._roi_masks
    assert masks.mask_tpe == f"nwb-{mask_type}_mask"
    assert masks.field_of_view_shape == extractor.get_frame_shape()
    assert list(masks.roi_id_map) == extractor.get_roi_ids()
    if mask_type == "image":
        assert masks.data.shape == (*extractor.get_frame_shape(), 64)
    else:
        assert len(masks.data) == 64
    responses = {response.response_type: response for response in extractor._roi_responses}
    assert responses["raw"].data.shape == (60_000, 64) and responses["raw"].roi_ids == extractor.get_roi_ids()
    assert sorted(extractor._summary_images) == sorted(archive.plane_handles(long)[0].images)
    multi = archive.multiplane_extractor(long, mask_type=mask_type)
    assert multi.segmentations[0]._roi_masks.mask_tpe == masks.mask_tpe
    stats = io_stats()
    assert stats.files_opened == 0 and stats.dataset_reads == 0 and stats.bytes_read == 0


@pytest.mark.parametrize("mask_type", ["pixel", "image"])
def test_indexing_the_mask_container_reads_only_the_masks_asked_for(long_and_short, mask_type):
    archive, _, long = long_and_short
    extractor = archive.extractor(long, mask_type=mask_type)
    extractor.get_roi_pixel_masks([0])  # the CSR pointers are read once per file
    reset_io_stats()
    one = extractor._roi_masks.data[:, :, 5] if mask_type == "image" else extractor._roi_masks.data[5]
    one_read = io_stats().bytes_read
    reset_io_stats()
    every = extractor.get_roi_pixel_masks()
    assert 0 < one_read < io_stats().bytes_read / 10
    roi_id = extractor.get_roi_ids()[5]
    if mask_type == "image":
        np.testing.assert_array_equal(one, extractor.get_roi_image_masks([roi_id])[:, :, 0])
    else:
        np.testing.assert_array_equal(one, every[5])


def test_a_small_window_reads_a_bounded_number_of_chunks_independent_of_length(long_and_short):
    archive, short, long = long_and_short
    touched = {}
    for record in (short, long):
        extractor = archive.extractor(record)
        reset_io_stats()
        block = extractor.get_traces(roi_ids=[3, 1, 2], start_frame=1500, end_frame=1600)
        assert block.shape == (100, 3)
        touched[record.session] = io_stats().chunks_touched
    assert touched["short"] == touched["long"]
    samples_per_chunk, rois_per_chunk = trace_chunk_shape(60_000, 64)
    # Samples 1500:1600 of ROIs 1..3 span at most two chunk rows and one chunk column.
    assert 1 <= touched["long"] <= 2 * (1 + 3 // rois_per_chunk)


def test_reading_one_roi_over_all_time_touches_only_its_column_of_chunks(long_and_short):
    archive, _, long = long_and_short
    extractor = archive.extractor(long)
    reset_io_stats()
    one = extractor.get_traces(roi_ids=[10])
    assert one.shape == (60_000, 1)
    samples_per_chunk, rois_per_chunk = trace_chunk_shape(60_000, 64)
    assert io_stats().chunks_touched == math.ceil(60_000 / samples_per_chunk)


def test_a_pickled_extractor_reads_in_the_new_process(long_and_short, tmp_path):
    archive, short, _ = long_and_short
    view = archive.extractor(short).select_rois([7, 3]).slice_samples(10, 20)
    restored = pickle.loads(pickle.dumps(view))
    np.testing.assert_array_equal(restored.get_traces(), view.get_traces())
    assert restored.get_roi_ids() == [7, 3]
