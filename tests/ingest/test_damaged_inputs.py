"""Damaged or inconsistent pipeline output: one `segdb: error:` line naming the file, exit 2, nothing written.

Each case starts from a synthetic output that ingests cleanly (segdb.synthetic), damages it
the way a cut-short copy, a hand edit or a buggy writer would, and runs the real command on
SQLite and PostgreSQL. Afterwards the archive must hold no segmentation, no unfinished
ingest and no array file.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import pytest

from segdb.cli import main
from segdb.synthetic import write_suite2p_folder, write_synthetic_caiman_hdf5, write_synthetic_nwb

N_ROIS = 23
N_FRAMES = 60
PLANE = "plane0"


class Case(NamedTuple):
    id: str
    format: str
    damage: Callable[[Path], None]
    words: tuple[str, ...]
    args: tuple[str, ...] = ()


# --- ways to damage a file ----------------------------------------------------------------
# suite2p damages act on plane0 of the suite2p folder; CaImAn and NWB damages on the file.


def _plane_file(path: Path, name: str) -> Path:
    return path / PLANE / name if path.is_dir() else path


def truncate(name: str = "", keep: float = 0.5) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        target = _plane_file(path, name)
        data = target.read_bytes()
        target.write_bytes(data[: int(len(data) * keep)])

    return damage


def zero_header(name: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        target = _plane_file(path, name)
        data = target.read_bytes()
        target.write_bytes(bytes(128) + data[128:])

    return damage


def empty(name: str = "") -> Callable[[Path], None]:
    return lambda path: _plane_file(path, name).write_bytes(b"")


def text(path: Path) -> None:
    path.write_text("sample,time\n1,0.0\n")


def resave(name: str, change: Callable[[np.ndarray], object]) -> Callable[[Path], None]:
    """Load a suite2p .npy file, change it, save it back under the same name."""

    def damage(path: Path) -> None:
        target = _plane_file(path, name)
        np.save(target, change(np.load(target, allow_pickle=True)), allow_pickle=True)

    return damage


def remove(*names: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        for name in names:
            _plane_file(path, name).unlink()

    return damage


def edit_ops(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        target = _plane_file(path, "ops.npy")
        options = np.load(target, allow_pickle=True).item()
        change(options)
        np.save(target, options, allow_pickle=True)

    return damage


def replace_dataset(name: str, change: Callable[[np.ndarray], object]) -> Callable[[Path], None]:
    """Replace an HDF5 dataset by a changed copy, keeping its attributes (NWB's neurodata_type and the like)."""

    def damage(path: Path) -> None:
        with h5py.File(path, "a") as file:
            old = file[name]
            value, attributes = old[()], dict(old.attrs)
            del file[name]
            new = file.create_dataset(name, data=change(value))
            for key, item in attributes.items():
                new.attrs[key] = item

    return damage


def delete_object(name: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with h5py.File(path, "a") as file:
            del file[name]

    return damage


def _entry_without_ypix(entry: dict) -> dict:
    return {key: value for key, value in entry.items() if key != "ypix"}


def _entry_with_short_lam(entry: dict) -> dict:
    return {**entry, "lam": entry["lam"][:-1]}


def edit_stat(change: Callable[[dict], dict]) -> Callable[[np.ndarray], np.ndarray]:
    """A change to stat.npy that applies ``change`` to every ROI's dict."""

    def changed(stat: np.ndarray) -> np.ndarray:
        result = np.empty(stat.size, dtype=object)
        result[:] = [change(entry) for entry in stat]
        return result

    return changed


def _as_objects(array: np.ndarray) -> np.ndarray:
    return array.astype(object)


PS = "processing/ophys/ImageSegmentation/PlaneSegmentation"
RAW = "processing/ophys/Fluorescence/RoiResponseSeries"
NEUROPIL = "processing/ophys/Fluorescence/Neuropil"

CASES = [
    # suite2p: every file of a plane
    Case("s2p-F-truncated", "suite2p", truncate("F.npy"), ("F.npy", "truncated", "copied completely")),
    Case("s2p-F-zeroed-header", "suite2p", zero_header("F.npy"), ("F.npy", "header is damaged")),
    Case("s2p-F-empty", "suite2p", empty("F.npy"), ("F.npy", "empty (0 bytes)")),
    Case("s2p-F-20-of-23-rows", "suite2p", resave("F.npy", lambda a: a[:20]),
         ("F.npy", "has 20 rows but stat.npy has 23 ROIs", "copied completely")),
    Case("s2p-F-transposed", "suite2p", resave("F.npy", lambda a: a.T), ("F.npy", "transposed", "(n_rois, n_frames)")),
    Case("s2p-F-1d", "suite2p", resave("F.npy", lambda a: a[0]), ("F.npy", f"shape ({N_FRAMES},)")),
    Case("s2p-F-objects", "suite2p", resave("F.npy", _as_objects), ("F.npy", "object values, not numbers")),
    Case("s2p-Fneu-fewer-frames", "suite2p", resave("Fneu.npy", lambda a: a[:, :40]),
         ("Fneu.npy has 40", "disagree in their number of frames")),
    Case("s2p-spks-text", "suite2p", resave("spks.npy", lambda a: a.astype(str)), ("spks.npy", "not numbers")),
    Case("s2p-iscell-5-rows", "suite2p", resave("iscell.npy", lambda a: a[:5]),
         ("iscell.npy", "has 5 rows but stat.npy has 23 ROIs")),
    Case("s2p-iscell-truncated", "suite2p", truncate("iscell.npy", keep=0.7), ("iscell.npy", "truncated")),
    Case("s2p-iscell-1d", "suite2p", resave("iscell.npy", lambda a: a[:, 0]), ("iscell.npy", "(n_rois, 2)")),
    Case("s2p-ops-truncated", "suite2p", truncate("ops.npy"), ("ops.npy", "pickle data was truncated")),
    Case("s2p-ops-zeroed-header", "suite2p", zero_header("ops.npy"), ("ops.npy", "header is damaged")),
    Case("s2p-ops-not-a-dict", "suite2p", resave("ops.npy", lambda a: np.arange(4.0)),
         ("ops.npy", "not suite2p's settings")),
    Case("s2p-ops-without-Ly", "suite2p", edit_ops(lambda ops: ops.pop("Ly")), ("ops.npy", "no Ly")),
    Case("s2p-ops-nframes-disagree", "suite2p", edit_ops(lambda ops: ops.update(nframes=N_FRAMES * 2)),
         ("ops.npy", f"nframes={N_FRAMES * 2}", f"has {N_FRAMES} frames")),
    Case("s2p-ops-without-F-Fneu-spks", "suite2p", remove("F.npy", "Fneu.npy", "spks.npy"),
         ("F.npy, Fneu.npy, spks.npy", "no traces")),
    Case("s2p-stat-truncated", "suite2p", truncate("stat.npy"), ("stat.npy", "cannot be read")),
    Case("s2p-stat-empty", "suite2p", empty("stat.npy"), ("stat.npy", "empty (0 bytes)")),
    Case("s2p-stat-not-roi-statistics", "suite2p", resave("stat.npy", lambda a: np.arange(float(a.size))),
         ("stat.npy", "not suite2p's ROI statistics")),
    Case("s2p-stat-without-ypix", "suite2p", resave("stat.npy", edit_stat(_entry_without_ypix)),
         ("stat.npy", "ROI 0 has no ypix")),
    Case("s2p-stat-lam-short", "suite2p", resave("stat.npy", edit_stat(_entry_with_short_lam)),
         ("stat.npy", "ROI 0", "lam")),
    Case("s2p-require-raw", "suite2p", remove("F.npy"), ("F.npy is missing", "--require raw"), ("--require", "raw")),
    Case("s2p-require-iscell", "suite2p", remove("iscell.npy"), ("iscell.npy is missing", "--require iscell"),
         ("--require", "raw,iscell")),
    # CaImAn: cnm.save()'s HDF5 file
    Case("caiman-truncated", "caiman", truncate(), ("truncated",)),
    Case("caiman-not-hdf5", "caiman", text, ("not an HDF5 file", "cnm.save()")),
    Case("caiman-empty", "caiman", empty(), ("empty (0 bytes)",)),
    Case("caiman-no-A", "caiman", delete_object("estimates/A"), ("not a CaImAn results file", "estimates/A")),
    Case("caiman-C-rows", "caiman", replace_dataset("estimates/C", lambda a: a[:5]),
         ("estimates/C", "(5, 100)", "8 components")),
    Case("caiman-C-transposed", "caiman", replace_dataset("estimates/C", lambda a: a.T),
         ("estimates/C", "(components, frames)")),
    Case("caiman-YrA-frames", "caiman", replace_dataset("estimates/YrA", lambda a: a[:, :50]),
         ("estimates/YrA has 50", "disagree")),
    Case("caiman-A-shape", "caiman", replace_dataset("estimates/A/shape", lambda a: np.array([100, a[1]])),
         ("estimates/A", "2688 pixels")),
    Case("caiman-A-indptr", "caiman", replace_dataset("estimates/A/indptr", lambda a: a[:5]),
         ("estimates/A", "indptr")),
    Case("caiman-dims-1d", "caiman", replace_dataset("params/data/dims", lambda a: a[:1]),
         ("params/data/dims", "(height, width)")),
    Case("caiman-rate-negative", "caiman", replace_dataset("params/data/fr", lambda a: -1.0),
         ("params/data/fr", "-1.0", "frame rate")),
    Case("caiman-b-rows", "caiman", replace_dataset("estimates/b", lambda a: a[:10]), ("estimates/b", "pixels")),
    Case("caiman-f-frames", "caiman", replace_dataset("estimates/f", lambda a: a[:, :10]),
         ("estimates/f", "(1, 10)")),
    Case("caiman-Cn-shape", "caiman", replace_dataset("estimates/Cn", lambda a: a[:10]), ("estimates/Cn", "(10, 56)")),
    Case("caiman-idx-out-of-range", "caiman", replace_dataset("estimates/idx_components", lambda a: np.array([0, 99])),
         ("estimates/idx_components", "component 99")),
    # NWB
    Case("nwb-truncated", "nwb", truncate(), ("truncated", "copy or download it again")),
    Case("nwb-not-hdf5", "nwb", text, ("not an NWB file", "not HDF5's signature")),
    Case("nwb-empty", "nwb", empty(), ("not an NWB file", "empty")),
    Case("nwb-no-ophys", "nwb", delete_object("processing/ophys"), ("no ImageSegmentation",)),
    Case("nwb-raw-5-of-8-rois", "nwb", replace_dataset(f"{RAW}/data", lambda a: a[:, :5]),
         ("RoiResponseSeries", "(100, 5) for 8 ROIs")),
    Case("nwb-raw-transposed", "nwb", replace_dataset(f"{RAW}/data", lambda a: a.T), ("looks transposed",)),
    Case("nwb-raw-1d", "nwb", replace_dataset(f"{RAW}/data", lambda a: a[:, 0]), ("(100,) for 8 ROIs",)),
    Case("nwb-rois-short", "nwb", replace_dataset(f"{RAW}/rois", lambda a: a[:5]), ("for 5 ROIs",)),
    Case("nwb-neuropil-frames", "nwb", replace_dataset(f"{NEUROPIL}/data", lambda a: a[:50]),
         ("Neuropil", "50 samples", "same samples")),
    Case("nwb-mask-index-short", "nwb", replace_dataset(f"{PS}/pixel_mask_index", lambda a: a[:5]),
         ("could not build its PlaneSegmentation", "Columns must be the same length")),
    Case("nwb-accepted-short", "nwb", replace_dataset(f"{PS}/Accepted", lambda a: a[:3]),
         ("could not build its PlaneSegmentation",)),
    Case("nwb-image-shape", "nwb", replace_dataset("processing/ophys/SegmentationImages/mean", lambda a: a[:10]),
         ("frame shape", "--frame-shape")),
]


@pytest.fixture(scope="module")
def clean_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One undamaged output per format, copied by each case before it damages it."""
    folder = tmp_path_factory.mktemp("clean-inputs")
    return {
        "suite2p": write_suite2p_folder(folder / "suite2p", n_rois=N_ROIS, n_frames=N_FRAMES, frame_shape=(48, 48)),
        "caiman": write_synthetic_caiman_hdf5(folder / "results.hdf5"),
        "nwb": write_synthetic_nwb(folder / "segmentation.nwb"),
    }


def _damaged_copy(clean: Path, target_folder: Path, case: Case) -> Path:
    target = target_folder / clean.name
    if clean.is_dir():
        shutil.copytree(clean, target)
    else:
        shutil.copyfile(clean, target)
    case.damage(target)
    return target


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_damaged_input_gets_one_error_line_naming_the_file_and_leaves_nothing(
    case: Case, archive, clean_inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "input").mkdir()
    damaged = _damaged_copy(clean_inputs[case.format], tmp_path / "input", case)
    url, storage_root = archive.reopen_spec()
    where = ["--archive", url, "--storage-root", storage_root]

    code, out, err = _run(
        ["ingest", case.format, str(damaged), *where, "--subject", "m1", "--session", "s1", "--no-progress",
         *case.args],
        capsys,
    )

    assert code == 2, (out, err)
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("segdb: error: ")]
    assert len(errors) == 1, err
    message = errors[0]
    named = damaged / PLANE if damaged.is_dir() else damaged
    assert str(named) in message, message
    for words in case.words:
        assert words in message, message

    code, out, _ = _run(["ls", "segmentations", *where, "--json"], capsys)
    assert code == 0 and json.loads(out) == []
    code, out, _ = _run(["gc", *where, "--json", "--older-than-hours", "0", "--grace-minutes", "0"], capsys)
    report = json.loads(out)
    assert code == 0 and report["orphan_files"] == [] and report["stale_segmentations"] == [], report
    assert list(Path(storage_root).rglob("*.h5")) == []


def test_table_holds_at_least_thirty_cases_over_the_three_formats() -> None:
    assert len(CASES) >= 30
    assert {case.format for case in CASES} == {"suite2p", "caiman", "nwb"}
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("fmt", ["suite2p", "caiman", "nwb"])
def test_undamaged_inputs_ingest(fmt: str, archive, clean_inputs: dict[str, Path], capsys) -> None:
    """The damage, not the starting file, is what each case refuses."""
    url, storage_root = archive.reopen_spec()
    required = ("--require", "raw,iscell") if fmt == "suite2p" else ()
    code, out, err = _run(
        ["ingest", fmt, str(clean_inputs[fmt]), "--archive", url, "--storage-root", storage_root,
         "--subject", "m1", "--session", "s1", "--no-progress", *required],
        capsys,
    )
    assert code == 0, err
    assert [record.source_format for record in archive.segmentations()] == [fmt]


# --- files suite2p may leave out: said, recorded, and an error when required ----------------


@pytest.mark.parametrize(
    ("missing", "said"),
    [("F.npy", "so the segmentation has no raw trace"), ("iscell.npy", "so every ROI is taken as accepted")],
)
def test_missing_suite2p_file_is_a_warning_on_stderr_and_in_the_ingest_record(
    missing: str, said: str, archive, clean_inputs: dict[str, Path], tmp_path: Path, capsys
) -> None:
    (tmp_path / "input").mkdir()
    folder = _damaged_copy(clean_inputs["suite2p"], tmp_path / "input", Case("", "suite2p", remove(missing), ()))
    url, storage_root = archive.reopen_spec()
    code, _, err = _run(
        ["ingest", "suite2p", str(folder), "--archive", url, "--storage-root", storage_root, "--subject", "m1",
         "--session", "s1", "--no-progress"],
        capsys,
    )
    assert code == 0, err
    note = f"{missing} is missing in {folder / PLANE}, {said}"
    assert f"segdb: warning: {note} (--require raw,iscell makes this an error)" in err.splitlines()
    [record] = archive.segmentations()
    assert record.parameters["ingest_warnings"] == [note]
    extractor = archive.extractor(record.segmentation_id)
    if missing == "F.npy":
        assert extractor.get_traces_dict()["raw"] is None
    else:
        assert bool(np.all(extractor.get_property("accepted", extractor.get_roi_ids())))


def test_complete_suite2p_folder_records_no_ingest_warnings(archive, clean_inputs: dict[str, Path]) -> None:
    from segdb.ingest.frontends import ingest_path

    [record] = ingest_path(archive, "suite2p", clean_inputs["suite2p"], subject="m1", session="s1", progress=False)
    assert "ingest_warnings" not in record.parameters


@pytest.mark.parametrize("missing", ["F.npy", "iscell.npy"])
def test_require_in_python_makes_a_missing_file_an_error_and_writes_nothing(
    missing: str, archive, clean_inputs: dict[str, Path], tmp_path: Path
) -> None:
    from segdb.errors import InvalidInputError
    from segdb.ingest.frontends import ingest_path

    (tmp_path / "input").mkdir()
    folder = _damaged_copy(clean_inputs["suite2p"], tmp_path / "input", Case("", "suite2p", remove(missing), ()))
    with pytest.raises(InvalidInputError, match=f"{missing} is missing in .*plane0.*it was required"):
        ingest_path(archive, "suite2p", folder, subject="m1", session="s1", require={"raw", "iscell"}, progress=False)
    assert archive.segmentations(include_unfinished=True) == []


def test_require_takes_only_raw_and_iscell(clean_inputs: dict[str, Path], tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", "suite2p", str(clean_inputs["suite2p"]), "--archive", str(tmp_path / "archive"),
              "--subject", "m1", "--session", "s1", "--require", "raw,spikes"])
    assert exit_info.value.code == 2
    assert "'raw,spikes': pass a comma-separated list of raw, iscell" in capsys.readouterr().err


def test_require_is_refused_for_formats_other_than_suite2p(archive, clean_inputs: dict[str, Path]) -> None:
    from segdb.errors import InvalidInputError
    from segdb.ingest.frontends import ingest_path

    with pytest.raises(InvalidInputError, match="--require applies to suite2p folders only"):
        ingest_path(archive, "caiman", clean_inputs["caiman"], subject="m1", session="s1", require=("raw",))


class _RunsCode:
    """What a crafted stat.npy holds: unpickling it would call a function of the attacker's choice."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("name", ["stat.npy", "ops.npy"])
def test_a_suite2p_file_that_would_run_code_is_refused_without_running_it(tmp_path, capsys, name):
    from segdb.cli import main
    from segdb.synthetic import write_suite2p_folder

    suite2p = write_suite2p_folder(tmp_path / "suite2p", n_rois=4, n_frames=30, frame_shape=(40, 40))
    marker = tmp_path / "code-ran"
    np.save(suite2p / "plane0" / name, np.array([_RunsCode(marker)], dtype=object), allow_pickle=True)
    lab = tmp_path / "lab"
    assert main(["init", str(lab)]) == 0
    capsys.readouterr()
    code = main(["ingest", "suite2p", str(suite2p), "--archive", str(lab), "--subject", "m1", "--session", "s1",
                 "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{name} in " in err and re.search(r"asks to load [\w.]*open, which suite2p never writes", err), err
    assert not marker.exists()
