"""NWB front end: synthetic round trip, NWB's (x, y) pixel-mask order and files that break it
(NeuroConv's own output above all), table, id and shape choices, and files that are not NWB 2."""

from __future__ import annotations

import shutil
import warnings
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

from segdb.cli import main
from segdb.errors import InvalidInputError, NotFoundError
from segdb.ingest import NwbPlaneSegmentationExtractor, find_suite2p_planes, nwb_extractor, suite2p_extractor
from segdb.ingest.frontends import ingest_path
from segdb.synthetic import synthetic_segmentation, write_segmentation_nwb, write_suite2p_folder, write_synthetic_nwb

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
    if manifold_shape is not None:
        # pynwb 4 no longer writes the deprecated manifold; files from older pynwb have it.
        with h5py.File(path, "r+") as file:
            file["general/optophysiology/ImagingPlane/manifold"] = np.zeros((*manifold_shape, 3))
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


# --- NeuroConv's own files -----------------------------------------------------------------


def _neuroconv_suite2p_nwb(folder: Path, path: Path, roi_ids: list[int] | None = None) -> Path:
    """A file written by NeuroConv itself from a suite2p folder: every ROI, or a curated subset."""
    from neuroconv.datainterfaces import Suite2pSegmentationInterface
    from neuroconv.tools.roiextractors import write_segmentation_to_nwbfile

    with warnings.catch_warnings():
        # NeuroConv's notices about its own metadata formats; they say nothing about the file.
        warnings.simplefilter("ignore")
        interface = Suite2pSegmentationInterface(folder_path=folder)
        metadata = interface.get_metadata()
        metadata["NWBFile"]["session_start_time"] = START
        if roi_ids is None:
            interface.run_conversion(nwbfile_path=path, metadata=metadata, overwrite=True)
        else:
            write_segmentation_to_nwbfile(
                interface.segmentation_extractor.select_rois(roi_ids), nwbfile_path=path, metadata=metadata,
                overwrite=True,
            )
    return path


def _assert_same_as_suite2p_ingest(ours, suite2p, roi_ids: list[int], images: dict[str, str]) -> None:
    """The NWB file's segmentation, archived, equals segdb's own ingest of the suite2p folder."""
    suite2p = suite2p.select_rois(roi_ids)
    assert ours.get_roi_ids() == roi_ids and all(type(roi_id) is int for roi_id in ours.get_roi_ids())
    assert tuple(ours.get_frame_shape()) == tuple(suite2p.get_frame_shape())
    assert ours.get_sampling_frequency() == suite2p.get_sampling_frequency()
    for actual, expected in zip(ours.get_roi_pixel_masks(), suite2p.get_roi_pixel_masks(), strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-6)
    np.testing.assert_allclose(ours.get_roi_image_masks(), suite2p.get_roi_image_masks(), rtol=1e-6)
    for name in ("raw", "neuropil", "deconvolved"):
        np.testing.assert_allclose(ours.get_traces(name=name), suite2p.get_traces(name=name), rtol=1e-6)
    np.testing.assert_array_equal(ours.get_property("accepted", roi_ids), suite2p.get_property("accepted", roi_ids))
    for nwb_name, suite2p_name in images.items():
        np.testing.assert_allclose(ours.get_image(nwb_name), suite2p.get_image(suite2p_name), rtol=1e-6)


