"""Hostile input through the command line and Python: no traceback, nothing written outside the storage root.

Names with '/', '..', NUL, control characters, very long and unicode names, SQL-looking text,
and abuse of the ``where`` language. Each either works (and stays inside the archive) or is
refused with one segdb error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from segdb.cli import main
from segdb.errors import SegDBError
from segdb.synthetic import synthetic_segmentation, write_suite2p_folder

HOSTILE_NAMES = [
    "a/b",
    "..",
    "../../escape",
    "/absolute",
    "x\x00y",
    "tab\there",
    "new\nline",
    " padded ",
    "",
    "a" * 300,
    "é漢字🙂",
    "'; DROP TABLE rois; --",
    "Robert'); DROP TABLE subjects;--",
    "%s%s%n",
    "${HOME}",
    "$(touch pwned)",
    "CON",
    "-rf",
]

HOSTILE_WHERE = [
    "skew > 0; DROP TABLE rois",
    "__import__('os').system('touch pwned')",
    "1 or 1=1",
    "skew > 'a'",
    "(" * 300 + "skew > 0" + ")" * 300,
    "skew " + "and skew > 0 " * 2000,
    "skew in (1, 2",
    "lambda: 1",
    "[x for x in ()]",
    "skew.__class__",
    "skew > 0 and (select 1)",
    "open('/etc/passwd')",
    "skew > 1e309",
    "skew == None",
    "\x00",
    "é > 1",
    "",
]


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def _run(argv: list[str], capsys) -> tuple[int, str]:
    """Run the command; anything but a clean exit or one segdb error line fails the test (no traceback).

    A value that looks like an option ("-rf") is argparse's usage error, also exit 2.
    """
    try:
        code = main(argv)
    except SystemExit as exit_:
        err = capsys.readouterr().err
        assert exit_.code == 2 and "error: " in err.splitlines()[-1], (argv, err)
        return 2, err
    err = capsys.readouterr().err
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        lines = [line for line in err.splitlines() if not line.startswith("segdb: warning:")]
        assert len(lines) == 1 and lines[0].startswith("segdb: error: "), (argv, err)
    return code, err


@pytest.fixture
def lab(tmp_path, capsys):
    archive = tmp_path / "lab"
    assert main(["init", str(archive)]) == 0
    suite2p = write_suite2p_folder(tmp_path / "input" / "suite2p", n_rois=6, n_frames=40, frame_shape=(48, 48))
    assert main(["ingest", "suite2p", str(suite2p), "--archive", str(archive), "--subject", "m1", "--session", "s1",
                 "--no-progress"]) == 0
    capsys.readouterr()
    return tmp_path, archive, suite2p


@pytest.mark.parametrize("field", ["--subject", "--session", "--name"])
def test_hostile_names_through_the_command_line(lab, capsys, monkeypatch, field):
    tmp_path, archive, suite2p = lab
    monkeypatch.chdir(tmp_path)
    before = _files(tmp_path)
    for value in HOSTILE_NAMES:
        argv = {"--subject": "m2", "--session": "s2", "--name": "n"}
        argv[field] = value
        _run(["ingest", "suite2p", str(suite2p), "--archive", str(archive), "--no-progress",
              *[part for option, given in argv.items() for part in (option, given)]], capsys)
    new = _files(tmp_path) - before
    outside = [path for path in new if archive not in path.parents]
    assert outside == []
    assert not (tmp_path / "pwned").exists()
    for what in ("subjects", "sessions", "segmentations"):
        assert _run(["ls", what, "--archive", str(archive)], capsys)[0] == 0
    assert _run(["verify", "--archive", str(archive)], capsys)[0] == 0
    assert _run(["gc", "--archive", str(archive)], capsys)[0] == 0


def test_hostile_where_and_references_through_the_command_line(lab, capsys, monkeypatch):
    tmp_path, archive, _ = lab
    monkeypatch.chdir(tmp_path)
    before = _files(tmp_path)
    for where in HOSTILE_WHERE:
        _run(["query", "--archive", str(archive), "--where", where], capsys)
        _run(["query", "--archive", str(archive), "--where", where, "--count"], capsys)
    for reference in HOSTILE_NAMES + ["m1/s1/suite2p/../..", "1 OR 1=1", "-1", "0", "99999999999999999999"]:
        _run(["ls", "rois", "--archive", str(archive), "-s", reference], capsys)
        _run(["curate", "status", "-s", reference, "--archive", str(archive)], capsys)
        _run(["export", "nwb", reference, str(tmp_path / "out"), "--archive", str(archive), "--no-progress"], capsys)
        _run(["track", "show", reference, "--archive", str(archive)], capsys)
        _run(["curate", "reject", reference, "-s", "m1/s1/suite2p", "--archive", str(archive)], capsys)
    for policy in ("curator:'; DROP TABLE curators; --", "curator:", "majority; DROP", "é"):
        _run(["curate", "status", "-s", "m1/s1/suite2p", "--archive", str(archive), "--policy", policy], capsys)
    assert _files(tmp_path) - before <= {path for path in _files(tmp_path) if tmp_path / "out" in path.parents}
    assert not (tmp_path / "pwned").exists()
    assert main(["ls", "segmentations", "--archive", str(archive)]) == 0
    assert "m1" in capsys.readouterr().out


def test_hostile_curators_and_notes(lab, capsys, monkeypatch):
    _, archive, _ = lab
    # (An environment variable cannot hold NUL; the note below does.)
    for curator in ("'; DROP TABLE curation_events; --", "é漢字", "pipeline:forged", "a" * 300, "tab\tname"):
        monkeypatch.setenv("SEGDB_CURATOR", curator)
        _run(["curate", "reject", "0", "-s", "m1/s1/suite2p", "--archive", str(archive),
              "--note", "'); DELETE FROM rois; --\x00"], capsys)
    monkeypatch.delenv("SEGDB_CURATOR")
    code, _ = _run(["ls", "rois", "--archive", str(archive), "-s", "m1/s1/suite2p"], capsys)
    assert code == 0


def test_hostile_names_and_filters_through_python(archive, tmp_path):
    storage_root = Path(archive.storage_root)
    outside_before = {path for path in _files(tmp_path) if storage_root not in path.parents}
    extractor = synthetic_segmentation(n_rois=4, n_frames=20, seed=1)
    for value in HOSTILE_NAMES:
        for field in ("subject", "session", "name"):
            names = {"subject": "m2", "session": "s2", "name": f"n{len(value)}"}
            names[field] = value
            try:
                archive.ingest(extractor, progress=False, **names)
            except SegDBError:
                pass
    archive.ingest(extractor, subject="m1", session="s1", name="ok", progress=False)
    for where in HOSTILE_WHERE:
        for call in (lambda: archive.query(where=where), lambda: archive.count_rois(where=where),
                     lambda: archive.extractor("m1/s1/ok", where=where)):
            try:
                call()
            except SegDBError:
                pass
    outside_after = {path for path in _files(tmp_path) if storage_root not in path.parents}
    assert outside_after == outside_before
    # Every segmentation that was accepted has its files under the storage root, and they verify.
    assert archive.verify().ok
    for record in archive.segmentations():
        for handle in archive.plane_handles(record):
            assert os.path.commonpath([handle.masks.file.path, storage_root]) == str(storage_root)
