"""NeuroConv 0.10.2 writes an archive extractor as it writes roiextractors' own.

Each case writes an archive extractor with NeuroConv and the NumpySegmentationExtractor
built from the same arrays (holding the same kind of masks), reads both files back with
pynwb, and finds them equal: masks, ROI names, traces, rate and starting time, images.
The files are also checked against the arrays under NWB's conventions, where NeuroConv
has its own: image masks are written (x, y) = (column, row) as the spec says, pixel masks
as roiextractors' [row, col, weight] taken for (x, y, weight).
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from neuroconv.tools.roiextractors import add_segmentation_to_nwbfile, write_segmentation_to_nwbfile
from pynwb import NWBHDF5IO, NWBFile
from roiextractors import NumpySegmentationExtractor
from roiextractors.segmentationextractor import _ROIMasks

from segdb.arrays import close_all, io_stats, reset_io_stats
from segdb.errors import InvalidInputError

FRAME = (20, 24)  # not square, so a swapped axis shows
N_FRAMES = 90
RATE = 12.5
TRACE_NAMES = ("raw", "dff", "neuropil", "deconvolved")
SESSION_START = datetime.datetime(2026, 3, 1, 10, 0, tzinfo=datetime.timezone.utc)
METADATA = {"NWBFile": {"session_start_time": SESSION_START}}


@dataclass
class Truth:
    roi_ids: list[int]
    masks: np.ndarray  # (height, width, n)
    traces: dict[str, np.ndarray]
    images: dict[str, np.ndarray]


def _truth(seed: int, roi_ids: list[int]) -> Truth:
    rng = np.random.default_rng(seed)
    masks = np.zeros((*FRAME, len(roi_ids)), dtype=np.float32)  # the archive keeps float32 weights
    for i in range(len(roi_ids)):
        r, c = rng.integers(0, FRAME[0] - 4), rng.integers(0, FRAME[1] - 5)
        masks[r : r + 3, c : c + 4, i] = np.round(rng.uniform(0.2, 1.0, (3, 4)), 3)
    traces = {name: rng.normal(size=(N_FRAMES, len(roi_ids))).astype(np.float32) for name in TRACE_NAMES}
    images = {"mean": rng.uniform(size=FRAME), "correlation": rng.uniform(size=FRAME)}
    return Truth(list(roi_ids), masks, traces, images)


SINGLE = _truth(1, [5, 0, 12, 3, 7, 1])
PLANES = {"plane0": _truth(2, [0, 1, 2, 3]), "plane1": _truth(3, [8, 2, 6, 4, 9])}


def _numpy_extractor(truth: Truth) -> NumpySegmentationExtractor:
    return NumpySegmentationExtractor(
        image_masks=truth.masks,
        **{name: truth.traces[name] for name in TRACE_NAMES},
        mean_image=truth.images["mean"],
        correlation_image=truth.images["correlation"],
        roi_ids=list(truth.roi_ids),
        sampling_frequency=RATE,
        movie_dims=FRAME,
        # Without channel names NeuroConv's write_segmentation_to_nwbfile fails on the Numpy extractor.
        channel_names=["OpticalChannel"],
    )


def _reference(truth: Truth, kind: str) -> NumpySegmentationExtractor:
    """roiextractors' own extractor of the arrays, holding ``kind`` masks."""
    reference = _numpy_extractor(truth)
    if kind == "pixel":
        # How roiextractors itself makes a Numpy extractor hold pixel masks
        # (roiextractors.testing.generate_dummy_segmentation_extractor(mask_type="pixel")).
        reference._roi_masks = _ROIMasks(
            data=reference.get_roi_pixel_masks(),
            mask_tpe="nwb-pixel_mask",
            field_of_view_shape=FRAME,
            roi_id_map={roi_id: i for i, roi_id in enumerate(truth.roi_ids)},
        )
    return reference


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def archived(request, archive_maker, tmp_path_factory):
    """One archive per backend: a single-plane and a two-plane segmentation (the tests only read them)."""
    with archive_maker.new(request.param, tmp_path_factory.mktemp("neuroconv")) as archive:
        single = archive.ingest(_numpy_extractor(SINGLE), subject="m1", session="single")
        planes = archive.ingest(
            {name: _numpy_extractor(truth) for name, truth in PLANES.items()}, subject="m1", session="planes"
        )
        yield archive, single, planes


@pytest.fixture
def archive_and_records(archived):
    close_all()  # each test starts with no array file open
    return archived


def _write(extractor, path: Path, **options) -> Path:
    with warnings.catch_warnings():
        # NeuroConv warns about its own deprecated metadata format and about traces its defaults name.
        warnings.simplefilter("ignore")
        write_segmentation_to_nwbfile(extractor, nwbfile_path=path, metadata=METADATA, **options)
    return path


