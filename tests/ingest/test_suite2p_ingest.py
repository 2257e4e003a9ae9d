"""suite2p front end: discovery, reading with and without ops.npy, agreement with roiextractors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from roiextractors import Suite2pSegmentationExtractor

from segdb.errors import InvalidInputError, NotFoundError
from segdb.ingest import (
    STAT_PROPERTIES,
    Suite2pFilesSegmentationExtractor,
    Suite2pPlane,
    Suite2pPlaneSegmentationExtractor,
    find_suite2p_planes,
    suite2p_extractor,
)
from segdb.synthetic import write_suite2p_folder

# Small enough to keep every test fast, not square so that a swapped axis shows.
SMALL = {"n_rois": 12, "n_frames": 120, "frame_shape": (72, 88), "sampling_frequency": 15.0}


def _assert_same_segmentation(ours, reference, *, images=("mean",)) -> None:
    """Traces, masks, shape, rate and the images named agree exactly."""
    assert ours.get_roi_ids() == reference.get_roi_ids()
    assert tuple(ours.get_frame_shape()) == tuple(reference.get_frame_shape())
    assert ours.get_num_samples() == reference.get_num_samples()
    assert ours.get_sampling_frequency() == reference.get_sampling_frequency()
    for name in ("raw", "neuropil", "deconvolved"):
        expected = reference.get_traces(name=name)
        actual = ours.get_traces(name=name)
        if expected is None:
            assert actual is None
        else:
            np.testing.assert_array_equal(actual, expected)
    for actual, expected in zip(ours.get_roi_pixel_masks(), reference.get_roi_pixel_masks(), strict=True):
        np.testing.assert_array_equal(actual, expected)
    np.testing.assert_array_equal(ours.get_roi_image_masks(), reference.get_roi_image_masks())
    for name in images:
        np.testing.assert_array_equal(ours.get_image(name), reference.get_image(name))


# --- discovery -------------------------------------------------------------------------


def test_find_planes_lists_every_plane_in_natural_order_and_skips_combined(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", n_planes=1, n_rois=3, n_frames=20, frame_shape=(48, 48))
    for name in ("plane2", "plane10", "plane1", "combined"):
        shutil.copytree(suite2p / "plane0", suite2p / name)

    planes = find_suite2p_planes(suite2p)

    assert [plane.plane_name for plane in planes] == ["plane0", "plane1", "plane2", "plane10"]
    assert {plane.channel_name for plane in planes} == {"chan1"}
    assert all(plane.path == suite2p / plane.plane_name for plane in planes)


def test_find_planes_lists_chan2_after_chan1_when_f_chan2_exists(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", n_planes=2, with_chan2=True, **SMALL)

    planes = find_suite2p_planes(suite2p)

    assert [(plane.plane_name, plane.channel_name) for plane in planes] == [
        ("plane0", "chan1"),
        ("plane0", "chan2"),
        ("plane1", "chan1"),
        ("plane1", "chan2"),
    ]


def test_find_planes_accepts_a_single_plane_folder(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", n_planes=2, **SMALL)

    planes = find_suite2p_planes(suite2p / "plane1")

    assert planes == [Suite2pPlane(plane_name="plane1", channel_name="chan1", path=suite2p / "plane1")]


def test_find_planes_accepts_the_folder_suite2p_saved_into(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "session" / "suite2p", **SMALL)

    planes = find_suite2p_planes(tmp_path / "session")

    assert [plane.path for plane in planes] == [suite2p / "plane0"]


def test_find_planes_warns_about_and_skips_a_plane_without_stat(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", n_planes=2, **SMALL)
    (suite2p / "plane1" / "stat.npy").unlink()

    with pytest.warns(UserWarning, match="plane1.*no stat.npy"):
        planes = find_suite2p_planes(suite2p)

    assert [plane.plane_name for plane in planes] == ["plane0"]


def test_find_planes_names_the_folder_and_what_was_looked_for_when_nothing_is_found(tmp_path: Path) -> None:
    (tmp_path / "empty" / "notes").mkdir(parents=True)

    with pytest.raises(NotFoundError, match="No suite2p planes found in .*empty.*stat.npy.*plane\\*/"):
        find_suite2p_planes(tmp_path / "empty")


def test_find_planes_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does-not-exist.*does not exist"):
        find_suite2p_planes(tmp_path / "does-not-exist")


# --- ops.npy missing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_shape", "sampling_frequency", "missing"),
    [
        (None, None, "frame shape and sampling frequency"),
        ((72, 88), None, "sampling frequency"),
        (None, 15.0, "frame shape"),
    ],
)
def test_missing_ops_error_names_the_folder_and_both_ways_to_pass_shape_and_rate(
    tmp_path: Path, frame_shape, sampling_frequency, missing
) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", with_ops=False, **SMALL)
    (plane,) = find_suite2p_planes(suite2p)

    with pytest.raises(InvalidInputError) as caught:
        suite2p_extractor(plane, frame_shape=frame_shape, sampling_frequency=sampling_frequency)

    message = str(caught.value)
    assert f"ops.npy is missing in {suite2p / 'plane0'}" in message
    assert missing in message
    assert "--frame-shape H W" in message and "--rate HZ" in message
    assert "frame_shape=" in message and "sampling_frequency=" in message


def test_missing_ops_with_shape_and_rate_reads_what_roiextractors_reads_with_ops(tmp_path: Path) -> None:
    with_ops = write_suite2p_folder(tmp_path / "a" / "suite2p", seed=3, **SMALL)
    without_ops = write_suite2p_folder(tmp_path / "b" / "suite2p", seed=3, with_ops=False, **SMALL)
    (plane,) = find_suite2p_planes(without_ops)

    ours = suite2p_extractor(plane, frame_shape=SMALL["frame_shape"], sampling_frequency=SMALL["sampling_frequency"])
    reference = Suite2pSegmentationExtractor(with_ops, channel_name="chan1", plane_name="plane0")

    assert isinstance(ours, Suite2pFilesSegmentationExtractor)
    _assert_same_segmentation(ours, reference, images=())
    assert ours.get_images_dict() == {}
    np.testing.assert_array_equal(
        ours.get_property("iscell", ours.get_roi_ids()), reference.get_property("iscell", reference.get_roi_ids())
    )
    full = suite2p_extractor(find_suite2p_planes(with_ops)[0])
    for key in full.get_property_keys():
        np.testing.assert_array_equal(
            ours.get_property(key, ours.get_roi_ids()), full.get_property(key, full.get_roi_ids())
        )


def test_missing_ops_refuses_a_frame_shape_that_does_not_cover_every_roi(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", with_ops=False, **SMALL)
    (plane,) = find_suite2p_planes(suite2p)

    with pytest.raises(InvalidInputError, match=r"frame_shape \(40, 40\) does not cover ROI \d+ of .*stat.npy.*Ly, Lx"):
        suite2p_extractor(plane, frame_shape=(40, 40), sampling_frequency=15.0)


# --- with ops.npy ----------------------------------------------------------------------


def test_synthetic_folder_reads_the_same_through_segdb_and_roiextractors(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", n_planes=2, **SMALL)
    plane = find_suite2p_planes(suite2p)[1]

    ours = suite2p_extractor(plane)
    reference = Suite2pSegmentationExtractor(suite2p, channel_name="chan1", plane_name="plane1")

    assert isinstance(ours, Suite2pPlaneSegmentationExtractor)
    _assert_same_segmentation(ours, reference)
    # And both equal the files as suite2p wrote them: (n_rois, n_frames) on disk.
    np.testing.assert_array_equal(ours.get_traces(name="raw"), np.load(plane.path / "F.npy").T)
    stat = np.load(plane.path / "stat.npy", allow_pickle=True)
    first_mask = ours.get_roi_pixel_masks(roi_ids=[0])[0]
    np.testing.assert_array_equal(first_mask[:, 0], stat[0]["ypix"])
    np.testing.assert_array_equal(first_mask[:, 1], stat[0]["xpix"])


def test_cropped_images_are_placed_on_the_registration_crop(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", **SMALL)
    (plane,) = find_suite2p_planes(suite2p)
    ops = np.load(plane.path / "ops.npy", allow_pickle=True).item()
    (y0, y1), (x0, x1) = ops["yrange"], ops["xrange"]
    # The synthetic crop is asymmetric, so an image pasted at flipped offsets would fail.
    assert y0 != SMALL["frame_shape"][0] - y1

    extractor = suite2p_extractor(plane)

    for name, key in (("max_projection", "max_proj"), ("correlation", "Vcorr")):
        image = extractor.get_image(name)
        assert image.shape == SMALL["frame_shape"]
        np.testing.assert_array_equal(image[y0:y1, x0:x1], ops[key])
        outside = np.ones(image.shape, dtype=bool)
        outside[y0:y1, x0:x1] = False
        assert not image[outside].any()


def test_acceptance_and_stat_fields_become_one_value_per_roi_properties(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", **SMALL)
    (plane,) = find_suite2p_planes(suite2p)
    iscell = np.load(plane.path / "iscell.npy")
    stat = np.load(plane.path / "stat.npy", allow_pickle=True)

    extractor = suite2p_extractor(plane)
    ids = extractor.get_roi_ids()

    accepted = extractor.get_property("accepted", ids)
    assert accepted.dtype == bool
    np.testing.assert_array_equal(accepted, iscell[:, 0] == 1)
    assert 0 < accepted.sum() < len(ids)
    np.testing.assert_array_equal(extractor.get_property("cell_probability", ids), iscell[:, 1])
    for key in STAT_PROPERTIES:
        values = extractor.get_property(key, ids)
        assert values.shape == (len(ids),) and values.dtype == np.float64
        np.testing.assert_allclose(values, [float(entry[key]) for entry in stat])


def test_chan2_reads_second_channel_traces_and_keeps_the_cell_decision(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", with_chan2=True, **SMALL)
    chan1, chan2 = find_suite2p_planes(suite2p)

    extractor = suite2p_extractor(chan2)
    ids = extractor.get_roi_ids()

    np.testing.assert_array_equal(extractor.get_traces(name="raw"), np.load(chan2.path / "F_chan2.npy").T)
    assert extractor.get_traces(name="deconvolved") is None
    np.testing.assert_array_equal(
        extractor.get_image("mean"), np.load(chan2.path / "ops.npy", allow_pickle=True).item()["meanImg_chan2"]
    )
    # roiextractors' "iscell" holds the red-cell decision for chan2; "accepted" stays the cell decision.
    np.testing.assert_array_equal(
        extractor.get_property("accepted", ids), np.load(chan2.path / "iscell.npy")[:, 0] == 1
    )
    np.testing.assert_array_equal(
        extractor.get_property("redcell", ids), np.load(chan2.path / "redcell.npy")[:, 0] == 1
    )
    assert suite2p_extractor(chan1).get_traces(name="deconvolved") is not None


def test_rate_given_with_ops_overrides_ops_fs_and_a_wrong_frame_shape_is_refused(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", **SMALL)
    (plane,) = find_suite2p_planes(suite2p)

    assert suite2p_extractor(plane, sampling_frequency=7.5).get_sampling_frequency() == 7.5
    with pytest.raises(InvalidInputError, match=r"frame_shape \(88, 72\) disagrees with .*ops.npy"):
        suite2p_extractor(plane, frame_shape=(88, 72))


def test_renamed_plane_folder_with_ops_is_read_from_its_files_with_images(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", **SMALL)
    reference = suite2p_extractor(find_suite2p_planes(suite2p)[0])
    renamed = shutil.copytree(suite2p / "plane0", tmp_path / "fov_a")

    (plane,) = find_suite2p_planes(renamed)
    extractor = suite2p_extractor(plane)

    assert isinstance(extractor, Suite2pFilesSegmentationExtractor)
    _assert_same_segmentation(extractor, reference, images=("mean", "correlation", "max_projection"))


def test_plane_without_rois_opens_with_zero_rois(tmp_path: Path) -> None:
    suite2p = write_suite2p_folder(tmp_path / "suite2p", n_rois=0, n_frames=30, frame_shape=(32, 32))

    extractor = suite2p_extractor(find_suite2p_planes(suite2p)[0])

    assert extractor.get_num_rois() == 0
    assert extractor.get_traces(name="raw").shape == (30, 0)
    assert extractor.get_property("accepted", []).shape == (0,)


# --- real suite2p output ---------------------------------------------------------------


def test_real_suite2p_output_reads_as_roiextractors_reads_it(real_suite2p_folder: Path) -> None:
    (plane,) = find_suite2p_planes(real_suite2p_folder)

    ours = suite2p_extractor(plane)
    reference = Suite2pSegmentationExtractor(real_suite2p_folder, channel_name="chan1", plane_name="plane0")

    assert ours.get_num_rois() == 23 and ours.get_num_samples() == 864
    assert tuple(ours.get_frame_shape()) == (176, 156)
    # This example's crop is symmetric, where roiextractors' Vcorr placement is right too.
    _assert_same_segmentation(ours, reference, images=("mean", "correlation"))
    ids = ours.get_roi_ids()
    np.testing.assert_array_equal(ours.get_property("iscell", ids), reference.get_property("iscell", ids))
    np.testing.assert_array_equal(ours.get_property("accepted", ids), reference.get_property("iscell", ids) == 1)
    ops = reference.options
    max_projection = ours.get_image("max_projection")
    assert max_projection.shape == (176, 156)
    np.testing.assert_array_equal(
        max_projection[ops["yrange"][0] : ops["yrange"][1], ops["xrange"][0] : ops["xrange"][1]], ops["max_proj"]
    )
    np.testing.assert_allclose(ours.get_property("npix", ids), [entry["npix"] for entry in reference.stat])
