"""`segdb query --format csv|parquet|json|table` writes what the archive's columnar answer holds: CSV that
parses back, Parquet that round-trips, the same JSON as --json always printed; bad requests are one error
line with exit code 2 — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys

import numpy as np
import pytest

import segdb
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation


@pytest.fixture
def lab(archive):
    """Two sessions with an 'snr' (one NaN) and a text 'region' property."""
    for index, (session, snr) in enumerate((("s1", [1.0, 6.0, np.nan, 7.0]), ("s2", [8.0, 0.5, 9.0]))):
        record = archive.ingest(synthetic_segmentation(n_rois=len(snr), n_frames=5, seed=index), subject="m1",
                                session=session, session_start=dt.date(2026, 3, 1 + index), progress=False)
        extractor = archive.extractor(record)
        extractor.set_property("snr", np.array(snr), extractor.get_roi_ids())
        extractor.set_property("region", np.array(["V1", "LM", "AL", "V1"][: len(snr)]), extractor.get_roi_ids())
    return archive


def _cli(archive, capsys, *argv: str) -> tuple[int, str, str]:
    target, storage_root = archive.reopen_spec()
    capsys.readouterr()
    code = main(["query", *argv, "--archive", target, "--storage-root", storage_root])
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_parses_back_into_the_columns(lab, capsys, tmp_path):
    code, out, _ = _cli(lab, capsys, "--format", "csv", "--columns", "session,key,snr,region,fov_um,label")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    expected = lab.query().columns(["session", "key", "snr", "region", "fov_x_um", "fov_y_um"])
    assert list(rows[0]) == ["session", "key", "snr", "region", "fov_x_um", "fov_y_um", "label"]
    assert [r["session"] for r in rows] == expected["session"].tolist()
    assert [int(r["key"]) for r in rows] == expected["key"].tolist()
    assert [float(r["snr"]) if r["snr"] else None for r in rows] == [
        None if np.isnan(v) else v for v in expected["snr"].tolist()]
    assert [float(r["fov_x_um"]) for r in rows] == expected["fov_x_um"].tolist()
    assert [r["region"] for r in rows] == expected["region"].tolist()
    where = lab.query().columns(["segmentation_id", "plane", "mask_index"])
    labels = [lab.curation_labels(s, p, [i])[0] for s, p, i in zip(*(c.tolist() for c in where.values()))]
    assert [r["label"] or None for r in rows] == labels and len(set(labels)) > 1
    assert _cli(lab, capsys, "--format", "csv", "--columns", "session,key,snr,region,fov_um,label",
                "-o", str(tmp_path / "rois.csv"))[:2] == (0, "")
    assert (tmp_path / "rois.csv").read_text() == out
    code, out, _ = _cli(lab, capsys, "--format", "csv", "--where", "snr > 100")
    assert (code, out.strip()) == (0, ",".join(segdb.QueryResult.FIELDS))


def test_parquet_round_trips(lab, capsys, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    target = tmp_path / "rois.parquet"
    assert _cli(lab, capsys, "--format", "parquet", "-o", str(target), "--where", "snr > 0.7")[:2] == (0, "")
    assert pq.read_table(target).equals(lab.query(where="snr > 0.7").to_arrow())
    assert _cli(lab, capsys, "--format", "parquet", "-o", str(target), "--columns", "key,snr,region")[0] == 0
    table = pq.read_table(target)
    assert table.column_names == ["key", "snr", "region"] and table.column("snr").null_count == 1


def test_json_is_what_json_always_printed(lab, capsys):
    hits = lab.query()
    code, out, _ = _cli(lab, capsys, "--json")
    assert code == 0 and json.loads(out) == [hit.to_dict() for hit in hits]
    assert _cli(lab, capsys, "--format", "json")[1] == out
    code, out, _ = _cli(lab, capsys, "--json", "--where", "snr > 5", "--columns", "session,key,snr,label")
    rows = json.loads(out)
    assert [sorted(row) for row in rows] == [sorted([*hits[0].to_dict(), "mask_index", "snr", "label"])] * 4
    assert [(r["session"], r["key"], r["snr"]) for r in rows] == [("s1", 1, 6.0), ("s1", 3, 7.0), ("s2", 0, 8.0),
                                                                   ("s2", 2, 9.0)]


def test_the_table_is_what_it_was(lab, capsys):
    code, out, _ = _cli(lab, capsys, "--format", "table", "--where", "snr > 5")
    header, *_, count = out.splitlines()
    assert code == 0 and header.split()[:3] == ["roi_id", "subject", "session"] and count == "4 ROI(s)"
    assert _cli(lab, capsys, "--where", "snr > 5")[1] == out


@pytest.mark.parametrize(("argv", "message"), [
    (["--format", "csv", "--columns", "key,snrr"], "--columns: columns ['snrr'] are neither fields nor properties"),
    (["--format", "parquet"], "--format parquet writes a file: give -o FILE"),
    (["--json", "--format", "csv"], "--json is --format json, but --format csv is given too"),
    (["--format", "csv", "-o", "/no/such/folder/rois.csv"], "cannot write '/no/such/folder/rois.csv'"),
])
def test_bad_requests_are_one_error_line(lab, capsys, argv, message):
    code, out, err = _cli(lab, capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_parquet_without_pyarrow_says_how_to_install_it(lab, capsys, tmp_path, monkeypatch):
    # An interpreter without pyarrow: its import fails as it does when the package is absent.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    code, _, err = _cli(lab, capsys, "--format", "parquet", "-o", str(tmp_path / "rois.parquet"))
    assert code == 2 and err.count("\n") == 1 and "pip install 'segdb[arrow]'" in err
    assert not (tmp_path / "rois.parquet").exists()