@dataclass
class Written:
    roi_names: list[str]
    mask_column: str
    masks: list[np.ndarray]  # image_mask rows, or pixel_mask rows as (n, 3) float arrays
    columns: dict[str, np.ndarray]
    traces: dict[str, tuple[np.ndarray, float | None, float | None, np.ndarray | None]]
    images: dict[str, np.ndarray]


def _read(path: Path, plane_segmentation: str = "PlaneSegmentation") -> Written:
    with NWBHDF5IO(str(path), "r") as io:
        ophys = io.read().processing["ophys"]
        table = ophys["ImageSegmentation"].plane_segmentations[plane_segmentation]
        [mask_column] = [c for c in ("image_mask", "pixel_mask", "voxel_mask") if c in table.colnames]
        if mask_column == "image_mask":
            masks = [np.asarray(m) for m in table["image_mask"][:]]
        else:
            masks = [np.array([tuple(p) for p in table[mask_column][k]], dtype=float) for k in range(len(table))]
        columns = {c: np.asarray(table[c][:]) for c in table.colnames if c not in ("roi_name", mask_column)}
        region_of = {}
        traces = {}
        for name, series in ophys["Fluorescence"].roi_response_series.items():
            if series.rois.table.name != plane_segmentation:
                continue
            region_of[name] = list(series.rois.data[:])
            timestamps = None if series.timestamps is None else np.asarray(series.timestamps[:])
            traces[name] = (np.asarray(series.data[:]), series.starting_time, series.rate, timestamps)
        images = {name: np.asarray(image.data[:]) for name, image in ophys["SegmentationImages"].images.items()}
        return Written([str(n) for n in table["roi_name"][:]], mask_column, masks, columns, traces, images)


def _assert_same_file_content(ours: Written, theirs: Written) -> None:
    assert ours.roi_names == theirs.roi_names
    assert ours.mask_column == theirs.mask_column
    assert len(ours.masks) == len(theirs.masks)
    for got, expected in zip(ours.masks, theirs.masks):
        np.testing.assert_array_equal(got, expected)
    assert sorted(ours.traces) == sorted(theirs.traces)
    for name, (data, starting_time, rate, timestamps) in ours.traces.items():
        their_data, their_start, their_rate, their_timestamps = theirs.traces[name]
        np.testing.assert_array_equal(data, their_data)
        assert starting_time == pytest.approx(their_start) and rate == pytest.approx(their_rate)
        assert (timestamps is None) == (their_timestamps is None)
    assert sorted(ours.images) == sorted(theirs.images)
    for name, image in ours.images.items():
        np.testing.assert_array_equal(image, theirs.images[name])


def _dense_from_file(written: Written, position: int) -> np.ndarray:
    """ROI ``position``'s (height, width) mask, read the way each column was written."""
    if written.mask_column == "image_mask":
        return written.masks[position].T  # NWB's image_mask is (x, y) = (width, height)
    # NeuroConv writes roiextractors' [row, col, weight] straight into NWB's (x, y, weight).
    dense = np.zeros(FRAME)
    rows, cols, weights = written.masks[position].T
    dense[rows.astype(int), cols.astype(int)] = weights
    return dense


def _assert_matches_truth(written: Written, truth: Truth, start: int = 0, stop: int = N_FRAMES) -> None:
    assert written.roi_names == [str(i) for i in truth.roi_ids]
    for position in range(len(truth.roi_ids)):
        np.testing.assert_allclose(_dense_from_file(written, position), truth.masks[:, :, position], rtol=1e-6)
    series = {"RoiResponseSeries": "raw", "DfOverF": "dff", "Neuropil": "neuropil", "Deconvolved": "deconvolved"}
    assert {series[name] for name in written.traces} == set(TRACE_NAMES)
    for name, (data, _, _, _) in written.traces.items():
        np.testing.assert_array_equal(data, truth.traces[series[name]][start:stop])
    for image in written.images.values():
        assert image.shape == FRAME[::-1]  # NWB images are (width, height)
    assert any(np.array_equal(image.T, truth.images["mean"]) for image in written.images.values())
    assert any(np.array_equal(image.T, truth.images["correlation"]) for image in written.images.values())


def _no_array_read() -> bool:
    stats = io_stats()
    return stats.files_opened == 0 and stats.dataset_reads == 0 and stats.bytes_read == 0