def test_neuroconv_file_of_the_real_suite2p_output_archives_as_the_suite2p_output_does(
    archive, real_suite2p_folder: Path, tmp_path: Path
) -> None:
    # NeuroConv 0.10.2 writes the 176 x 156 frame's masks (row, col): read as the spec says,
    # ROI 5 leaves the frame. segdb reads them the right way round, and says why.
    path = _neuroconv_suite2p_nwb(real_suite2p_folder, tmp_path / "neuroconv.nwb")

    with pytest.warns(UserWarning, match=r"stored \(row, col, weight\).*x reaches 173, beyond the frame's width 156.*"
                      r"written by NeuroConv 0\.10\.2") as caught:
        [from_nwb] = ingest_path(archive, "nwb", path, subject="m1", session="nwb", progress=False)
    [from_suite2p] = ingest_path(archive, "suite2p", real_suite2p_folder, subject="m1", session="suite2p",
                                 progress=False)

    assert len([w for w in caught if "pixel masks" in str(w.message)]) == 1
    assert from_nwb.num_rois == 23
    _assert_same_as_suite2p_ingest(
        archive.extractor(from_nwb), archive.extractor(from_suite2p), list(range(23)),
        {"MeanImage": "mean", "CorrelationImage": "correlation"},
    )


def test_neuroconv_file_of_a_curated_subset_keeps_the_source_roi_ids_from_roi_name(archive, tmp_path: Path) -> None:
    # NeuroConv numbers the table 0..n-1 and keeps the ids in roi_name.
    folder = write_suite2p_folder(tmp_path / "suite2p", n_rois=14, n_frames=40, frame_shape=(40, 56), seed=6)
    kept = [0, 1, 2, 3, 4, 6, 9, 13]
    path = _neuroconv_suite2p_nwb(folder, tmp_path / "curated.nwb", roi_ids=kept)
    with h5py.File(path, "r") as file:
        assert list(file["processing/ophys/ImageSegmentation/PlaneSegmentation/id"][:]) == list(range(len(kept)))

    with pytest.warns(UserWarning, match=r"stored \(row, col, weight\)"):
        [from_nwb] = ingest_path(archive, "nwb", path, subject="m1", session="nwb", progress=False)
    [from_suite2p] = ingest_path(archive, "suite2p", folder, subject="m1", session="suite2p", progress=False)

    _assert_same_as_suite2p_ingest(
        archive.extractor(from_nwb), archive.extractor(from_suite2p), kept, {"mean_image": "mean"}
    )


def test_neuroconv_file_on_a_square_frame_is_read_by_its_writer_and_refused_without_it(tmp_path: Path) -> None:
    # Eight ROIs on a 48 x 48 frame: every ROI fits both readings and too few to let an
    # image decide. Only the writer can tell, and NeuroConv's writer always transposed.
    folder = write_suite2p_folder(tmp_path / "suite2p", n_rois=8, n_frames=40, frame_shape=(48, 48), seed=5)
    path = _neuroconv_suite2p_nwb(folder, tmp_path / "square.nwb")
    [plane] = find_suite2p_planes(folder)
    expected = suite2p_extractor(plane)

    with pytest.warns(UserWarning, match=r"written by NeuroConv 0\.10\.2 \(its 'roi_name' column"):
        extractor = nwb_extractor(path)
    for actual, wanted in zip(extractor.get_roi_pixel_masks(), expected.get_roi_pixel_masks(), strict=True):
        np.testing.assert_allclose(actual, wanted, rtol=1e-6)

    # The same table claimed by another program: nothing decides, so the order is asked for.
    anonymous = tmp_path / "anonymous.nwb"
    shutil.copyfile(path, anonymous)
    with h5py.File(anonymous, "r+") as file:
        del file["general/source_script"]
        file["general/source_script"] = "written by my lab's own script"
    with pytest.raises(InvalidInputError, match=r"Cannot tell which way round .*anonymous\.nwb.*both as NWB's "
                       r"\(x, y, weight\) and as \(row, col\).*--pixel-mask-order xy\|rowcol"):
        nwb_extractor(anonymous)
    stated = nwb_extractor(anonymous, pixel_mask_order="rowcol")
    for actual, wanted in zip(stated.get_roi_pixel_masks(), expected.get_roi_pixel_masks(), strict=True):
        np.testing.assert_allclose(actual, wanted, rtol=1e-6)


