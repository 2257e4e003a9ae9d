"""`segdb ingest cnmfe|extract|minian|inscopix|sima|numpy`: each reader's own on-disk format, end to end.

Each test writes a small file or folder the way its pipeline does, ingests it with the real
command line into an archive on SQLite and on PostgreSQL, and compares what the archive
hands back with what was written. Frames are not square, so a swapped axis shows. Where
roiextractors' own reader gets the file wrong, a test pins that too: if roiextractors
fixes it, the test says the correction in segdb.ingest can go.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr

from segdb.cli import main
from segdb.ingest.npy_folder import KNOWN_FILES

FRAME = (12, 17)
NUM_ROIS = 3
NUM_SAMPLES = 40


@dataclass
class Lab:
    """An archive on one backend, and the options that name it on the command line."""

    archive: object
    options: list[str]


@pytest.fixture(params=["sqlite", "postgresql"])
def lab(request: pytest.FixtureRequest, tmp_path: Path, archive_maker) -> Lab:
    with archive_maker.new(request.param, tmp_path / "lab") as archive:
        yield Lab(archive, ["-a", archive.catalog.url, "--storage-root", str(archive.storage_root)])


def _ingest(capsys, lab: Lab, fmt: str, path: Path, *options: str) -> tuple[int, str, str]:
    code = main(["ingest", fmt, str(path), *lab.options, "--subject", "m1", "--session", "s1", "--no-progress",
                 *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _blob_masks(frame: tuple[int, int] = FRAME, n: int = NUM_ROIS) -> np.ndarray:
    """(height, width, n) masks: 3 x 4 blobs with graded weights, each near a different corner."""
    height, width = frame
    masks = np.zeros((height, width, n))
    corners = [(1, 2), (height - 4, width - 5), (2, width - 4), (height - 3, 1)]
    for index in range(n):
        row, col = corners[index % len(corners)]
        masks[row : row + 3, col : col + 4, index] = np.arange(1, 13).reshape(3, 4) * (index + 1) / 12
    return masks


def _assert_archived(lab: Lab, name: str, *, ids, masks, traces: dict, rate, images: dict | None = None,
                     timestamps=None):
    extractor = lab.archive.extractor(f"m1/s1/{name}")
    assert extractor.get_roi_ids() == list(ids)
    assert tuple(extractor.get_frame_shape()) == masks.shape[:2]
    np.testing.assert_allclose(extractor.get_roi_image_masks(), masks, rtol=1e-6)
    for series, expected in traces.items():
        np.testing.assert_allclose(extractor.get_traces(name=series), expected, rtol=1e-6)
    if rate is None:
        assert extractor.get_sampling_frequency() is None
    else:
        assert extractor.get_sampling_frequency() == pytest.approx(rate)
    for image, expected in (images or {}).items():
        np.testing.assert_allclose(extractor.get_image(image), expected, rtol=1e-6)
    if timestamps is not None:
        np.testing.assert_allclose(extractor.get_timestamps(), timestamps)
    return extractor


def _assert_refused(lab: Lab, code: int, err: str, *names: str) -> None:
    assert code == 2, err
    assert err.startswith("segdb: error: ") and err.strip().count("\n") == 0 and "Traceback" not in err
    for name in names:
        assert name in err
    assert lab.archive.segmentations(include_unfinished=True) == []


# --- CNMF-E -------------------------------------------------------------------------------


def _mat_struct(file: h5py.File, name: str) -> h5py.Group:
    group = file.create_group(name)
    group.attrs["MATLAB_class"] = np.bytes_("struct")
    return group


def _mat_array(group: h5py.Group, name: str, matlab_array: np.ndarray) -> None:
    """Save ``matlab_array`` (in MATLAB's axis order) as MATLAB v7.3 does: axes reversed."""
    data = np.asarray(matlab_array, dtype=np.float64)
    group.create_dataset(name, data=data.T if data.ndim > 1 else data.reshape(1, -1).T)
    group[name].attrs["MATLAB_class"] = np.bytes_("double")


def _mat_chars(group: h5py.Group, name: str, text: str) -> None:
    group.create_dataset(name, data=np.array([[ord(c)] for c in text], dtype=np.uint16))
    group[name].attrs["MATLAB_class"] = np.bytes_("char")


def write_cnmfe_mat(path: Path, masks, signals, correlation, total_time: float, *, workspace: bool = True) -> Path:
    """CIAtah's ``save(file, 'cnmfeAnalysisOutput', '-v7.3')``; ``workspace`` also saves MATLAB's ``ans``."""
    with h5py.File(path, "w", userblock_size=512) as file:
        if workspace:
            _mat_array(file, "ans", np.array([[1.0]]))
        output = _mat_struct(file, "cnmfeAnalysisOutput")
        _mat_array(output, "extractedImages", masks)  # MATLAB (height, width, n)
        _mat_array(output, "extractedSignals", signals)  # MATLAB (n, samples), CNMF-E's C
        _mat_array(output, "Cn", correlation)
        _mat_array(_mat_struct(output, "time"), "totalTime", np.array([[total_time]]))
    return path


@pytest.fixture
def cnmfe_data():
    rng = np.random.default_rng(1)
    return _blob_masks(), rng.random((NUM_ROIS, NUM_SAMPLES)), rng.random(FRAME)


def test_cnmfe_mat_file_ingests_with_masks_traces_image_and_rate(tmp_path, capsys, lab, cnmfe_data):
    masks, signals, correlation = cnmfe_data
    path = write_cnmfe_mat(tmp_path / "cnmfe.mat", masks, signals, correlation, total_time=4.0)

    code, out, err = _ingest(capsys, lab, "cnmfe", path)

    assert code == 0, err
    assert "m1/s1/cnmfe: 3 ROIs on 1 plane(s), 40 samples" in out
    _assert_archived(lab, "cnmfe", ids=range(NUM_ROIS), masks=masks, traces={"raw": signals.T}, rate=10.0,
                     images={"correlation": correlation})


def test_roiextractors_reads_cnmfe_masks_transposed(tmp_path, cnmfe_data):
    from roiextractors import CnmfeSegmentationExtractor

    masks, signals, correlation = cnmfe_data
    path = write_cnmfe_mat(tmp_path / "cnmfe.mat", masks, signals, correlation, total_time=4.0, workspace=False)

    extractor = CnmfeSegmentationExtractor(path)

    # The quirk segdb.ingest.cnmfe corrects: MATLAB's (height, width) comes out as (width, height).
    assert tuple(extractor.get_frame_shape()) == FRAME[::-1]
    np.testing.assert_array_equal(extractor.get_roi_image_masks(), masks.transpose(1, 0, 2))


def test_cnmfe_without_total_time_takes_the_rate_from_the_command_line(tmp_path, capsys, lab, cnmfe_data):
    masks, signals, correlation = cnmfe_data
    path = write_cnmfe_mat(tmp_path / "cnmfe.mat", masks, signals, correlation, total_time=4.0)
    with h5py.File(path, "a") as file:
        del file["cnmfeAnalysisOutput/time"]

    code, _, err = _ingest(capsys, lab, "cnmfe", path)
    assert code == 2 and "time.totalTime" in err and "--rate" in err
    code, _, err = _ingest(capsys, lab, "cnmfe", path, "--rate", "12.5")
    assert code == 0, err
    _assert_archived(lab, "cnmfe", ids=range(NUM_ROIS), masks=masks, traces={"raw": signals.T}, rate=12.5)


def test_cnmfe_refuses_a_missing_file_a_v5_file_and_a_foreign_struct(tmp_path, capsys, lab):
    missing = tmp_path / "nothing.mat"
    _assert_refused(lab, *_ingest(capsys, lab, "cnmfe", missing)[::2], "nothing.mat", "does not exist")
    v5 = tmp_path / "old.mat"
    v5.write_bytes(b"MATLAB 5.0 MAT-file, Platform: GLNXA64" + bytes(200))
    _assert_refused(lab, *_ingest(capsys, lab, "cnmfe", v5)[::2], "old.mat", "-v7.3")
    with h5py.File(tmp_path / "other.mat", "w") as file:
        _mat_array(_mat_struct(file, "results"), "A", np.ones((2, 2)))
        _mat_array(file, "settings", np.ones((1, 1)))
    _assert_refused(lab, *_ingest(capsys, lab, "cnmfe", tmp_path / "other.mat")[::2], "other.mat",
                    "cnmfeAnalysisOutput")


# --- EXTRACT ------------------------------------------------------------------------------


def write_extract_mat(path: Path, masks, traces, images: dict, *, version: str = "1.1.0", preprocess: bool = True):
    """EXTRACT 1.0+'s ``output = extractor(M, config); save(file, 'output', '-v7.3')``."""
    with h5py.File(path, "w", userblock_size=512) as file:
        output = _mat_struct(file, "output")
        _mat_array(output, "spatial_weights", masks)  # MATLAB (height, width, n)
        _mat_array(output, "temporal_weights", traces)  # MATLAB (samples, n)
        config = _mat_struct(output, "config")
        _mat_array(config, "preprocess", np.array([[1.0 if preprocess else 0.0]]))
        _mat_chars(config, "trace_output_option", "nonneg")
        _mat_array(config, "max_iter", np.array([[6.0]]))
        info = _mat_struct(output, "info")
        _mat_chars(info, "version", version)
        for name, image in images.items():
            _mat_array(info, name, image)
    return path


def write_legacy_extract_mat(path: Path, masks, signals, summary_image, total_time: float) -> Path:
    """CIAtah's pre-1.0 ``extractAnalysisOutput`` (filters, traces, time.totalTime, info.summary_image)."""
    with h5py.File(path, "w", userblock_size=512) as file:
        output = _mat_struct(file, "extractAnalysisOutput")
        _mat_array(output, "filters", masks)  # MATLAB (height, width, n)
        _mat_array(output, "traces", signals)  # MATLAB (n, samples)
        _mat_array(_mat_struct(output, "time"), "totalTime", np.array([[total_time]]))
        info = _mat_struct(output, "info")
        _mat_array(info, "summary_image", summary_image)
    return path


def test_extract_output_ingests_as_dff_with_its_summary_images(tmp_path, capsys, lab):
    rng = np.random.default_rng(2)
    masks, traces = _blob_masks(), rng.random((NUM_SAMPLES, NUM_ROIS))
    images = {"summary_image": rng.random(FRAME), "max_image": rng.random(FRAME)}
    path = write_extract_mat(tmp_path / "extract_output.mat", masks, traces, images)

    code, _, err = _ingest(capsys, lab, "extract", path)
    assert code == 2 and "does not record the frame rate" in err and "--rate" in err
    code, out, err = _ingest(capsys, lab, "extract", path, "--rate", "30")

    assert code == 0, err
    assert "3 ROIs on 1 plane(s), 40 samples" in out
    _assert_archived(lab, "extract", ids=range(NUM_ROIS), masks=masks, traces={"dff": traces}, rate=30.0,
                     images=images)


def test_legacy_extract_output_ingests_in_height_width_order(tmp_path, capsys, lab):
    from roiextractors.extractors.schnitzerextractor import LegacyExtractSegmentationExtractor

    rng = np.random.default_rng(3)
    masks, signals, summary = _blob_masks(), rng.random((NUM_ROIS, NUM_SAMPLES)), rng.random(FRAME)
    path = write_legacy_extract_mat(tmp_path / "extractAnalysis.mat", masks, signals, summary, total_time=8.0)
    # The quirk segdb.ingest.extract corrects: roiextractors reads this layout as (width, height).
    assert tuple(LegacyExtractSegmentationExtractor(path).get_frame_shape()) == FRAME[::-1]

    code, _, err = _ingest(capsys, lab, "extract", path)

    assert code == 0, err
    _assert_archived(lab, "extract", ids=range(NUM_ROIS), masks=masks, traces={"raw": signals.T}, rate=5.0,
                     images={"correlation": summary})


def test_extract_refuses_a_missing_file_and_a_file_without_its_struct(tmp_path, capsys, lab):
    _assert_refused(lab, *_ingest(capsys, lab, "extract", tmp_path / "gone.mat", "--rate", "30")[::2], "gone.mat",
                    "does not exist")
    with h5py.File(tmp_path / "cnmfe.mat", "w") as file:
        _mat_array(_mat_struct(file, "cnmfeAnalysisOutput"), "Cn", np.ones((2, 2)))
    _assert_refused(lab, *_ingest(capsys, lab, "extract", tmp_path / "cnmfe.mat", "--rate", "30")[::2],
                    "cnmfe.mat", "--output-struct")
    _assert_refused(
        lab, *_ingest(capsys, lab, "extract", tmp_path / "cnmfe.mat", "--output-struct", "cnmfeAnalysisOutput")[::2],
        "cnmfe.mat", "spatial_weights",
    )


# --- Minian -------------------------------------------------------------------------------


def _minian_store(folder: Path, name: str, data, dims: tuple[str, ...], coords: dict) -> None:
    """One ``<name>.zarr`` as xarray's ``Dataset.to_zarr`` writes it for Minian's ``save_minian``."""
    group = zarr.open_group(str(folder / f"{name}.zarr"), mode="w")
    array = group.create_dataset(name, data=np.asarray(data))
    array.attrs["_ARRAY_DIMENSIONS"] = list(dims)
    for coord, values in coords.items():
        values = np.asarray(values)
        stored = group.create_dataset(coord, data=values, dtype=values.dtype if values.dtype.kind != "U" else str)
        stored.attrs["_ARRAY_DIMENSIONS"] = [coord] if values.ndim else []
    zarr.consolidate_metadata(group.store)


def write_minian_folder(folder: Path, unit_ids, masks, traces: dict, background, background_trace, max_proj) -> Path:
    """The folder ``save_minian`` fills: a plain directory (no zarr group of its own) of ``*.zarr`` stores."""
    folder.mkdir(parents=True)
    height, width, _ = masks.shape
    meta = {"animal": np.array("m1"), "session": np.array("s1"), "session_id": np.array("m1-s1")}
    frames = np.arange(next(iter(traces.values())).shape[0])
    _minian_store(folder, "A", masks.transpose(2, 0, 1), ("unit_id", "height", "width"),
                  {"unit_id": unit_ids, "height": np.arange(height), "width": np.arange(width), **meta})
    for name, data in traces.items():
        _minian_store(folder, name, data.T, ("unit_id", "frame"), {"unit_id": unit_ids, "frame": frames, **meta})
    _minian_store(folder, "b", background, ("height", "width"),
                  {"height": np.arange(height), "width": np.arange(width)})
    _minian_store(folder, "f", background_trace, ("frame",), {"frame": frames})
    _minian_store(folder, "max_proj", max_proj, ("height", "width"),
                  {"height": np.arange(height), "width": np.arange(width)})
    return folder


@pytest.fixture
def minian_data():
    rng = np.random.default_rng(4)
    background = np.zeros(FRAME)
    background[4:8, 5:12] = rng.random((4, 7)) + 0.1
    return {
        # Minian keeps the ids of the units that survived merging: rarely 0..n-1.
        "unit_ids": np.array([3, 8, 11]),
        "masks": _blob_masks(),
        "traces": {name: rng.random((NUM_SAMPLES, NUM_ROIS)) for name in ("C", "S", "b0")},
        "background": background,
        "background_trace": rng.random(NUM_SAMPLES),
        "max_proj": rng.random(FRAME),
    }


def test_minian_folder_without_timestamps_ingests_with_a_rate(tmp_path, capsys, lab, minian_data):
    from roiextractors import MinianSegmentationExtractor

    folder = write_minian_folder(tmp_path / "minian", **minian_data)
    # roiextractors cannot open the plain folder save_minian writes (it wants a zarr group).
    with pytest.raises(Exception, match="nothing found"):
        MinianSegmentationExtractor(folder, sampling_frequency=20.0)

    code, _, err = _ingest(capsys, lab, "minian", folder)
    assert code == 2 and "timeStamps.csv" in err and "--rate" in err
    code, _, err = _ingest(capsys, lab, "minian", folder, "--rate", "20")

    assert code == 0, err
    traces = minian_data["traces"]
    extractor = _assert_archived(
        lab, "minian", ids=[3, 8, 11], masks=minian_data["masks"],
        traces={"denoised": traces["C"], "deconvolved": traces["S"], "baseline": traces["b0"]}, rate=20.0,
        images={"maximum_projection": minian_data["max_proj"]},
    )
    assert extractor.get_background_ids() == ["background-0"]
    np.testing.assert_allclose(extractor.get_background_image_masks()[:, :, 0], minian_data["background"])
    np.testing.assert_allclose(extractor.get_traces(name="background")[:, 0], minian_data["background_trace"])


def test_minian_folder_with_timestamps_csv_takes_the_times_and_rate_from_it(tmp_path, capsys, lab, minian_data):
    folder = write_minian_folder(tmp_path / "minian", **minian_data)
    # Miniscope V4's timeStamps.csv, one row per frame of the recording (a few more than Minian kept).
    times_ms = np.arange(NUM_SAMPLES + 5) * 50.0 + 329.0
    (folder / "timeStamps.csv").write_text(
        "Frame Number,Time Stamp (ms),Buffer Index\n"
        + "".join(f"{frame},{time:.1f},0\n" for frame, time in enumerate(times_ms))
    )

    code, _, err = _ingest(capsys, lab, "minian", folder)

    assert code == 0, err
    _assert_archived(lab, "minian", ids=[3, 8, 11], masks=minian_data["masks"],
                     traces={"denoised": minian_data["traces"]["C"]}, rate=20.0,
                     timestamps=times_ms[:NUM_SAMPLES] / 1000)


def test_minian_refuses_a_missing_folder_a_folder_without_footprints_and_a_bad_csv(tmp_path, capsys, lab,
                                                                                    minian_data):
    _assert_refused(lab, *_ingest(capsys, lab, "minian", tmp_path / "absent", "--rate", "20")[::2], "absent",
                    "does not exist")
    folder = write_minian_folder(tmp_path / "minian", **minian_data)
    shutil.rmtree(folder / "A.zarr")
    _assert_refused(lab, *_ingest(capsys, lab, "minian", folder, "--rate", "20")[::2], str(folder), "A.zarr")
    folder = write_minian_folder(tmp_path / "minian2", **minian_data)
    (tmp_path / "times.csv").write_text("frameNum,sysClock\n0,0\n")
    _assert_refused(lab, *_ingest(capsys, lab, "minian", folder, "--timestamps", str(tmp_path / "times.csv"))[::2],
                    "times.csv", "Frame Number")


# --- Inscopix -----------------------------------------------------------------------------


def write_inscopix_cell_set(path: Path, masks, traces, names, statuses, period_ms: float) -> Path:
    """A cell set written with Inscopix's own writer, ``isx.CellSet.write``."""
    isx = pytest.importorskip("isx", reason="Inscopix cell sets need the isx package: pip install 'segdb[inscopix]'")
    timing = isx.Timing(num_samples=traces.shape[0], period=isx.Duration.from_msecs(period_ms))
    cell_set = isx.CellSet.write(str(path), timing, isx.Spacing(num_pixels=masks.shape[:2]))
    for index, name in enumerate(names):
        cell_set.set_cell_data(index, masks[:, :, index].astype(np.float32), traces[:, index].astype(np.float32), name)
    for index, status in enumerate(statuses):
        cell_set.set_cell_status(index, status)
    cell_set.flush()
    del cell_set
    return path


@pytest.fixture
def inscopix_data():
    rng = np.random.default_rng(5)
    return {"masks": _blob_masks(), "traces": rng.random((NUM_SAMPLES, NUM_ROIS)), "names": ["C0", "C1", "C2"]}


def test_inscopix_cell_set_ingests_with_its_frame_names_statuses_and_rate(tmp_path, capsys, lab, inscopix_data):
    from roiextractors import InscopixSegmentationExtractor

    path = write_inscopix_cell_set(tmp_path / "cellset.isxd", statuses=["accepted", "rejected", "accepted"],
                                   period_ms=50, **inscopix_data)
    # The quirk segdb.ingest.inscopix corrects: roiextractors says (width, height).
    assert tuple(InscopixSegmentationExtractor(path).get_frame_shape()) == FRAME[::-1]

    code, out, err = _ingest(capsys, lab, "inscopix", path)

    assert code == 0, err
    assert "3 ROIs on 1 plane(s), 40 samples" in out
    extractor = _assert_archived(lab, "inscopix", ids=["C0", "C1", "C2"], masks=inscopix_data["masks"],
                                 traces={"raw": inscopix_data["traces"]}, rate=20.0)
    assert list(extractor.get_property("cell_status", ["C0", "C1", "C2"])) == ["accepted", "rejected", "accepted"]
    assert [roi.source_accepted for roi in lab.archive.rois("m1/s1/inscopix")] == [True, False, True]


def test_inscopix_cells_left_undecided_carry_no_pipeline_decision(tmp_path, capsys, lab, inscopix_data):
    path = write_inscopix_cell_set(tmp_path / "cellset.isxd", statuses=["accepted", "undecided", "rejected"],
                                   period_ms=100, **inscopix_data)

    code, _, err = _ingest(capsys, lab, "inscopix", path)

    assert code == 0, err
    extractor = _assert_archived(lab, "inscopix", ids=["C0", "C1", "C2"], masks=inscopix_data["masks"],
                                 traces={"raw": inscopix_data["traces"]}, rate=10.0)
    assert list(extractor.get_property("cell_status", ["C0", "C1", "C2"])) == ["accepted", "undecided", "rejected"]
    assert [roi.source_accepted for roi in lab.archive.rois("m1/s1/inscopix")] == [None, None, None]


def test_inscopix_refuses_a_missing_file_and_a_file_that_is_not_a_cell_set(tmp_path, capsys, lab):
    pytest.importorskip("isx", reason="Inscopix cell sets need the isx package: pip install 'segdb[inscopix]'")
    _assert_refused(lab, *_ingest(capsys, lab, "inscopix", tmp_path / "none.isxd")[::2], "none.isxd",
                    "does not exist")
    (tmp_path / "movie.isxd").write_bytes(b"not an isxd file" * 8)
    _assert_refused(lab, *_ingest(capsys, lab, "inscopix", tmp_path / "movie.isxd")[::2], "movie.isxd",
                    "not an Inscopix cell set")


# --- SIMA ---------------------------------------------------------------------------------


SIMA_MISSING = (
    "sima 1.3.2 (2016) does not build on Python 3.11+ (its C sources include longintrepr.h) and does not "
    "import with numpy 1.25+ (numpy.testing.Tester); segdb[sima] installs it only on Python 3.10"
)


def test_sima_dataset_ingests_with_its_rois_signals_and_mean_image(tmp_path, capsys, lab):
    sima = pytest.importorskip("sima", reason=SIMA_MISSING)
    from sima.ROI import ROI, ROIList

    rng = np.random.default_rng(6)
    masks = (_blob_masks() > 0).astype(float)
    movie = rng.random((NUM_SAMPLES, 1, *FRAME, 1))  # (frames, planes, rows, columns, channels)
    dataset = sima.ImagingDataset([sima.Sequence.create("ndarray", movie)], str(tmp_path / "session.sima"))
    rois = ROIList([ROI(mask=masks[:, :, index][np.newaxis]) for index in range(NUM_ROIS)])
    dataset.add_ROIs(rois, label="auto_ROIs")
    signals = dataset.extract(rois, label="signals")
    before = sorted(p.name for p in (tmp_path / "session.sima").iterdir())

    code, _, err = _ingest(capsys, lab, "sima", tmp_path / "session.sima", "--rate", "15")

    assert code == 0, err
    _assert_archived(lab, "sima", ids=range(NUM_ROIS), masks=masks, traces={"raw": np.asarray(signals["raw"][0]).T},
                     rate=15.0, images={"mean": np.squeeze(dataset.time_averages)})
    assert sorted(p.name for p in (tmp_path / "session.sima").iterdir()) == before


def test_sima_refuses_a_missing_folder_a_foreign_folder_and_says_which_package_it_needs(tmp_path, capsys, lab):
    _assert_refused(lab, *_ingest(capsys, lab, "sima", tmp_path / "gone.sima")[::2], "gone.sima", "does not exist")
    (tmp_path / "notes").mkdir()
    _assert_refused(lab, *_ingest(capsys, lab, "sima", tmp_path / "notes")[::2], "notes", "dataset.pkl")
    try:
        import sima  # noqa: F401
    except ImportError:
        (tmp_path / "old.sima").mkdir()
        (tmp_path / "old.sima" / "dataset.pkl").write_bytes(b"")
        _assert_refused(lab, *_ingest(capsys, lab, "sima", tmp_path / "old.sima")[::2], "pip install 'segdb[sima]'")


# --- a folder of .npy files ---------------------------------------------------------------


def write_npy_folder(folder: Path, arrays: dict) -> Path:
    folder.mkdir()
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    return folder


@pytest.fixture
def npy_arrays():
    rng = np.random.default_rng(7)
    return {
        "image_masks": _blob_masks(),
        "raw": rng.random((NUM_SAMPLES, NUM_ROIS)),
        "dff": rng.random((NUM_SAMPLES, NUM_ROIS)),
        "mean": rng.random(FRAME),
        "correlation": rng.random(FRAME),
        "roi_ids": np.array(["cell_a", "cell_b", "cell_c"]),
        "accepted": np.array([True, False, True]),
    }


def test_numpy_folder_ingests_every_file_it_names(tmp_path, capsys, lab, npy_arrays):
    folder = write_npy_folder(tmp_path / "npy", npy_arrays)

    code, _, err = _ingest(capsys, lab, "numpy", folder)
    assert code == 2 and "--rate" in err and "timestamps.npy" in err
    code, out, err = _ingest(capsys, lab, "numpy", folder, "--rate", "7.5")

    assert code == 0, err
    assert "3 ROIs on 1 plane(s), 40 samples" in out
    _assert_archived(lab, "numpy", ids=["cell_a", "cell_b", "cell_c"], masks=npy_arrays["image_masks"],
                     traces={"raw": npy_arrays["raw"], "dff": npy_arrays["dff"]}, rate=7.5,
                     images={"mean": npy_arrays["mean"], "correlation": npy_arrays["correlation"]})
    assert [roi.source_accepted for roi in lab.archive.rois("m1/s1/numpy")] == [True, False, True]


def test_numpy_folder_with_timestamps_needs_no_rate(tmp_path, capsys, lab, npy_arrays):
    times = np.cumsum(np.full(NUM_SAMPLES, 0.1)) + 2.0
    folder = write_npy_folder(tmp_path / "npy", {"image_masks": npy_arrays["image_masks"],
                                                 "deconvolved": npy_arrays["raw"], "timestamps": times})

    code, _, err = _ingest(capsys, lab, "numpy", folder)

    assert code == 0, err
    _assert_archived(lab, "numpy", ids=range(NUM_ROIS), masks=npy_arrays["image_masks"],
                     traces={"deconvolved": npy_arrays["raw"]}, rate=None, timestamps=times)


def test_numpy_folder_refuses_a_missing_folder_a_misnamed_file_and_a_wrong_shape(tmp_path, capsys, lab, npy_arrays):
    _assert_refused(lab, *_ingest(capsys, lab, "numpy", tmp_path / "nowhere", "--rate", "5")[::2], "nowhere",
                    "does not exist")
    folder = write_npy_folder(tmp_path / "misnamed", {**npy_arrays, "spks": npy_arrays["raw"]})
    _assert_refused(lab, *_ingest(capsys, lab, "numpy", folder, "--rate", "5")[::2], "spks.npy", "raw.npy")
    folder = write_npy_folder(tmp_path / "wide", {**npy_arrays, "dff": npy_arrays["dff"].T})
    _assert_refused(lab, *_ingest(capsys, lab, "numpy", folder, "--rate", "5")[::2], "dff.npy", "(n_samples, n_rois)")


def test_numpy_help_lists_every_file_the_reader_takes(capsys):
    with pytest.raises(SystemExit):
        main(["ingest", "numpy", "--help"])
    help_text = capsys.readouterr().out
    assert [name for name in KNOWN_FILES if name not in help_text] == []


def test_the_command_line_offers_every_reader_the_front_ends_open():
    from segdb.cli.ingest import READER_FORMATS as COMMANDS
    from segdb.ingest.frontends import FORMATS, READER_FORMATS

    assert [fmt for fmt, _, _ in COMMANDS] == list(READER_FORMATS)
    assert set(READER_FORMATS) <= set(FORMATS)