MASK_TYPES = [
    pytest.param("image", "image", id="image"),
    pytest.param("pixel", "pixel", id="pixel"),
    pytest.param(None, "pixel", id="default"),
]
WHICH = [
    pytest.param(("single", None), id="single-plane"),
    pytest.param(("planes", "plane1"), id="plane-of-two"),
]


@pytest.mark.parametrize(("mask_type", "kind"), MASK_TYPES)
@pytest.mark.parametrize("which", WHICH)
def test_neuroconv_writes_an_archive_extractor_as_it_writes_roiextractors_own(
    archive_and_records, tmp_path, mask_type, kind, which
):
    archive, single, planes = archive_and_records
    session, plane = which
    record, truth = (single, SINGLE) if session == "single" else (planes, PLANES[plane])
    options = {} if mask_type is None else {"mask_type": mask_type}

    reset_io_stats()
    extractor = archive.extractor(record, plane=plane, **options)
    assert extractor._roi_masks.mask_tpe == f"nwb-{kind}_mask"  # what NeuroConv asks first
    assert _no_array_read()

    ours = _read(_write(extractor, tmp_path / "ours.nwb", **options))
    assert io_stats().bytes_read > 0
    theirs = _read(_write(_reference(truth, kind), tmp_path / "theirs.nwb", **options))
    assert ours.mask_column == f"{kind}_mask"
    _assert_same_file_content(ours, theirs)
    _assert_matches_truth(ours, truth)
    for _, starting_time, rate, timestamps in ours.traces.values():
        assert starting_time == 0.0 and rate == RATE and timestamps is None


def test_every_property_is_written_as_a_column(archive_and_records, tmp_path):
    archive, single, _ = archive_and_records
    extractor = archive.extractor(single)
    written = _read(_write(extractor, tmp_path / "ours.nwb"))
    keys = extractor.get_property_keys()
    assert "accepted" in keys and set(written.columns) == set(keys)
    for key in keys:
        np.testing.assert_array_equal(written.columns[key], extractor.get_property(key, extractor.get_roi_ids()))


def test_a_where_filtered_extractor_writes_only_its_rois_with_their_ids(archive_and_records, tmp_path):
    archive, single, _ = archive_and_records
    kept = [12, 3, 1]
    extractor = archive.extractor(single).select_rois(kept)
    written = _read(_write(extractor, tmp_path / "ours.nwb"))
    assert written.roi_names == ["12", "3", "1"]
    positions = [SINGLE.roi_ids.index(i) for i in kept]
    for written_position, position in enumerate(positions):
        np.testing.assert_array_equal(_dense_from_file(written, written_position), SINGLE.masks[:, :, position])
    np.testing.assert_array_equal(written.traces["DfOverF"][0], SINGLE.traces["dff"][:, positions])


def test_add_segmentation_to_nwbfile_takes_the_archive_extractor(archive_and_records, tmp_path):
    archive, single, _ = archive_and_records
    nwbfile = NWBFile(session_description="s", identifier="id", session_start_time=SESSION_START)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        add_segmentation_to_nwbfile(archive.extractor(single, mask_type="image"), nwbfile, None)
    path = tmp_path / "added.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    _assert_matches_truth(_read(path), SINGLE)


# -- a sample slice: its traces start at its first timestamp -------------------------------------


@pytest.mark.parametrize(("first", "second"), [((20, 70), None), ((20, 70), (5, 30))])
def test_a_slice_is_written_with_the_starting_time_of_its_first_sample(archive_and_records, tmp_path, first, second):
    archive, single, _ = archive_and_records
    view = archive.extractor(single).slice_samples(*first)
    start, stop = first
    if second is not None:
        view = view.slice_samples(*second)
        start, stop = start + second[0], start + second[1]
    assert view.has_time_vector()
    assert view.get_timestamps()[0] == pytest.approx(start / RATE)
    written = _read(_write(view, tmp_path / "slice.nwb"))
    _assert_matches_truth(written, SINGLE, start, stop)
    for _, starting_time, rate, timestamps in written.traces.values():
        assert timestamps is None
        assert starting_time == pytest.approx(view.get_timestamps()[0]) == pytest.approx(start / RATE)
        assert rate == pytest.approx(RATE)


def test_a_slice_of_stored_or_set_times_is_written_with_those_times(archive_maker, tmp_path):
    times = np.cumsum(np.random.default_rng(5).uniform(0.07, 0.09, N_FRAMES)) + 3.0  # irregular
    source = _numpy_extractor(SINGLE)
    source.set_times(times)
    with archive_maker.new("sqlite", tmp_path) as archive:
        record = archive.ingest(source, subject="m1", session="s1")
        written = _read(_write(archive.extractor(record).slice_samples(20, 70), tmp_path / "stored.nwb"))
        for _, _, _, timestamps in written.traces.values():
            np.testing.assert_array_equal(timestamps, times[20:70])
        view = archive.extractor(record).slice_samples(20, 70)
        view.set_times(np.arange(50) / RATE + 100.0)
        written = _read(_write(view, tmp_path / "set.nwb"))
        for _, starting_time, rate, _ in written.traces.values():
            assert starting_time == pytest.approx(100.0) and rate == pytest.approx(RATE)


