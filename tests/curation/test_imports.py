"""Bringing labels in from a file is all rows or none, and a bad file is one clear line — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import segdb
from segdb import curation
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation


@pytest.fixture
def lab(archive):
    """An archive with one six-ROI segmentation, and the command-line options that name it."""
    record = archive.ingest(synthetic_segmentation(n_rois=6, n_frames=20, seed=2), subject="m1", session="s1")
    options = ["-a", archive.catalog.url, "--storage-root",
               str(archive.storage_root)]
    return archive, record, options


def _events(archive, record) -> int:
    return sum(len(archive.curation_history(record, roi)) for roi in range(6))


def test_a_csv_with_one_unknown_roi_labels_nothing(lab, tmp_path, capsys, monkeypatch):
    archive, record, options = lab
    monkeypatch.setenv("SEGDB_CURATOR", "erin")
    before = _events(archive, record)
    bad = tmp_path / "bad.csv"
    bad.write_text("plane,roi,label\nplane0,1,rejected\nplane0,2,accepted\nplane0,99,rejected\n")
    with pytest.raises(segdb.NotFoundError, match=r"bad.csv: ROI\(s\) \['99'\] are not in plane 'plane0'.*nothing was"):
        curation.import_curation_csv(archive, record, bad)
    assert _events(archive, record) == before
    assert main(["curate", "import", "-s", str(record.segmentation_id), str(bad), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segdb: error: ") and "bad.csv" in err and "'99'" in err and err.count("\n") == 1
    assert _events(archive, record) == before


def test_a_csv_import_is_one_batch_that_one_undo_takes_back(lab, tmp_path):
    archive, record, _ = lab
    good = tmp_path / "good.csv"
    good.write_text("plane,roi,label\nplane0,1,rejected\nplane0,2,accepted\nplane0,3,unsure\n")
    records = curation.import_curation_csv(archive, record, good, curator="erin")
    assert sorted((r.roi, r.label) for r in records) == [(1, "rejected"), (2, "accepted"), (3, "unsure")]
    assert len({r.batch_id for r in records}) == 1
    undone = curation.undo_curation(archive, record, curator="erin")
    assert sorted(r.roi for r in undone) == [1, 2, 3]


@pytest.mark.parametrize(
    "content, expected",
    [
        ("roi,verdict\n1,rejected\n", r"lacks the column\(s\) \['label'\]"),
        ("plane,roi,label\nplane0,1,maybe\n", r"line 2: label 'maybe' is not one of"),
        ("plane,roi,label\nplane0,1,accepted\nplane0,1,rejected\n",
         r"line 3: ROI '1' is labelled again \(first on line 2\)"),
        ("plane,roi,label\nplane0,,accepted\n", r"line 2: the roi column is empty"),
        ("plane,roi,label\nplane0,1,\n", r"has no row with a label; nothing to import"),
        (b"plane,roi,label\n\xff\xfe,1,accepted\n", r"is not a readable CSV"),
    ],
    ids=["no-label-column", "unknown-label", "repeated-roi", "empty-roi", "no-labels", "not-text"],
)
def test_a_bad_csv_is_one_line_naming_the_file_and_labels_nothing(lab, tmp_path, capsys, content, expected):
    archive, record, options = lab
    before = _events(archive, record)
    path = tmp_path / "labels.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["curate", "import", "-s", str(record.segmentation_id), str(path), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segdb: error: ") and err.count("\n") == 1 and "labels.csv" in err
    assert re.search(expected, err), err
    assert _events(archive, record) == before


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: None, r"iscell file .*iscell.npy does not exist"),
        (lambda p: p.mkdir(), r"is a folder; give the iscell.npy file inside it"),
        (lambda p: p.write_text("is cell\n1\n0\n"), r"is not a readable .npy array"),
        (lambda p: p.write_bytes(_saved(np.ones((6, 2)))[:90]), r"is not a readable .npy array"),
        (lambda p: np.save(p, np.array(["yes"] * 6)), r"holds <U3 values, not numbers"),
        (lambda p: np.save(p, np.ones((6, 2, 2))), r"has shape \(6, 2, 2\)"),
        (lambda p: np.save(p, np.full(6, np.nan)), r"holds NaN or infinite values"),
        (lambda p: np.save(p, np.ones((4, 2))), r"holds 4 ROIs but plane 'plane0' of segmentation \d+ has 6"),
    ],
    ids=["missing", "folder", "text", "truncated", "strings", "3-d", "nan", "wrong-length"],
)
def test_a_bad_iscell_file_is_one_line_naming_the_file_and_labels_nothing(lab, tmp_path, capsys, make, expected):
    archive, record, options = lab
    before = _events(archive, record)
    path = tmp_path / "iscell.npy"
    make(path)
    assert main(["curate", "import-iscell", "-s", str(record.segmentation_id), str(path), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segdb: error: ") and err.count("\n") == 1 and "iscell.npy" in err
    assert re.search(expected, err), err
    assert _events(archive, record) == before


def _saved(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
