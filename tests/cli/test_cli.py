"""The `segdb` command end to end on the embedded default (a folder with SQLite)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from segdb.catalog.schema import SCHEMA_REVISION
from segdb.cli import main
from segdb.synthetic import write_suite2p_folder


@pytest.fixture
def suite2p_dir(tmp_path):
    return write_suite2p_folder(tmp_path / "m12" / "suite2p", n_planes=2, n_rois=6, n_frames=50,
                                frame_shape=(40, 48), seed=2)


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_init_ingest_ls_verify_gc_delete(tmp_path, capsys, suite2p_dir):
    archive = str(tmp_path / "lab")
    assert _run(capsys, "init", archive)[0] == 0
    code, out, _ = _run(capsys, "ingest", "suite2p", str(suite2p_dir), "--archive", archive,
                        "--subject", "m12", "--session", "2026-03-01", "--no-progress")
    assert code == 0 and "12 ROIs on 2 plane(s)" in out

    code, out, _ = _run(capsys, "ls", "segmentations", "--archive", archive, "--json")
    [seg] = json.loads(out)
    assert (seg["subject"], seg["session"], seg["name"], seg["planes"]) == ("m12", "2026-03-01", "suite2p",
                                                                            ["plane0", "plane1"])
    code, out, _ = _run(capsys, "ls", "rois", "--archive", archive, "-s", "m12/2026-03-01/suite2p",
                        "--plane", "plane1", "--json")
    assert [r["key"] for r in json.loads(out)] == list(range(6))
    code, out, _ = _run(capsys, "ls", "sessions", "--archive", archive)
    assert "2026-03-01" in out and code == 0

    assert _run(capsys, "verify", "--archive", archive)[0] == 0
    code, out, _ = _run(capsys, "gc", "--archive", archive)
    assert code == 0 and out.startswith("0 orphan file(s)")

    code, out, _ = _run(capsys, "delete", str(seg["segmentation_id"]), "--archive", archive, "--yes")
    assert code == 0 and "deleted segmentation" in out
    code, out, _ = _run(capsys, "ls", "segmentations", "--archive", archive, "--json")
    assert json.loads(out) == []


def test_verify_exits_nonzero_and_names_a_damaged_file(tmp_path, capsys, suite2p_dir):
    archive = tmp_path / "lab"
    _run(capsys, "init", str(archive))
    _run(capsys, "ingest", "suite2p", str(suite2p_dir), "-a", str(archive), "--subject", "m1", "--session", "s1",
         "--no-progress")
    [victim] = sorted((archive / "arrays").rglob("*.h5"))[:1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    code, out, _ = _run(capsys, "verify", "-a", str(archive))
    assert code == 1
    assert victim.name in out and "damaged" in out


def test_suite2p_without_ops_asks_for_frame_shape_and_rate(tmp_path, capsys):
    folder = write_suite2p_folder(tmp_path / "suite2p", n_rois=5, n_frames=30, frame_shape=(40, 48), with_ops=False)
    archive = str(tmp_path / "lab")
    _run(capsys, "init", archive)
    code, _, err = _run(capsys, "ingest", "suite2p", str(folder), "-a", archive, "--subject", "m1",
                        "--session", "s1", "--no-progress")
    assert code == 2
    assert "ops.npy" in err and "--frame-shape" in err and "--rate" in err
    code, out, _ = _run(capsys, "ingest", "suite2p", str(folder), "-a", archive, "--subject", "m1",
                        "--session", "s1", "--frame-shape", "40", "48", "--rate", "30", "--no-progress")
    assert code == 0 and "5 ROIs" in out


def test_caiman_file_ingests_from_the_command_line(tmp_path, capsys):
    from segdb.synthetic import write_synthetic_caiman_hdf5

    path = write_synthetic_caiman_hdf5(tmp_path / "results.hdf5")
    _run(capsys, "init", str(tmp_path / "lab"))
    code, out, err = _run(capsys, "ingest", "caiman", str(path), "-a", str(tmp_path / "lab"), "--subject", "m1",
                          "--session", "s1", "--no-progress")
    assert code == 0, err
    assert "ingested segmentation 1 m1/s1/caiman" in out


def test_errors_are_one_readable_line_and_exit_2(tmp_path, capsys):
    _run(capsys, "init", str(tmp_path / "lab"))
    code, _, err = _run(capsys, "ingest", "suite2p", str(tmp_path / "nope"), "-a", str(tmp_path / "lab"),
                        "--subject", "m1", "--session", "s1")
    assert code == 2
    assert err.startswith("segdb: error: ") and "does not exist" in err and "Traceback" not in err


def test_db_current_check_and_upgrade(tmp_path, capsys):
    archive = str(tmp_path / "lab")
    _run(capsys, "init", archive)
    code, out, _ = _run(capsys, "db", "current", "-a", archive)
    assert code == 0 and f"schema {SCHEMA_REVISION}" in out
    code, out, _ = _run(capsys, "db", "check", "-a", archive)
    assert code == 0 and "tables match the models" in out
    code, out, _ = _run(capsys, "db", "upgrade", "-a", archive)
    assert code == 0 and f"-> {SCHEMA_REVISION}" in out


def test_demo_builds_an_archive_through_the_ingest_path(tmp_path, capsys):
    import segdb

    code, out, _ = _run(capsys, "demo", str(tmp_path / "demo"))
    assert code == 0
    archive = segdb.open(tmp_path / "demo", create=False)
    try:
        suite2p = [s for s in archive.segmentations() if s.source_format == "suite2p"]
        assert len(suite2p) == 9 and {s.subject for s in suite2p} == {"m12", "m15", "m21"}
        assert all(len(s.planes) == 2 for s in suite2p)
        assert len(archive.segmentations(subject="m40")) == 6
        [run] = archive.matching_runs("m40")
        assert run.num_sessions == 6
        assert archive.verify().ok
    finally:
        archive.close()
    assert "9 segmentations" in out
    precision = float(out.split("precision ")[1].split(",")[0])
    recall = float(out.split("recall ")[1].split()[0])
    assert precision >= 0.95 and recall >= 0.95
    code, _, err = _run(capsys, "demo", str(tmp_path / "demo"))
    assert code == 2 and "not empty" in err


def test_the_console_script_is_installed():
    exe = shutil.which("segdb") or shutil.which("segdb", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe, "the `segdb` console script is not on PATH; install the project with pip install -e ."
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "ingest" in result.stdout
