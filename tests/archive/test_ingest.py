"""Ingest: what goes in comes back, bad input is refused whole, and nothing half-written is visible."""

from __future__ import annotations

import numpy as np
import pytest
from roiextractors import NumpySegmentationExtractor
from sqlalchemy import func, select

import segdb
from segdb.archive.locations import STORAGE_MARKER
from segdb.catalog import models as m
from segdb.synthetic import synthetic_segmentation


def _count_rows(archive) -> dict[str, int]:
    with archive.catalog.reading() as db:
        return {
            table.__tablename__: db.scalar(select(func.count()).select_from(table))
            for table in (m.Subject, m.ImagingSession, m.Segmentation, m.Roi, m.RoiProperty, m.ArrayFile,
                          m.TraceSeries, m.SummaryImage, m.ImagingPlane)
        }


def _files_under(root) -> list[str]:
    """The array files under ``root`` (not the marker that says whose root it is)."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != STORAGE_MARKER)


def _numpy_segmentation(n_rois=4, n_frames=30, frame=(20, 24), roi_ids=None, **overrides):
    rng = np.random.default_rng(1)
    masks = np.zeros((*frame, n_rois), dtype=np.float32)
    for i in range(n_rois):
        masks[2 + 3 * i : 4 + 3 * i, 3 + 2 * i : 6 + 2 * i, i] = rng.uniform(0.5, 1.0, (2, 3))
    kwargs = dict(
        image_masks=masks,
        raw=rng.normal(size=(n_frames, n_rois)).astype(np.float32),
        dff=rng.normal(size=(n_frames, n_rois)).astype(np.float32),
        sampling_frequency=15.0,
        movie_dims=frame,
        roi_ids=roi_ids if roi_ids is not None else list(range(n_rois)),
        accepted_list=(roi_ids if roi_ids is not None else list(range(n_rois)))[:2],
    )
    kwargs.update(overrides)
    return NumpySegmentationExtractor(**kwargs)


def _with_roi_ids(source, roi_ids):
    # roiextractors' own constructor cannot even hold duplicate ids; a custom extractor can.
    source._roi_ids = roi_ids
    return source


def _with_trace(source, name, data):
    [response] = [r for r in source._roi_responses if r.response_type == name]
    response.data = data
    return source


def test_ingest_round_trips_masks_traces_images_properties_and_keys(archive):
    source = synthetic_segmentation(n_rois=12, n_frames=80, roi_ids="str", seed=3)
    record = archive.ingest(source, subject="m12", session="2026-03-01", session_start="2026-03-01T10:00")
    assert record.num_rois == 12 and record.num_samples == 80 and record.status == "ready"
    assert record.sampling_frequency == source.get_sampling_frequency()

    [plane] = archive.plane_handles(record)
    assert list(plane.roi_keys) == source.get_roi_ids()
    assert plane.frame_shape == tuple(source.get_frame_shape())
    for name, data in source.get_traces_dict().items():
        if data is None:
            assert name not in plane.traces
        else:
            np.testing.assert_array_equal(plane.traces[name][:], np.asarray(data))
    stored = plane.masks.pixel_masks(range(12))
    for got, expected in zip(stored, source.get_roi_pixel_masks()):
        np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64), rtol=1e-6)
    for name, image in source.get_images_dict().items():
        if image is not None:
            np.testing.assert_array_equal(plane.images[name][:], image)
    properties = archive.plane_properties(record)
    for key in source.get_property_keys():
        expected = source.get_property(key, source.get_roi_ids())
        np.testing.assert_array_equal(properties[key], expected)
        assert properties[key].dtype == expected.dtype


def test_roi_records_carry_geometry_and_typed_keys(archive):
    source = _numpy_segmentation(roi_ids=[7, "roi_b", 3, "x"])
    record = archive.ingest(source, subject="m1", session="s1", pixel_size_um=2.0, origin_um=(100.0, 50.0, 0.0))
    rois = archive.rois(record)
    assert [r.key for r in rois] == [7, "roi_b", 3, "x"]
    assert [type(r.key) for r in rois] == [int, str, int, str]
    first = rois[0]
    mask = source.get_roi_image_masks([7])[:, :, 0]
    rows, cols = np.nonzero(mask)
    weights = mask[rows, cols]
    assert first.centroid_px == pytest.approx((np.average(rows, weights=weights), np.average(cols, weights=weights)))
    assert first.centroid_um == pytest.approx((100.0 + 2.0 * first.centroid_px[1], 50.0 + 2.0 * first.centroid_px[0]))
    assert first.bbox == (rows.min(), rows.max(), cols.min(), cols.max())
    assert first.pixel_count == rows.size
    assert [r.source_accepted for r in rois] == [True, True, False, False]


def test_multi_plane_segmentation_keeps_per_plane_keys(archive):
    planes = {"plane0": _numpy_segmentation(n_rois=3), "plane1": _numpy_segmentation(n_rois=5)}
    record = archive.ingest(planes, subject="m1", session="s1", name="two-planes")
    assert record.planes == ("plane0", "plane1")
    assert record.num_rois == 8
    assert [r.key for r in archive.rois(record, plane="plane1")] == [0, 1, 2, 3, 4]
    assert [p.name for p in archive.planes(record)] == ["plane0", "plane1"]


def test_background_components_are_archived_with_their_traces(archive, tmp_path):
    from segdb.ingest.caiman import caiman_extractor
    from segdb.synthetic import write_synthetic_caiman_hdf5

    path = write_synthetic_caiman_hdf5(tmp_path / "caiman.hdf5")
    source = caiman_extractor(path)
    assert source.get_background_ids(), "the synthetic CaImAn file should have background components"
    record = archive.ingest(source, subject="m1", session="s1")
    [plane] = archive.plane_handles(record)
    assert list(plane.background_keys) == source.get_background_ids()
    assert record.num_background == len(source.get_background_ids())
    np.testing.assert_allclose(plane.background_traces["background"][:], source.get_traces(name="background"))
    kinds = {r.kind for r in archive.rois(record, kind=None)}
    assert kinds == {"cell", "background"}


def test_timestamps_are_kept_when_the_source_has_them(archive):
    source = _numpy_segmentation(n_frames=30)
    times = np.cumsum(np.full(30, 0.05)) + 12.0
    source.set_times(times)
    record = archive.ingest(source, subject="m1", session="s1")
    [plane] = archive.plane_handles(record)
    np.testing.assert_array_equal(plane.timestamps[:], times)


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        (lambda: _with_roi_ids(_numpy_segmentation(), [1, 2, 2, 3]), "duplicate ROI keys"),
        (lambda: _with_trace(_numpy_segmentation(), "raw", np.zeros((30, 3), np.float32)), "3 columns but the plane has 4"),
        (lambda: _with_trace(_numpy_segmentation(), "dff", np.zeros((29, 4), np.float32)), "disagree on their length"),
        (lambda: _numpy_segmentation(sampling_frequency=float("nan")), "sampling frequency"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(archive, make_bad, message):
    before = _count_rows(archive)
    with pytest.raises(segdb.InvalidInputError, match=message):
        archive.ingest(make_bad(), subject="m1", session="s1")
    assert _count_rows(archive) == before
    assert _files_under(archive.storage_root) == []


def test_pixels_outside_the_frame_are_refused(archive):
    source = _numpy_segmentation()
    original = source.get_roi_pixel_masks

    def shifted(roi_ids=None):
        masks = original(roi_ids)
        masks[1] = masks[1] + np.array([0, 100, 0])
        return masks

    source.get_roi_pixel_masks = shifted
    with pytest.raises(segdb.InvalidInputError, match="outside the 20 x 24 frame"):
        archive.ingest(source, subject="m1", session="s1")
    assert _count_rows(archive)["rois"] == 0


def test_infinite_trace_values_stop_the_write_and_leave_no_rows_or_files(archive):
    source = _numpy_segmentation()
    raw = np.zeros((30, 4), np.float32)
    raw[17, 2] = np.inf
    _with_trace(source, "raw", raw)
    with pytest.raises(segdb.InvalidInputError, match="infinite"):
        archive.ingest(source, subject="m1", session="s1")
    assert all(count == 0 for count in _count_rows(archive).values())
    assert _files_under(archive.storage_root) == []


def test_an_empty_segmentation_is_refused(archive):
    empty = NumpySegmentationExtractor(
        image_masks=np.zeros((10, 10, 0)), raw=np.zeros((5, 0)), sampling_frequency=10.0, movie_dims=(10, 10)
    )
    with pytest.raises(segdb.InvalidInputError, match="no ROIs"):
        archive.ingest(empty, subject="m1", session="s1")


def test_a_numpy_extractor_built_without_movie_dims_is_ingested_with_its_masks_frame(archive):
    # As roiextractors' docs build it: get_frame_shape() then reports the mask stack's (20, 24, 4).
    with_dims = _numpy_segmentation(frame=(20, 24))
    source = _numpy_segmentation(frame=(20, 24), movie_dims=None)
    assert tuple(source.get_frame_shape()) == (20, 24, 4)
    record = archive.ingest(source, subject="m1", session="s1")
    [plane] = archive.plane_handles(record)
    assert plane.frame_shape == (20, 24)
    extractor = archive.extractor(record)
    np.testing.assert_array_equal(extractor.get_roi_image_masks(), source.get_roi_image_masks())
    np.testing.assert_array_equal(extractor.get_roi_image_masks(), with_dims.get_roi_image_masks())
    np.testing.assert_array_equal(extractor.get_traces(name="dff"), source.get_traces(name="dff"))


def test_a_three_dimensional_frame_that_is_not_the_mask_stack_is_refused(archive):
    source = _numpy_segmentation(frame=(20, 24))
    source._movie_dims = (20, 24, 3)  # a volume of depth 3, not the stack of 4 masks
    with pytest.raises(segdb.InvalidInputError, match=r"frame shape of plane 'plane0' is \(20, 24, 3\).*per plane"):
        archive.ingest(source, subject="m1", session="s1")
    assert _count_rows(archive)["rois"] == 0


def test_an_empty_numpy_extractor_without_movie_dims_is_refused_for_having_no_rois(archive):
    empty = NumpySegmentationExtractor(image_masks=np.zeros((10, 12, 0)), raw=np.zeros((5, 0)), sampling_frequency=10.0)
    with pytest.raises(segdb.InvalidInputError, match="no ROIs"):
        archive.ingest(empty, subject="m1", session="s1")


def test_a_second_segmentation_with_the_same_name_is_a_conflict(archive):
    archive.ingest(_numpy_segmentation(), subject="m1", session="s1", name="run")
    with pytest.raises(segdb.ConflictError, match="already has a segmentation named 'run'"):
        archive.ingest(_numpy_segmentation(), subject="m1", session="s1", name="run")
    assert len(archive.segmentations()) == 1


def test_names_with_slashes_are_refused(archive):
    with pytest.raises(segdb.InvalidInputError, match="subject"):
        archive.ingest(_numpy_segmentation(), subject="m1/evil", session="s1")


def test_a_plane_keeps_its_frame_shape_across_segmentations(archive):
    archive.ingest(_numpy_segmentation(frame=(20, 24)), subject="m1", session="s1", name="a")
    with pytest.raises(segdb.InvalidInputError, match="already archived as 20 x 24"):
        archive.ingest(_numpy_segmentation(frame=(30, 24)), subject="m1", session="s1", name="b")


def test_delete_removes_rows_and_files(archive):
    keep = archive.ingest(_numpy_segmentation(), subject="m1", session="s1", name="keep")
    gone = archive.ingest(_numpy_segmentation(), subject="m1", session="s1", name="gone")
    archive.delete_segmentation(gone.segmentation_id)
    assert [s.name for s in archive.segmentations()] == ["keep"]
    assert len(_files_under(archive.storage_root)) == 1
    with pytest.raises(segdb.NotFoundError, match="not in the archive"):
        archive.segmentation(gone.segmentation_id)
    assert archive.segmentation("m1/s1/keep") == keep
    assert _count_rows(archive)["rois"] == 4


def test_an_archive_created_in_this_process_deletes_rows_and_files(tmp_path):
    # Creating an archive runs its migrations on a pooled connection with SQLite's foreign keys off;
    # that connection must not come back to the archive's own reads and writes.
    with segdb.open(tmp_path / "lab") as archive:
        record = archive.ingest(_numpy_segmentation(), subject="m1", session="s1")
        archive.delete_segmentation(record)
        assert _files_under(archive.storage_root) == []
        assert _count_rows(archive)["rois"] == 0
        with archive.catalog.reading() as db:
            assert db.scalar(select(func.count()).select_from(m.SegmentationPlane)) == 0
            assert db.scalar(select(func.count()).select_from(m.ArrayFile)) == 0


def test_unknown_segmentation_error_says_how_to_list_them(archive):
    with pytest.raises(segdb.NotFoundError, match="segdb ls segmentations"):
        archive.rois(12345)
    with pytest.raises(KeyError):
        archive.rois("m1/s1/nothing")
