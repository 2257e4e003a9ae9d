"""Ingest keeps the pipeline's settings in the segmentation's parameters, shown by `segdb ls segmentations --json`."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from segdb.cli import main
from segdb.ingest.frontends import ingest_path
from segdb.ingest.settings import MAX_SETTING_ELEMENTS, SKIPPED, kept_settings, setting_value
from segdb.synthetic import write_suite2p_folder, write_synthetic_caiman_hdf5


def _listed_parameters(archive, capsys) -> list[dict]:
    url, storage_root = archive.reopen_spec()
    capsys.readouterr()
    assert main(["ls", "segmentations", "--archive", url, "--storage-root", storage_root, "--json"]) == 0
    return [entry["parameters"] for entry in json.loads(capsys.readouterr().out)]


def test_suite2p_ops_settings_of_every_plane_are_listed_without_the_arrays(archive, tmp_path: Path, capsys) -> None:
    folder = write_suite2p_folder(tmp_path / "suite2p", n_planes=2, n_rois=6, n_frames=40, frame_shape=(40, 40),
                                  sampling_frequency=7.5)
    url, storage_root = archive.reopen_spec()
    assert main(["ingest", "suite2p", str(folder), "--archive", url, "--storage-root", storage_root,
                 "--subject", "m1", "--session", "s1", "--no-progress"]) == 0

    [parameters] = _listed_parameters(archive, capsys)
    settings = parameters["suite2p_ops"]
    assert sorted(settings) == ["plane0", "plane1"]
    for plane_name, plane_settings in settings.items():
        ops = np.load(folder / plane_name / "ops.npy", allow_pickle=True).item()
        for key in ("tau", "diameter", "fs", "nplanes", "neucoeff", "Ly", "Lx", "nframes"):
            assert plane_settings[key] == ops[key]
        assert plane_settings["fs"] == 7.5 and plane_settings["nplanes"] == 2
        assert plane_settings["yrange"] == list(ops["yrange"])
        assert plane_settings["date_proc"] == "2024-01-01T12:00:00"
        for array in ("meanImg", "meanImgE", "Vcorr", "max_proj", "refImg", "xoff", "yoff", "corrXY", "badframes"):
            assert array not in plane_settings
    assert "ingest_warnings" not in parameters


def test_caiman_params_are_listed_by_group(archive, tmp_path: Path, capsys) -> None:
    path = write_synthetic_caiman_hdf5(tmp_path / "results.hdf5", sampling_frequency=15.0, frame_shape=(30, 40))
    with h5py.File(path, "a") as file:
        init = file["params"].require_group("init")
        init.create_dataset("K", data=12)
        init.create_dataset("method_init", data="greedy_roi")
        init.create_dataset("ssub_B", data="NoneType")
        init.create_dataset("big", data=np.zeros(MAX_SETTING_ELEMENTS + 1))
    url, storage_root = archive.reopen_spec()
    assert main(["ingest", "caiman", str(path), "--archive", url, "--storage-root", storage_root,
                 "--subject", "m1", "--session", "s1", "--no-progress"]) == 0

    [parameters] = _listed_parameters(archive, capsys)
    params = parameters["caiman_params"]
    assert params["data"] == {"decay_time": 1.0, "dims": [30, 40], "fr": 15.0}
    assert params["quality"] == {"min_SNR": 2.5, "rval_thr": 0.8, "use_cnn": False}
    assert params["init"] == {"K": 12, "method_init": "greedy_roi", "ssub_B": None}


def test_parameters_given_in_python_are_kept_beside_the_pipeline_settings(archive, tmp_path: Path) -> None:
    folder = write_suite2p_folder(tmp_path / "suite2p", n_rois=4, n_frames=20, frame_shape=(32, 32))
    [record] = ingest_path(archive, "suite2p", folder, subject="m1", session="s1", progress=False,
                           parameters={"curated_by": "ana"})
    assert record.parameters["curated_by"] == "ana"
    assert record.parameters["suite2p_ops"]["plane0"]["tau"] == 1.0


def test_settings_can_be_searched_from_the_records(archive, tmp_path: Path) -> None:
    for session, rate in (("s1", 10.0), ("s2", 30.0)):
        folder = write_suite2p_folder(tmp_path / session, n_rois=4, n_frames=20, frame_shape=(32, 32),
                                      sampling_frequency=rate)
        ingest_path(archive, "suite2p", folder, subject="m1", session=session, progress=False)
    fast = [record.session for record in archive.segmentations()
            if record.parameters["suite2p_ops"]["plane0"]["fs"] > 20]
    assert fast == ["s2"]


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (np.float32(0.5), 0.5),
        (np.int64(3), 3),
        (np.bool_(True), True),
        (float("nan"), None),
        (b"bytes", "bytes"),
        ([12, 12], [12, 12]),
        (np.array([1.5, 2.5]), [1.5, 2.5]),
        (None, None),
    ],
)
def test_a_setting_is_kept_as_json(value, kept) -> None:
    assert setting_value(value) == kept


@pytest.mark.parametrize(
    "value",
    [np.zeros(MAX_SETTING_ELEMENTS + 1), np.zeros((2, 2)), [[1, 2], [3]], ["x" * 501], {"nested": 1}, object()],
)
def test_arrays_long_lists_and_objects_are_not_settings(value) -> None:
    assert setting_value(value) is SKIPPED
    assert kept_settings({"value": value, "tau": 1.0}) == {"tau": 1.0}


def test_nwb_processing_description_is_kept(tmp_path, capsys):
    from segdb.cli import main
    from segdb.synthetic import write_synthetic_nwb

    path = write_synthetic_nwb(tmp_path / "session.nwb")
    lab = tmp_path / "lab"
    assert main(["init", str(lab)]) == 0
    assert main(["ingest", "nwb", str(path), "--archive", str(lab), "--subject", "m1", "--session", "s1",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["ls", "segmentations", "--archive", str(lab), "--json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    provenance = record["parameters"]["nwb_provenance"]
    assert provenance["processing_module"] == "ophys"
    assert provenance["processing_description"] == "optical physiology processed data"
    assert provenance["plane_segmentation"] == "PlaneSegmentation"
