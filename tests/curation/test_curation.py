"""Shared curation: history, consensus policies, conflicts, undo, freezing, exchange — on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import func, select, text

import segdb
from segdb import curation
from segdb.catalog import models as m
from segdb.catalog import schema
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation


@pytest.fixture
def seg(archive):
    source = synthetic_segmentation(n_rois=6, n_frames=20, seed=2)
    record = archive.ingest(source, subject="m1", session="s1")
    pipeline = [bool(v) for v in source.get_property("accepted", source.get_roi_ids())]
    return archive, record, pipeline


def test_the_pipeline_decision_is_the_first_event(seg):
    archive, record, pipeline = seg
    for key, accepted in enumerate(pipeline):
        [event] = archive.curation_history(record, key)
        assert event.curator == "pipeline:numpy" and event.revision == 1
        assert event.label == ("accepted" if accepted else "rejected")
    status = archive.curation_status(record)
    assert [s.label for s in status] == ["accepted" if a else "rejected" for a in pipeline]


def test_labels_append_and_latest_wins(seg):
    archive, record, _ = seg
    archive.curate(record, [0, 1], "rejected", curator="alice", note="dim")
    archive.curate(record, [1], "accepted", curator="bob")
    history = archive.curation_history(record, 1)
    assert [(e.curator, e.label, e.revision) for e in history][1:] == [("alice", "rejected", 2), ("bob", "accepted", 3)]
    assert history[1].note == "dim"
    status = {s.roi: s for s in archive.curation_status(record)}
    assert status[0].label == "rejected" and status[1].label == "accepted"
    assert status[1].by_curator == {"pipeline:numpy": history[0].label, "alice": "rejected", "bob": "accepted"}
    assert status[1].revision == 3


def test_consensus_policies(seg):
    archive, record, pipeline = seg
    archive.curate(record, [2], "accepted", curator="alice")
    archive.curate(record, [2], "rejected", curator="bob")
    archive.curate(record, [2], "rejected", curator="carol")
    archive.curate(record, [3], "accepted", curator="alice")
    archive.curate(record, [3], "accepted", curator="bob")

    def labels(policy):
        return {s.roi: s.label for s in archive.curation_status(record, policy=policy)}

    assert labels("latest")[2] == "rejected"
    assert labels("majority")[2] == "rejected"
    assert labels("unanimous")[2] == "unsure"
    assert labels("unanimous")[3] == "accepted"
    assert labels("curator:alice")[2] == "accepted"
    # Where no person has labelled, every policy falls back to the pipeline.
    expected = "accepted" if pipeline[5] else "rejected"
    assert {labels(p)[5] for p in ("latest", "majority", "unanimous", "curator:alice")} == {expected}
    with pytest.raises(segdb.InvalidInputError, match="curation policy"):
        archive.curation_status(record, policy="loudest")


def test_extractors_answer_acceptance_from_the_consensus(seg):
    archive, record, pipeline = seg
    archive.curate(record, [0, 1, 2], "rejected", curator="alice")
    archive.curate(record, [0], "accepted", curator="bob")
    archive.curate(record, [4], "unsure", curator="bob")
    extractor = archive.extractor(record, curation="majority")
    expected_rejected = [1, 2] + [k for k in (3, 5) if not pipeline[k]]
    with pytest.warns(DeprecationWarning):
        assert extractor.get_rejected_list() == sorted(expected_rejected)
    with pytest.warns(DeprecationWarning):
        accepted = extractor.get_accepted_list()
    assert 4 not in accepted and 1 not in accepted
    np.testing.assert_array_equal(
        extractor.get_property("accepted", [4, 3, 1]), [False, pipeline[3], False]
    )
    assert "accepted" in extractor.get_property_keys()
    selected = archive.extractor(record, where="accepted", curation="majority").get_roi_ids()
    assert selected == accepted
    # alice's own labels win where she has one (0, 1, 2 rejected); elsewhere the latest label counts.
    assert archive.extractor(record, where="accepted", curation="curator:alice").get_roi_ids() == [
        k for k in (3, 5) if pipeline[k]
    ]
    with pytest.raises(ValueError, match="curation state"):
        extractor.set_property("accepted", [True] * 6, extractor.get_roi_ids())


def test_an_expected_revision_that_is_stale_is_a_conflict(seg):
    archive, record, _ = seg
    [seen] = archive.curation_history(record, 3)[-1:]
    archive.curate(record, [3], "accepted", curator="bob")
    with pytest.raises(segdb.ConflictError, match="you saw revision 1, it is now at 2"):
        archive.curate(record, [3], "rejected", curator="alice", expected_revision=seen.revision)
    archive.curate(record, [3], "rejected", curator="alice", expected_revision=2)
    assert [e.revision for e in archive.curation_history(record, 3)] == [1, 2, 3]


def test_undo_appends_the_previous_label_and_never_deletes(seg):
    archive, record, _ = seg
    archive.curate(record, [0], "accepted", curator="alice")
    archive.curate(record, [0, 1], "rejected", curator="alice")
    undone = archive.undo_curation(record, curator="alice")
    assert {(e.roi, e.label) for e in undone} == {(0, "accepted"), (1, "cleared")}
    status = {s.roi: s for s in archive.curation_status(record)}
    assert status[0].by_curator["alice"] == "accepted"
    assert "alice" not in status[1].by_curator
    assert len(archive.curation_history(record, 0)) == 4
    again = archive.undo_curation(record, curator="alice")
    assert {(e.roi, e.label) for e in again} == {(0, "cleared")}
    with pytest.raises(segdb.NotFoundError, match="nothing|no labelling"):
        archive.undo_curation(record, curator="alice")


def test_frozen_curation_refuses_labels_even_through_sql(seg):
    archive, record, _ = seg
    archive.freeze_curation(record, reason="paper submitted")
    with pytest.raises(segdb.ConflictError, match="paper submitted"):
        archive.curate(record, [0], "accepted", curator="alice")
    with pytest.raises(Exception, match="frozen"):
        with archive.catalog.engine.begin() as conn:
            roi_id = conn.execute(select(m.Roi.roi_id).limit(1)).scalar()
            conn.execute(
                m.CurationEvent.__table__.insert().values(
                    segmentation_id=record.segmentation_id, roi_id=roi_id, curator_id=1, label="accepted",
                    roi_revision=99, batch_id="sneaky", created_at=func.now()
                )
            )


def test_history_cannot_be_edited(seg):
    archive, record, _ = seg
    with pytest.raises(Exception, match="append-only"):
        with archive.catalog.engine.begin() as conn:
            conn.execute(text("UPDATE curation_events SET label = 'rejected'"))
    if archive.catalog.dialect == "postgresql":
        with pytest.raises(Exception, match="append-only"):
            with archive.catalog.engine.begin() as conn:
                conn.execute(text("DELETE FROM curation_events"))


def test_deleting_a_curated_segmentation_needs_force(seg):
    archive, record, _ = seg
    archive.curate(record, [1], "rejected", curator="alice")
    with pytest.raises(segdb.ConflictError, match="force"):
        archive.delete_segmentation(record)
    archive.delete_segmentation(record, force=True)
    with archive.catalog.reading() as db:
        assert db.scalar(select(func.count()).select_from(m.CurationEvent)) == 0


def test_reserved_and_unknown_names_are_refused(seg):
    archive, record, _ = seg
    with pytest.raises(segdb.InvalidInputError, match="reserved"):
        archive.curate(record, [0], "accepted", curator="pipeline:me")
    with pytest.raises(segdb.NotFoundError, match="segdb ls rois"):
        archive.curate(record, [0, 99], "accepted", curator="alice")
    with pytest.raises(segdb.InvalidInputError, match="not one of"):
        archive.curate(record, [0], "great", curator="alice")
    assert len(archive.curation_history(record, 0)) == 1


def test_curator_comes_from_the_environment(seg, monkeypatch):
    archive, record, _ = seg
    monkeypatch.setenv("SEGDB_CURATOR", "dana")
    [event] = archive.curate(record, [2], "unsure")
    assert event.curator == "dana"


def test_csv_export_import_and_iscell_round_trip(seg, tmp_path):
    archive, record, _ = seg
    archive.curate(record, [0, 3], "rejected", curator="alice")
    count = curation.export_curation_csv(archive, record, tmp_path / "state.csv")
    assert count == 6
    text_rows = (tmp_path / "state.csv").read_text().splitlines()
    assert text_rows[0].startswith("plane,roi,label,revision")
    (tmp_path / "mine.csv").write_text("plane,roi,label\nplane0,1,rejected\nplane0,2,accepted\n")
    curation.import_curation_csv(archive, record, tmp_path / "mine.csv", curator="erin")
    status = {s.roi: s.by_curator for s in archive.curation_status(record)}
    assert status[1]["erin"] == "rejected" and status[2]["erin"] == "accepted"
    iscell = np.array([[1, 0.9], [0, 0.1], [1, 0.8], [1, 0.7], [0, 0.3], [1, 0.6]])
    np.save(tmp_path / "iscell.npy", iscell)
    curation.import_iscell(archive, record, tmp_path / "iscell.npy", curator="gui-user")
    status = {s.roi: s.by_curator["gui-user"] for s in archive.curation_status(record)}
    assert status == {0: "accepted", 1: "rejected", 2: "accepted", 3: "accepted", 4: "rejected", 5: "accepted"}
    np.save(tmp_path / "short.npy", iscell[:3])
    with pytest.raises(segdb.InvalidInputError, match="holds 3 ROIs"):
        curation.import_iscell(archive, record, tmp_path / "short.npy", curator="gui-user")


def test_an_upgrade_gives_existing_archives_their_pipeline_history(catalog_url, tmp_path):
    options = {} if catalog_url.startswith("sqlite") else {"storage_root": tmp_path / "arrays"}
    target = tmp_path / "archive" if catalog_url.startswith("sqlite") else catalog_url
    archive = segdb.open(target, **options)
    source = synthetic_segmentation(n_rois=5, n_frames=10, seed=4)
    record = archive.ingest(source, subject="m1", session="s1")
    schema.downgrade(archive.catalog.engine, "0002")
    schema.upgrade(archive.catalog.engine)
    history = [archive.curation_history(record, k) for k in range(5)]
    expected = ["accepted" if v else "rejected" for v in source.get_property("accepted", source.get_roi_ids())]
    assert [[e.label for e in h] for h in history] == [[label] for label in expected]
    assert {h[0].curator for h in history} == {"pipeline:numpy"}
    archive.close()


def test_curate_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGDB_CURATOR", "frank")
    archive = segdb.open(tmp_path / "lab")
    record = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=10, roi_ids="str"), subject="m1", session="s1")
    archive.close()
    lab = str(tmp_path / "lab")
    seg = str(record.segmentation_id)
    assert main(["curate", "reject", "roi_001", "roi_002", "-s", seg, "-a", lab, "--note", "blurry"]) == 0
    assert "labelled 2 ROI(s) rejected" in capsys.readouterr().out
    assert main(["curate", "status", "-s", seg, "-a", lab, "--json"]) == 0
    status = {row["roi"]: row for row in json.loads(capsys.readouterr().out)}
    assert status["roi_001"]["label"] == "rejected" and status["roi_001"]["by_curator"]["frank"] == "rejected"
    assert main(["curate", "history", "roi_001", "-s", seg, "-a", lab, "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    assert events[-1]["curator"] == "frank" and events[-1]["note"] == "blurry"
    assert main(["curate", "undo", "-s", seg, "-a", lab]) == 0
    assert "undid your last labelling of 2 ROI(s)" in capsys.readouterr().out
    assert main(["curate", "accept", "roi_001", "-s", seg, "-a", lab, "--expect-revision", "1"]) == 2
    assert "someone labelled these ROIs since" in capsys.readouterr().err
    assert main(["curate", "status", "-s", seg, "-a", lab, "--policy", "majority"]) == 0
    assert "policy majority" in capsys.readouterr().out


def test_curate_status_with_an_unknown_curator_policy_names_the_curators(tmp_path, capsys):
    from segdb.cli import main

    lab = tmp_path / "lab"
    main(["demo", str(lab)])
    capsys.readouterr()
    assert main(["curate", "status", "-s", "m12/2026-03-01/suite2p", "--archive", str(lab),
                 "--policy", "curator:typo"]) == 2
    assert "the archive has no curator 'typo'; its curators are" in capsys.readouterr().err