def test_neuroconv_image_mask_file_with_string_ids_reads_back_the_source(tmp_path: Path) -> None:
    # NeuroConv's image masks are (n, x, y) as the spec says; its roi_name keeps string ids.
    from neuroconv.tools.roiextractors import write_segmentation_to_nwbfile

    ids = ["c3", "c5", "a", "c9", "c10", "c11"]
    truth = synthetic_segmentation(n_rois=6, n_frames=30, frame_shape=(36, 50), seed=2, roi_ids=ids)
    path = tmp_path / "image_masks.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_segmentation_to_nwbfile(truth, nwbfile_path=path, metadata={"NWBFile": {"session_start_time": START}})

    extractor = nwb_extractor(path)

    assert extractor.get_roi_ids() == ids and tuple(extractor.get_frame_shape()) == (36, 50)
    np.testing.assert_allclose(extractor.get_roi_image_masks(), truth.get_roi_image_masks())
    np.testing.assert_allclose(extractor.get_image("mean_image"), truth.get_image("mean"))
    np.testing.assert_allclose(extractor.get_traces(name="raw"), truth.get_traces(name="raw"), rtol=1e-6)


def test_neuroconv_table_whose_masks_fit_only_as_the_spec_says_is_refused_as_contradictory(tmp_path: Path) -> None:
    # A NeuroConv table whose masks someone already put the right way round: the frame says
    # (x, y), the writer says (row, col); segdb does not pick one.
    folder = write_suite2p_folder(tmp_path / "suite2p", n_rois=8, n_frames=40, frame_shape=(40, 56), seed=2)
    path = _swap_pixel_mask_x_and_y(_neuroconv_suite2p_nwb(folder, tmp_path / "fixed.nwb"))

    with pytest.raises(InvalidInputError, match=r"evidence .* disagrees \(xy: read as \(row, col\) they would leave "
                       r"the frame \(40, 56\).*rowcol: the table was written by NeuroConv.*--pixel-mask-order"):
        nwb_extractor(path)
    [plane] = find_suite2p_planes(folder)
    stated = nwb_extractor(path, pixel_mask_order="xy")
    for actual, wanted in zip(stated.get_roi_pixel_masks(), suite2p_extractor(plane).get_roi_pixel_masks(), strict=True):
        np.testing.assert_allclose(actual, wanted, rtol=1e-6)


# --- pixel masks written (row, col) by an unknown writer ------------------------------------------


def _swap_pixel_mask_x_and_y(path: Path, table: str = "processing/ophys/ImageSegmentation/PlaneSegmentation") -> Path:
    """Rewrite a table's pixel masks as a writer that stores [row, col, weight] in (x, y, weight) would."""
    with h5py.File(path, "r+") as file:
        dataset = file[f"{table}/pixel_mask"]
        pixels = dataset[:]
        pixels["x"], pixels["y"] = pixels["y"].copy(), pixels["x"].copy()
        dataset[:] = pixels
    return path


def _assert_masks_equal(extractor, expected) -> None:
    for actual, wanted in zip(extractor.get_roi_pixel_masks(), expected.get_roi_pixel_masks(), strict=True):
        np.testing.assert_allclose(actual, wanted, rtol=1e-6)


def test_row_col_pixel_masks_on_a_non_square_frame_are_transposed_with_a_warning(tmp_path: Path) -> None:
    truth = synthetic_segmentation(**SYNTHETIC)
    path = _swap_pixel_mask_x_and_y(write_segmentation_nwb(truth, tmp_path / "rowcol.nwb"))

    with pytest.warns(UserWarning, match=r"stored \(row, col, weight\), not NWB's \(x, y, weight\): read as NWB's "
                      r"\(x, y, weight\) they leave the frame \(36, 50\) \(the summary images.*"
                      r"pass pixel_mask_order='xy'"):
        extractor = nwb_extractor(path)

    assert extractor.pixel_mask_order == "rowcol"
    _assert_matches_synthetic(extractor)
    _assert_masks_equal(extractor, truth)


