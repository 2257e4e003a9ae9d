"""`archive.segmentations(limit=N)` and `segdb ls segmentations --limit N`: the N ingested last, on SQLite and
PostgreSQL, in the order of the whole listing."""

from __future__ import annotations

import datetime as dt

import pytest

from segdb.cli import main
from segdb.errors import InvalidInputError
from segdb.synthetic import synthetic_segmentation

# Ingested in this order; the sessions' dates are not, so "ingested last" and "newest session" differ.
SESSIONS = [("m1", "d3", 3), ("m2", "d1", 1), ("m1", "d1", 1), ("m2", "d2", 2), ("m1", "d2", 2)]


@pytest.fixture
def lab(archive):
    for index, (subject, session, day) in enumerate(SESSIONS):
        archive.ingest(synthetic_segmentation(n_rois=3, n_frames=4, seed=index), subject=subject, session=session,
                       session_start=dt.date(2026, 3, day), progress=False)
    return archive


def _names(records) -> list[str]:
    return [f"{r.subject}/{r.session}" for r in records]


def test_limit_lists_the_segmentations_ingested_last_in_the_listings_order(lab):
    everything = lab.segmentations()
    assert _names(everything) == ["m1/d1", "m1/d2", "m1/d3", "m2/d1", "m2/d2"]
    assert _names(lab.segmentations(limit=2)) == ["m1/d2", "m2/d2"]
    assert _names(lab.segmentations(limit=3)) == ["m1/d1", "m1/d2", "m2/d2"]
    assert _names(lab.segmentations(subject="m2", limit=1)) == ["m2/d2"]
    assert _names(lab.segmentations(subject="m1", limit=2)) == ["m1/d1", "m1/d2"]
    assert lab.segmentations(limit=50) == everything


@pytest.mark.parametrize("limit", [0, -1, 2.5, True, "3"])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused(lab, limit):
    with pytest.raises(InvalidInputError, match="limit is .*whole number of segmentations"):
        lab.segmentations(limit=limit)


def test_ls_segmentations_limit_says_when_there_are_more(tmp_path, capsys):
    target = str(tmp_path / "lab")
    assert main(["init", target]) == 0
    from segdb import Archive

    with Archive.open(target) as archive:
        for index, (subject, session, day) in enumerate(SESSIONS):
            archive.ingest(synthetic_segmentation(n_rois=3, n_frames=4, seed=index), subject=subject,
                           session=session, session_start=dt.date(2026, 3, day), progress=False)
    capsys.readouterr()
    assert main(["ls", "segmentations", "-a", target, "--limit", "2"]) == 0
    captured = capsys.readouterr()
    rows = [line.split() for line in captured.out.splitlines()[1:] if line.strip()]
    assert [(row[1], row[2]) for row in rows] == [("m1", "d2"), ("m2", "d2")], captured.out
    assert "the 2 segmentations ingested last are shown; there are more" in captured.err
    assert main(["ls", "segmentations", "-a", target, "--limit", "5"]) == 0
    captured = capsys.readouterr()
    assert len([line for line in captured.out.splitlines()[1:] if line.strip()]) == 5 and captured.err == ""
    with pytest.raises(SystemExit) as exit_:
        main(["ls", "segmentations", "-a", target, "--limit", "0"])
    assert exit_.value.code == 2
    assert "'0' is not a whole number from 1" in capsys.readouterr().err
    assert main(["ls", "sessions", "-a", target, "--limit", "2"]) == 2
    assert "--limit is for `segdb ls segmentations`" in capsys.readouterr().err