def test_a_view_from_the_first_sample_keeps_starting_time_zero_without_a_time_vector(archive_and_records):
    archive, single, _ = archive_and_records
    view = archive.extractor(single).slice_samples(0, 40)
    assert not view.has_time_vector() and view.get_native_timestamps() is None
    assert view.get_timestamps()[0] == 0.0


# -- multi-plane --------------------------------------------------------------------------------


def test_neuroconv_refuses_a_multiplane_extractor_with_a_segdb_error_naming_the_planes(archive_and_records, tmp_path):
    archive, _, planes = archive_and_records
    multi = archive.multiplane_extractor(planes)
    nwbfile = NWBFile(session_description="s", identifier="id", session_start_time=SESSION_START)
    with warnings.catch_warnings(), pytest.raises(InvalidInputError, match=r"2 planes \['plane0', 'plane1'\].*own"):
        warnings.simplefilter("ignore")
        add_segmentation_to_nwbfile(multi, nwbfile, None)
    path = tmp_path / "multi.nwb"
    with pytest.raises(InvalidInputError, match="multi.segmentations"):
        _write(multi, path)
    assert not path.exists()


def test_the_planes_of_a_multiplane_extractor_are_written_as_one_plane_segmentation_each(
    archive_and_records, tmp_path
):
    archive, _, planes = archive_and_records
    multi = archive.multiplane_extractor(planes, mask_type="image")
    metadata = {
        "NWBFile": {"session_description": "two planes", "identifier": "two", "session_start_time": SESSION_START},
        "Ophys": {"ImagingPlanes": {}, "PlaneSegmentations": {}, "RoiResponses": {}, "SegmentationImages": {}},
    }
    ophys = metadata["Ophys"]
    for name in multi.plane_names:
        ophys["ImagingPlanes"][name] = {"name": f"ImagingPlane_{name}", "indicator": "GCaMP6s", "location": "VISp"}
        ophys["PlaneSegmentations"][name] = {
            "name": f"PlaneSegmentation_{name}", "description": f"ROIs of {name}", "imaging_plane_metadata_key": name,
        }
        ophys["RoiResponses"][name] = {"raw": {"name": f"RoiResponseSeries_{name}"}, "dff": {"name": f"DfOverF_{name}"}}
        ophys["SegmentationImages"][name] = {"mean": {"name": f"mean_{name}"}, "correlation": {"name": f"corr_{name}"}}
    nwbfile = NWBFile(session_description="two planes", identifier="two", session_start_time=SESSION_START)
    for name, plane in zip(multi.plane_names, multi.segmentations):
        add_segmentation_to_nwbfile(plane, nwbfile, metadata, metadata_key=name)
    path = tmp_path / "planes.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)

    with NWBHDF5IO(str(path), "r") as io:
        read = io.read()
        assert sorted(read.imaging_planes) == ["ImagingPlane_plane0", "ImagingPlane_plane1"]
        tables = read.processing["ophys"]["ImageSegmentation"].plane_segmentations
        assert sorted(tables) == ["PlaneSegmentation_plane0", "PlaneSegmentation_plane1"]
    for name, truth in PLANES.items():
        written = _read(path, f"PlaneSegmentation_{name}")
        assert written.roi_names == [str(i) for i in truth.roi_ids]
        for position in range(len(truth.roi_ids)):
            np.testing.assert_array_equal(_dense_from_file(written, position), truth.masks[:, :, position])
        np.testing.assert_array_equal(written.traces[f"RoiResponseSeries_{name}"][0], truth.traces["raw"])
        np.testing.assert_array_equal(written.traces[f"DfOverF_{name}"][0], truth.traces["dff"])
        np.testing.assert_array_equal(written.images[f"mean_{name}"].T, truth.images["mean"])


def test_a_sliced_multiplane_extractor_reports_the_times_of_its_planes(archive_and_records):
    archive, _, planes = archive_and_records
    sliced = archive.multiplane_extractor(planes).slice_samples(30, 60)
    assert sliced.has_time_vector()
    np.testing.assert_allclose(sliced.get_timestamps(), np.arange(30, 60) / RATE)
    np.testing.assert_array_equal(sliced.get_timestamps(), sliced.segmentations[1].get_timestamps())
