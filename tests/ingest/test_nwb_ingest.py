"""NWB front end: synthetic round trip, NWB's (x, y) pixel-mask order and files that break it
(NeuroConv's own output above all), table, id and shape choices, and files that are not NWB 2."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile
from pynwb.base import Images
from pynwb.image import GrayscaleImage
from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel, TwoPhotonSeries
from roiextractors import NwbSegmentationExtractor

from segdb.errors import InvalidInputError, NotFoundError
from segdb.ingest import NwbPlaneSegmentationExtractor, nwb_extractor
from segdb.synthetic import synthetic_segmentation, write_segmentation_nwb, write_synthetic_nwb

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
SHARED_NWB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nwb"

SYNTHETIC = {"n_rois": 7, "n_frames": 60, "frame_shape": (36, 50), "sampling_frequency": 20.0, "seed": 4}


def _assert_matches_synthetic(extractor) -> None:
    expected = synthetic_segmentation(**SYNTHETIC)
    ids = expected.get_roi_ids()
    assert extractor.get_roi_ids() == ids
    assert tuple(extractor.get_frame_shape()) == SYNTHETIC["frame_shape"]
    assert extractor.get_sampling_frequency() == SYNTHETIC["sampling_frequency"]
    for name in ("raw", "dff", "neuropil", "deconvolved"):
        np.testing.assert_array_equal(extractor.get_traces(name=name), expected.get_traces(name=name))
    np.testing.assert_allclose(extractor.get_roi_image_masks(), expected.get_roi_image_masks())
    for name in ("mean", "correlation"):
        np.testing.assert_array_equal(extractor.get_image(name), expected.get_image(name))
    np.testing.assert_array_equal(extractor.get_property("accepted", ids), expected.get_property("accepted", ids))
    np.testing.assert_allclose(extractor.get_timestamps()[:3], np.arange(3) / SYNTHETIC["sampling_frequency"])


def test_pixel_mask_file_round_trips_the_synthetic_segmentation(tmp_path: Path) -> None:
    path = write_synthetic_nwb(tmp_path / "session.nwb", **SYNTHETIC)

    extractor = nwb_extractor(path)

    assert isinstance(extractor, NwbPlaneSegmentationExtractor)
    _assert_matches_synthetic(extractor)
    expected = synthetic_segmentation(**SYNTHETIC)
    for actual, wanted in zip(extractor.get_roi_pixel_masks(), expected.get_roi_pixel_masks(), strict=True):
        np.testing.assert_allclose(actual, wanted, rtol=1e-6)


def test_image_mask_file_is_read_by_roiextractors_with_the_same_result(tmp_path: Path) -> None:
    path = write_synthetic_nwb(tmp_path / "session.nwb", mask_type="image", **SYNTHETIC)

    extractor = nwb_extractor(path)

    assert type(extractor) is NwbSegmentationExtractor
    _assert_matches_synthetic(extractor)


def test_writer_stores_pixel_masks_as_nwb_x_column_y_row(tmp_path: Path) -> None:
    path = write_synthetic_nwb(tmp_path / "session.nwb", **SYNTHETIC)
    expected = synthetic_segmentation(**SYNTHETIC).get_roi_pixel_masks()[0]

    with h5py.File(path, "r") as file:
        table = file["processing/ophys/ImageSegmentation/PlaneSegmentation"]
        first = table["pixel_mask"][: table["pixel_mask_index"][0]]

    np.testing.assert_array_equal(first["x"], expected[:, 1])
    np.testing.assert_array_equal(first["y"], expected[:, 0])


def test_image_masks_under_another_table_name_are_read_by_segdb_with_the_same_result(tmp_path: Path) -> None:
    path = write_segmentation_nwb(
        synthetic_segmentation(**SYNTHETIC),
        tmp_path / "session.nwb",
        mask_type="image",
        plane_segmentation_name="Plane0",
    )

    extractor = nwb_extractor(path)

    assert isinstance(extractor, NwbPlaneSegmentationExtractor)
    _assert_matches_synthetic(extractor)


def _write_nwb_by_hand(
    path: Path,
    tables: dict[str, list[list[tuple[int, int, float]]]],
    *,
    image_shape_xy: tuple[int, int] | None = None,
    columns: dict[str, list] | None = None,
    module: str = "ophys",
    modules: dict[str, str] | None = None,
    image_masks: dict[str, np.ndarray] | None = None,
    manifold_shape: tuple[int, int] | None = None,
    photon_series_shape_xy: tuple[int, int] | None = None,
) -> Path:
    """An NWB file written with pynwb alone, independent of segdb's writer.

    ``tables`` maps a table name to its ROIs' pixel masks, stored as given ((x, y, weight)
    rows); ``modules`` puts a table in another processing module than ``module``;
    ``image_masks`` adds an ``image_mask`` column, (n_rois, x, y), to a table.
    """
    nwbfile = NWBFile(session_description="hand written", identifier="hand", session_start_time=START)
    device = nwbfile.create_device(name="Microscope")
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane",
        optical_channel=OpticalChannel(name="Green", description="green", emission_lambda=510.0),
        imaging_rate=10.0,
        description="plane",
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP6s",
        location="V1",
        **({} if manifold_shape is None else {"manifold": np.zeros((*manifold_shape, 3))}),
    )
    if photon_series_shape_xy is not None:
        nwbfile.add_acquisition(
            TwoPhotonSeries(
                name="TwoPhotonSeries", data=np.zeros((3, *photon_series_shape_xy)), imaging_plane=plane,
                rate=10.0, unit="a.u.",
            )
        )
    containers: dict[str, tuple[ImageSegmentation, Fluorescence]] = {}
    for table_name, masks in tables.items():
        module_name = (modules or {}).get(table_name, module)
        if module_name not in containers:
            processing = nwbfile.create_processing_module(name=module_name, description="processed")
            segmentation, fluorescence = ImageSegmentation(name="ImageSegmentation"), Fluorescence(name="Fluorescence")
            processing.add(segmentation)
            processing.add(fluorescence)
            containers[module_name] = (segmentation, fluorescence)
        segmentation, fluorescence = containers[module_name]
        table = segmentation.create_plane_segmentation(name=table_name, description="rois", imaging_plane=plane)
        for column in columns or {}:
            table.add_column(name=column, description=column)
        for index, mask in enumerate(masks):
            row = {name: values[index] for name, values in (columns or {}).items()}
            if image_masks is not None and table_name in image_masks:
                row["image_mask"] = image_masks[table_name][index]
            table.add_roi(pixel_mask=mask, **row)
        region = table.create_roi_table_region(region=list(range(len(masks))), description="all")
        traces = np.arange(5 * len(masks), dtype=float).reshape(5, len(masks)) + 100 * len(
            fluorescence.roi_response_series
        )
        fluorescence.create_roi_response_series(
            name=f"{table_name}Raw", data=traces, rois=region, unit="a.u.", rate=10.0
        )
    if image_shape_xy is not None:
        nwbfile.processing[module].add(
            Images(name="Summary", images=[GrayscaleImage(name="mean", data=np.ones(image_shape_xy))])
        )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def test_nwb_pixel_mask_x_is_the_column_and_y_the_row(tmp_path: Path) -> None:
    # One ROI at row 2, columns 9-10 of a 6 x 12 frame: a swapped reading puts it at
    # row 9, outside the frame, or at the wrong place in the image mask.
    path = _write_nwb_by_hand(
        tmp_path / "pin.nwb", {"PlaneSegmentation": [[(9, 2, 1.0), (10, 2, 0.5)]]}, image_shape_xy=(12, 6)
    )

    extractor = nwb_extractor(path)

    assert tuple(extractor.get_frame_shape()) == (6, 12)
    np.testing.assert_array_equal(extractor.get_roi_pixel_masks()[0], [[2, 9, 1.0], [2, 10, 0.5]])
    image_mask = extractor.get_roi_image_masks()[:, :, 0]
    assert image_mask.shape == (6, 12)
    assert image_mask[2, 9] == 1.0 and image_mask[2, 10] == 0.5 and image_mask.sum() == 1.5
    assert extractor.get_image("mean").shape == (6, 12)


def test_pixel_masks_without_images_need_a_frame_shape(tmp_path: Path) -> None:
    path = _write_nwb_by_hand(tmp_path / "no_images.nwb", {"PlaneSegmentation": [[(9, 2, 1.0)]]})

    with pytest.raises(InvalidInputError, match=r"Cannot tell the frame shape.*no_images.nwb.*frame_shape=\(H, W\)"):
        nwb_extractor(path)
    assert tuple(nwb_extractor(path, frame_shape=(6, 12)).get_frame_shape()) == (6, 12)
    # x = 9 leaves a frame 6 wide: either the masks are (row, col) or the frame was given
    # (width, height); a frame from the caller does not decide that alone.
    with pytest.raises(
        InvalidInputError,
        match=r"fit the given frame \(12, 6\) only read as \(row, col\): .*x reaches 9, beyond the frame's width 6"
        r".*pixel_mask_order='rowcol'",
    ):
        nwb_extractor(path, frame_shape=(12, 6))
    np.testing.assert_array_equal(
        nwb_extractor(path, frame_shape=(12, 6), pixel_mask_order="rowcol").get_roi_pixel_masks()[0], [[9, 2, 1.0]]
    )


def test_several_plane_segmentations_must_be_named_and_each_gets_its_own_traces(tmp_path: Path) -> None:
    # x >= 6 in a frame 6 high: each table's masks fit it only as NWB's (x, y).
    path = _write_nwb_by_hand(
        tmp_path / "two_planes.nwb",
        {"Plane0": [[(7, 1, 1.0)], [(9, 3, 1.0)]], "Plane1": [[(8, 4, 1.0)]]},
        image_shape_xy=(12, 6),
    )

    with pytest.raises(
        InvalidInputError,
        match=r"2 plane segmentations \(ophys/Plane0, ophys/Plane1\).*plane_segmentation_name=.*--plane-segmentation",
    ):
        nwb_extractor(path)
    with pytest.raises(NotFoundError, match="'Plane7' is not in NWB file"):
        nwb_extractor(path, plane_segmentation_name="Plane7")
    second = nwb_extractor(path, plane_segmentation_name="Plane1")
    assert second.get_num_rois() == 1
    # Series not named like roiextractors' keep their NWB name as the trace name.
    np.testing.assert_array_equal(second.get_traces(name="Plane1Raw")[:, 0], 100 + np.arange(5.0))
    assert nwb_extractor(path, plane_segmentation_name="ophys/Plane0").get_traces(name="Plane1Raw") is None


def test_rejected_column_alone_gives_accepted_and_numeric_columns_become_properties(tmp_path: Path) -> None:
    path = _write_nwb_by_hand(
        tmp_path / "columns.nwb",
        {"PlaneSegmentation": [[(7, 1, 1.0)], [(9, 3, 1.0)], [(8, 4, 1.0)]]},
        image_shape_xy=(12, 6),
        columns={"Rejected": [False, True, False], "snr": [4.0, 1.0, 6.5]},
    )

    extractor = nwb_extractor(path)
    ids = extractor.get_roi_ids()

    np.testing.assert_array_equal(extractor.get_property("accepted", ids), [True, False, True])
    np.testing.assert_array_equal(extractor.get_property("snr", ids), [4.0, 1.0, 6.5])


def test_nwb_extractor_names_a_missing_file_a_foreign_file_and_a_file_without_ophys(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="missing.nwb.*does not exist"):
        nwb_extractor(tmp_path / "missing.nwb")
    (tmp_path / "notes.nwb").write_text("not hdf5")
    with pytest.raises(InvalidInputError, match="notes.nwb.*not an NWB"):
        nwb_extractor(tmp_path / "notes.nwb")
    empty = NWBFile(
        session_description="e", identifier="e", session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc)
    )
    with NWBHDF5IO(str(tmp_path / "empty.nwb"), "w") as io:
        io.write(empty)
    with pytest.raises(InvalidInputError, match="empty.nwb.*no ImageSegmentation .* in any processing module"):
        nwb_extractor(tmp_path / "empty.nwb")