@pytest.mark.parametrize("stored", ["xy", "rowcol"])
def test_on_a_square_frame_the_summary_images_tell_which_way_round_the_masks_are(tmp_path: Path, stored: str) -> None:
    # 30 cells on a 64 x 64 frame: both readings fit, but the cells are bright in the mean
    # and correlation images under one of them only.
    truth = synthetic_segmentation(n_rois=30, n_frames=50, frame_shape=(64, 64), seed=3)
    path = write_segmentation_nwb(truth, tmp_path / "square.nwb")
    if stored == "rowcol":
        _swap_pixel_mask_x_and_y(path)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        extractor = nwb_extractor(path)

    messages = [str(warning.message) for warning in caught if "pixel masks" in str(warning.message)]
    if stored == "rowcol":
        assert len(messages) == 1 and "summary image 'correlation' is brighter under" in messages[0]
        assert "read as (row, col) (sign test p = " in messages[0]
    else:
        assert messages == []
    assert extractor.pixel_mask_order == stored
    _assert_masks_equal(extractor, truth)


def test_row_col_pixel_masks_on_a_square_frame_with_nothing_to_tell_are_refused_until_the_order_is_given(
    tmp_path: Path, capsys
) -> None:
    # Seven cells: too few for an image to decide, and no known writer.
    truth = synthetic_segmentation(n_rois=7, n_frames=50, frame_shape=(40, 40), seed=1)
    path = _swap_pixel_mask_x_and_y(write_segmentation_nwb(truth, tmp_path / "square.nwb"))

    with pytest.raises(InvalidInputError, match=r"Cannot tell which way round the pixel masks .*square\.nwb.* fit the "
                       r"frame \(40, 40\).*pixel_mask_order='xy' or 'rowcol' \(CLI: --pixel-mask-order xy\|rowcol\)"):
        nwb_extractor(path)
    _assert_masks_equal(nwb_extractor(path, pixel_mask_order="rowcol"), truth)
    with pytest.raises(InvalidInputError, match="pixel_mask_order must be 'xy'.*or 'rowcol'.*got 'yx'"):
        nwb_extractor(path, pixel_mask_order="yx")

    archive = str(tmp_path / "lab")
    assert main(["init", archive]) == 0 and capsys.readouterr()
    code = main(["ingest", "nwb", str(path), "-a", archive, "--subject", "m1", "--session", "s1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "segdb: error: Cannot tell which way round" in err
    assert "--pixel-mask-order xy|rowcol" in err
    code = main(["ingest", "nwb", str(path), "-a", archive, "--subject", "m1", "--session", "s1", "--no-progress",
                 "--pixel-mask-order", "rowcol"])
    assert code == 0 and "7 ROIs on 1 plane(s)" in capsys.readouterr().out


def test_pixel_masks_that_fall_on_the_tables_own_5x5_image_masks_need_no_frame_shape(tmp_path: Path) -> None:
    # A table with both columns and no images: the image masks give the frame and the order.
    pixel_masks = [[(1, 0, 1.0), (2, 0, 1.0), (3, 1, 0.5)], [(0, 3, 1.0), (0, 4, 1.0)]]
    image_masks = np.zeros((2, 5, 5))
    for index, mask in enumerate(pixel_masks):
        for x, y, weight in mask:
            image_masks[index, x, y] = weight
    for name, stored in (("xy.nwb", pixel_masks), ("rowcol.nwb", [[(y, x, w) for x, y, w in m] for m in pixel_masks])):
        path = _write_nwb_by_hand(
            tmp_path / name, {"PlaneSegmentation": stored}, image_masks={"PlaneSegmentation": image_masks}
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            extractor = nwb_extractor(path)
        assert tuple(extractor.get_frame_shape()) == (5, 5)
        np.testing.assert_array_equal(extractor.get_roi_pixel_masks()[0], [[0, 1, 1.0], [0, 2, 1.0], [1, 3, 0.5]])
        np.testing.assert_array_equal(extractor.get_roi_image_masks()[:, :, 1], image_masks[1].T)
        transposed = [str(w.message) for w in caught if "pixel masks" in str(w.message)]
        if name == "rowcol.nwb":
            assert len(transposed) == 1 and "100% of their pixels fall on the table's image masks" in transposed[0]
        else:
            assert transposed == []


# --- where the segmentation, the frame and the ids are ------------------------------------


def test_a_segmentation_in_a_module_not_named_ophys_is_found(tmp_path: Path) -> None:
    path = _write_nwb_by_hand(
        tmp_path / "processed.nwb", {"Cells": [[(7, 1, 1.0)], [(9, 3, 0.5)]]}, image_shape_xy=(12, 6),
        module="processed_2p",
    )

    extractor = nwb_extractor(path)

    assert extractor.plane_segmentation_path == "processed_2p/Cells"
    assert extractor.get_num_rois() == 2 and tuple(extractor.get_frame_shape()) == (6, 12)
    np.testing.assert_array_equal(extractor.get_traces(name="CellsRaw")[:, 1], 1 + 2 * np.arange(5.0))


def test_plane_segmentations_in_several_modules_are_listed_and_picked_by_module_and_name(
    tmp_path: Path, capsys
) -> None:
    path = _write_nwb_by_hand(
        tmp_path / "two_modules.nwb",
        {"Plane0": [[(7, 1, 1.0)]], "Plane1": [[(8, 2, 1.0)], [(9, 3, 1.0)]]},
        image_shape_xy=(12, 6),
        modules={"Plane1": "ophys_plane1"},
    )

    with pytest.raises(InvalidInputError, match=r"2 plane segmentations \(ophys/Plane0, ophys_plane1/Plane1\)"):
        nwb_extractor(path)
    picked = nwb_extractor(path, plane_segmentation_name="ophys_plane1/Plane1", frame_shape=(6, 12))
    assert picked.get_num_rois() == 2 and picked.plane_segmentation_path == "ophys_plane1/Plane1"
    with pytest.raises(NotFoundError, match=r"'ophys/Plane1' is not in NWB file .*ophys/Plane0, ophys_plane1/Plane1"):
        nwb_extractor(path, plane_segmentation_name="ophys/Plane1")

    archive = str(tmp_path / "lab")
    assert main(["init", archive]) == 0 and capsys.readouterr()
    base = ["ingest", "nwb", str(path), "-a", archive, "--subject", "m1", "--no-progress"]
    code = main([*base, "--session", "s0"])
    err = capsys.readouterr().err
    assert code == 2 and "--plane-segmentation NAME" in err and err.count("\n") == 1
    assert main([*base, "--session", "s1", "--plane-segmentation", "Plane1", "--frame-shape", "6", "12"]) == 0
    assert "2 ROIs on 1 plane(s)" in capsys.readouterr().out


def test_the_frame_shape_comes_from_the_imaging_plane_manifold_or_a_photon_series_before_asking(
    tmp_path: Path,
) -> None:
    masks = {"PlaneSegmentation": [[(7, 1, 1.0)]]}
    from_manifold = nwb_extractor(_write_nwb_by_hand(tmp_path / "manifold.nwb", masks, manifold_shape=(6, 12)))
    # A photon series is stored (frames, x, y): 12 wide, 6 high.
    from_series = nwb_extractor(_write_nwb_by_hand(tmp_path / "series.nwb", masks, photon_series_shape_xy=(12, 6)))

    assert tuple(from_manifold.get_frame_shape()) == (6, 12)
    assert tuple(from_series.get_frame_shape()) == (6, 12)
    with pytest.raises(InvalidInputError, match=r"sources disagree on the frame .*\(6, 12\) from the manifold.*"
                       r"\(12, 6\) from the data of TwoPhotonSeries 'TwoPhotonSeries'"):
        nwb_extractor(
            _write_nwb_by_hand(tmp_path / "both.nwb", masks, manifold_shape=(6, 12), photon_series_shape_xy=(6, 12))
        )


def test_frame_shape_at_the_command_line(tmp_path: Path, capsys) -> None:
    path = _write_nwb_by_hand(tmp_path / "no_images.nwb", {"PlaneSegmentation": [[(9, 2, 1.0)], [(11, 5, 1.0)]]})
    archive = str(tmp_path / "lab")
    assert main(["init", archive]) == 0 and capsys.readouterr()
    base = ["ingest", "nwb", str(path), "-a", archive, "--subject", "m1", "--no-progress"]

    code = main([*base, "--session", "s0"])
    err = capsys.readouterr().err
    assert code == 2 and "--frame-shape H W" in err and err.count("\n") == 1
    assert main([*base, "--session", "s1", "--frame-shape", "6", "12"]) == 0
    assert "2 ROIs on 1 plane(s)" in capsys.readouterr().out
    code = main(["ls", "rois", "-a", archive, "-s", "m1/s1/nwb", "--json"])
    assert code == 0 and '"key": 1' in capsys.readouterr().out


def test_roi_names_that_are_not_ints_are_string_ids_and_repeated_names_fall_back_to_the_table_ids(
    tmp_path: Path,
) -> None:
    masks = {"PlaneSegmentation": [[(7, 1, 1.0)], [(8, 2, 1.0)], [(9, 3, 1.0)]]}
    named = _write_nwb_by_hand(tmp_path / "named.nwb", masks, image_shape_xy=(12, 6),
                               columns={"roi_name": ["cell_a", "7", "007"]})
    numbered = _write_nwb_by_hand(tmp_path / "numbered.nwb", masks, image_shape_xy=(12, 6),
                                  columns={"roi_name": ["12", "-3", "40"]})
    repeated = _write_nwb_by_hand(tmp_path / "repeated.nwb", masks, image_shape_xy=(12, 6),
                                  columns={"roi_name": ["a", "b", "a"]})

    assert nwb_extractor(named).get_roi_ids() == ["cell_a", "7", "007"]
    assert nwb_extractor(numbered).get_roi_ids() == [12, -3, 40]
    with pytest.warns(UserWarning, match=r"'roi_name' column .* repeats names \(\['a'\]\); using the table's ids"):
        assert nwb_extractor(repeated).get_roi_ids() == [0, 1, 2]


# --- files that are not NWB 2 ----------------------------------------------------------------


def _write_nwb1_file(path: Path, *, allen: bool) -> Path:
    """The layout of an NWB 1.0.5 file (nwb_version a dataset, a Brain Observatory pipeline module)."""
    with h5py.File(path, "w") as file:
        file["nwb_version"] = "NWB-1.0.5"
        file["identifier"] = "Brain Observatory Visual Coding Experiment 1; NWB-1.0.5" if allen else "lab 1"
        file["general/institution"] = "Allen Institute for Brain Science" if allen else "A lab"
        roi = file.create_group("processing/brain_observatory_pipeline/ImageSegmentation/imaging_plane_1/roi_0000")
        roi["pix_mask"] = np.array([[1, 2]], dtype=np.uint16)
        roi["pix_mask_weight"] = np.array([1.0], dtype=np.float32)
    return path


def test_nwb1_files_are_refused_naming_the_version_and_the_conversion(tmp_path: Path, capsys) -> None:
    allen = _write_nwb1_file(tmp_path / "allen.nwb", allen=True)
    other = _write_nwb1_file(tmp_path / "lab.nwb", allen=False)

    with pytest.raises(InvalidInputError, match=r"allen\.nwb' is NWB 1\.0\.5 \(nwb_version 'NWB-1\.0\.5'\); segdb, like "
                       r"pynwb, reads NWB 2 files: .*DANDI \(dandiset 000728"):
        nwb_extractor(allen)
    with pytest.raises(InvalidInputError, match=r"lab\.nwb' is NWB 1\.0\.5 .*convert it to NWB 2 first, or ingest the "
                       r"pipeline's own output"):
        nwb_extractor(other)
    assert main(["init", str(tmp_path / "lab")]) == 0 and capsys.readouterr()
    code = main(["ingest", "nwb", str(allen), "-a", str(tmp_path / "lab"), "--subject", "m", "--session", "s"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("segdb: error: NWB file")


def test_the_real_allen_brain_observatory_nwb1_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = SHARED_NWB / "496908818s.nwb"
    if not path.is_file():
        pytest.skip(f"the Allen Brain Observatory NWB 1.0.5 file is not at {path.resolve()} (shared/data is absent)")
    with pytest.raises(InvalidInputError, match=r"is NWB 1\.0\.5 .*dandiset 000728"):
        nwb_extractor(path)


def test_files_that_are_not_whole_hdf5_files_are_refused_in_one_line(tmp_path: Path, capsys) -> None:
    whole = write_synthetic_nwb(tmp_path / "whole.nwb", **SYNTHETIC)
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    (tmp_path / "empty.nwb").write_bytes(b"")
    (tmp_path / "folder.nwb").mkdir()
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as file:
        file["data"] = np.arange(3)
    hollow = tmp_path / "hollow.nwb"
    with h5py.File(hollow, "w") as file:
        file.attrs["nwb_version"] = "2.5.0"

    with pytest.raises(InvalidInputError, match=rf"truncated\.nwb' is truncated: it has {truncated.stat().st_size:,} "
                       rf"bytes of the {whole.stat().st_size:,} its HDF5 header records; copy or download it again"):
        nwb_extractor(truncated)
    with pytest.raises(InvalidInputError, match=r"empty\.nwb' is not an NWB file: NWB files are HDF5 and this one is "
                       r"empty"):
        nwb_extractor(tmp_path / "empty.nwb")
    with pytest.raises(InvalidInputError, match=r"folder\.nwb' is a folder"):
        nwb_extractor(tmp_path / "folder.nwb")
    with pytest.raises(InvalidInputError, match=r"plain\.h5' is an HDF5 file but not an NWB file"):
        nwb_extractor(plain)
    with pytest.raises(InvalidInputError, match=r"hollow\.nwb' could not be read with pynwb \(ValueError: "):
        nwb_extractor(hollow)
    assert main(["init", str(tmp_path / "lab")]) == 0 and capsys.readouterr()
    for name in ("truncated.nwb", "empty.nwb"):
        code = main(["ingest", "nwb", str(tmp_path / name), "-a", str(tmp_path / "lab"), "--subject", "m",
                     "--session", "s"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("segdb: error: ")


# --- writers whose images are stored (height, width) -------------------------------------------


def _write_like_suite2p_export(truth, path: Path) -> Path:
    """A single-plane file laid out as suite2p's ``save_nwb`` writes one.

    Pixel masks (ypix, xpix, lam) in (x, y, weight), a two-column ``iscell``, images (Ly, Lx)
    in ``Backgrounds_0``, and one ``plane0`` series in each of the Fluorescence, Neuropil and
    Deconvolved containers.
    """
    rate = float(truth.get_sampling_frequency())
    nwbfile = NWBFile(session_description="suite2p_proc", identifier="suite2p", session_start_time=START)
    device = nwbfile.create_device(name="Microscope")
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane", optical_channel=OpticalChannel(name="OpticalChannel", description="an optical channel",
                                                            emission_lambda=500.0),
        imaging_rate=rate, description="standard", device=device, excitation_lambda=600.0, indicator="GCaMP",
        location="V1", grid_spacing=[2.0, 2.0], grid_spacing_unit="microns",
    )
    ophys = nwbfile.create_processing_module(name="ophys", description="optical physiology processed data")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    table = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="suite2p output",
                                                   imaging_plane=plane)
    for mask in truth.get_roi_pixel_masks():
        table.add_roi(pixel_mask=[(int(row), int(col), float(weight)) for row, col, weight in mask])
    accepted = truth.get_property("accepted", truth.get_roi_ids())
    table.add_column("iscell", "two columns - iscell & probcell",
                     np.column_stack([accepted.astype(float), np.full(accepted.size, 0.9)]))
    region = table.create_roi_table_region(region=list(range(truth.get_num_rois())), description="ROIs for plane0")
    for container_name, trace_name in (("Fluorescence", "raw"), ("Neuropil", "neuropil"), ("Deconvolved", "deconvolved")):
        container = Fluorescence(name=container_name)
        ophys.add(container)
        container.create_roi_response_series(name="plane0", data=np.asarray(truth.get_traces(name=trace_name)),
                                             rois=region, unit="lumens", rate=rate)
    backgrounds = Images(name="Backgrounds_0")
    for name, suite2p_name in (("mean", "meanImg"), ("correlation", "Vcorr")):
        backgrounds.add_image(GrayscaleImage(name=suite2p_name, data=np.asarray(truth.get_image(name))))
    ophys.add(backgrounds)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def test_a_suite2p_export_is_read_with_its_masks_and_images_the_way_suite2p_wrote_them(tmp_path: Path) -> None:
    # suite2p's masks and images are both (row, col): they agree with each other, so only the
    # writer tells that both are the other way round from the spec.
    truth = synthetic_segmentation(n_rois=12, n_frames=40, frame_shape=(36, 50), seed=9)
    path = _write_like_suite2p_export(truth, tmp_path / "ophys.nwb")

    with pytest.warns(UserWarning, match=r"written by suite2p's NWB export \(its 'Backgrounds_0' images"):
        extractor = nwb_extractor(path)

    assert tuple(extractor.get_frame_shape()) == (36, 50)
    _assert_masks_equal(extractor, truth)
    np.testing.assert_allclose(extractor.get_image("meanImg"), truth.get_image("mean"))
    for name in ("raw", "neuropil", "deconvolved"):
        np.testing.assert_allclose(extractor.get_traces(name=name), truth.get_traces(name=name))
    ids = truth.get_roi_ids()
    np.testing.assert_array_equal(extractor.get_property("accepted", ids), truth.get_property("accepted", ids))


def test_images_stored_height_width_with_masks_as_the_spec_says_are_read_as_stored_once_the_frame_is_given(
    tmp_path: Path,
) -> None:
    # The false positive the rule documents: a 6 x 12 frame whose image is stored (6, 12),
    # i.e. (height, width), while its masks follow the spec. Read per the spec, the image
    # makes the frame 12 x 6 and the masks look transposed; the warning says how to read
    # the file as stored, and doing so gives the masks as written and the image as stored.
    path = _write_nwb_by_hand(tmp_path / "hw.nwb", {"PlaneSegmentation": [[(9, 2, 1.0), (10, 2, 0.5)]]},
                              image_shape_xy=(6, 12))

    with pytest.warns(UserWarning, match=r"leave the frame \(12, 6\) \(the summary images, 'mean'\).*"
                      r"pass pixel_mask_order='xy'"):
        assert tuple(nwb_extractor(path).get_frame_shape()) == (12, 6)
    with pytest.warns(UserWarning, match=r"Summary image 'mean' .* is stored \(height, width\) against NWB's \(x, y\)"):
        as_stored = nwb_extractor(path, frame_shape=(6, 12), pixel_mask_order="xy")

    assert tuple(as_stored.get_frame_shape()) == (6, 12) and as_stored.get_image("mean").shape == (6, 12)
    np.testing.assert_array_equal(as_stored.get_roi_pixel_masks()[0], [[2, 9, 1.0], [2, 10, 0.5]])
