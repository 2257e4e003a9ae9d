"""Free tags on ROIs ("L2/3", "interneuron"): kept in the curation history beside labels, never counted as a
label, selectable in filters, undoable, refused when frozen, and migrated in from 0009 — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid

import pytest
from postgres_roles import drop_roles, install_roles, open_as
from sqlalchemy import func, select, text

import segdb
from segdb import curation
from segdb.catalog import models as m
from segdb.catalog import schema
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation

POLICIES = ("latest", "majority", "unanimous", "curator:alice")


@pytest.fixture
def seg(archive):
    record = archive.ingest(synthetic_segmentation(n_rois=6, n_frames=20, seed=2), subject="m1", session="s1")
    return archive, record


def _event_count(archive) -> int:
    with archive.catalog.reading() as db:
        return db.scalar(select(func.count()).select_from(m.CurationEvent))


def _tags(archive, record) -> dict:
    return {t.roi: set(t.tags) for t in archive.roi_tags(record)}


def test_a_tag_changes_no_label_consensus_or_acceptance(seg):
    archive, record = seg
    archive.curate(record, [0], "rejected", curator="alice")
    archive.curate(record, [0, 1], "accepted", curator="bob")
    status = {p: archive.curation_status(record, policy=p) for p in POLICIES}
    accepted = archive.extractor(record, curation="majority", where="accepted").get_roi_ids()
    in_filter = archive.extractor(record, where="not accepted").get_roi_ids()

    archive.tag_rois(record, [0, 1, 2], "L2/3", curator="alice")
    archive.tag_rois(record, [0], "interneuron", curator="carol")
    archive.tag_rois(record, [2], "L2/3", curator="alice", remove=True)

    for policy in POLICIES:
        after = archive.curation_status(record, policy=policy)
        assert [(s.roi, s.label, s.by_curator) for s in after] == \
            [(s.roi, s.label, s.by_curator) for s in status[policy]], policy
    assert archive.extractor(record, curation="majority", where="accepted").get_roi_ids() == accepted
    assert archive.extractor(record, where="not accepted").get_roi_ids() == in_filter
    assert archive.curation_labels(record, "plane0", range(6)) == [s.label for s in status["latest"]]
    # carol only tagged: she is no curator of ROI 0's label.
    assert "carol" not in {name for s in archive.curation_status(record) for name in s.by_curator}


def test_tag_events_take_the_rois_next_revision(seg):
    """A ROI's revision numbers every event on it, tags too (revisions are unique per ROI), so a label
    written against a revision seen before someone tagged the ROI is refused like any other stale one."""
    archive, record = seg
    [before] = [s for s in archive.curation_status(record) if s.roi == 3]
    [event] = archive.tag_rois(record, 3, "L5", curator="alice", note="deep")
    assert event.revision == before.revision + 1 and event.label == "tagged" and event.tag == "L5"
    [after] = [s for s in archive.curation_status(record) if s.roi == 3]
    assert after.revision == event.revision and after.label == before.label
    history = archive.curation_history(record, 3)
    assert [(e.label, e.tag, e.note) for e in history][-1] == ("tagged", "L5", "deep")
    assert history[0].tag is None
    with pytest.raises(segdb.ConflictError, match="since you looked"):
        archive.curate(record, [3], "rejected", curator="bob", expected_revision=before.revision)
    archive.curate(record, [3], "rejected", curator="bob", expected_revision=after.revision)


def test_a_tag_is_on_while_any_curator_has_it_on(seg):
    archive, record = seg
    archive.tag_rois(record, [1], "L2/3", curator="alice")
    archive.tag_rois(record, [1, 4], "L2/3", curator="bob")
    archive.tag_rois(record, [1], "interneuron", curator="bob")
    [one, four] = archive.roi_tags(record)
    assert (one.roi, one.tags, one.by_tag) == (1, ("L2/3", "interneuron"),
                                                {"L2/3": ("alice", "bob"), "interneuron": ("bob",)})
    assert (four.roi, four.tags, four.plane) == (4, ("L2/3",), "plane0")
    archive.tag_rois(record, [1], "L2/3", curator="alice", remove=True)
    assert _tags(archive, record) == {1: {"L2/3", "interneuron"}, 4: {"L2/3"}}
    archive.tag_rois(record, [1, 4], "L2/3", curator="bob", remove=True)
    assert _tags(archive, record) == {1: {"interneuron"}}
    assert curation.roi_tags(archive, record, plane="plane0") == archive.roi_tags(record)


def test_undo_takes_back_a_tagging_and_a_label_undo_skips_tags(seg):
    archive, record = seg
    archive.curate(record, [0], "rejected", curator="alice")
    archive.tag_rois(record, [0, 5], "L2/3", curator="alice")
    archive.curate(record, [0], "accepted", curator="alice")
    # The label before 'accepted' is 'rejected', not the tag event between them.
    [undone] = archive.undo_curation(record, curator="alice")
    assert (undone.label, undone.tag) == ("rejected", None)
    assert _tags(archive, record) == {0: {"L2/3"}, 5: {"L2/3"}}
    undone = archive.undo_curation(record, curator="alice")
    assert {(e.roi, e.label, e.tag) for e in undone} == {(0, "untagged", "L2/3"), (5, "untagged", "L2/3")}
    assert all(e.batch_id.startswith("undo-") for e in undone)
    assert archive.roi_tags(record) == []
    [cleared] = archive.undo_curation(record, curator="alice")
    assert (cleared.label, cleared.tag) == ("cleared", None)
    archive.tag_rois(record, [2], "L2/3", curator="bob")
    archive.tag_rois(record, [2], "L2/3", curator="bob", remove=True)
    [back_on] = archive.undo_curation(record, curator="bob")
    assert (back_on.label, back_on.tag) == ("tagged", "L2/3")
    assert _tags(archive, record) == {2: {"L2/3"}}


def test_filters_select_rois_by_their_current_tags(seg):
    archive, record = seg
    archive.tag_rois(record, [0, 1, 2], "L2/3", curator="alice")
    archive.tag_rois(record, [2, 3], "interneuron", curator="bob")
    archive.tag_rois(record, [1], "L2/3", curator="alice", remove=True)
    archive.curate(record, [0], "rejected", curator="alice")

    def keys(where):
        return list(archive.extractor(record, where=where).get_roi_ids())

    assert keys("tag == 'L2/3'") == [0, 2]
    assert keys("tag != 'L2/3'") == [1, 3, 4, 5]
    assert keys("tag in ['L2/3', 'interneuron']") == [0, 2, 3]
    assert keys("tag not in ['L2/3', 'interneuron']") == [1, 4, 5]
    assert keys("not tag == 'interneuron' and tag == 'L2/3'") == [0]
    assert keys("tag == 'L2/3' and accepted") == [2]
    assert keys("tag == 'interneuron' or key == 5") == [2, 3, 5]
    assert keys({"tag": "interneuron"}) == [2, 3]
    assert keys("tag == 'nobody used this'") == []
    hits = archive.query_rois(where="tag == 'L2/3'")
    assert [h.key for h in hits] == [0, 2]
    assert archive.count_rois(where="tag in ['interneuron']") == 2


def test_bad_tag_filters_are_one_clear_error(seg):
    archive, record = seg
    for where, message in (("tag > 'a'", "only be compared with ==, !=, in, not in"),
                           ("tag == 3", "a tag is text"),
                           ("tag", "a tag is text"),
                           ("tag in []", "at least one tag")):
        with pytest.raises(segdb.InvalidInputError, match=message):
            archive.extractor(record, where=where)
    with pytest.raises(segdb.InvalidInputError, match=r"ROI columns are .*\btag\b"):
        archive.extractor(record, where="tg == 'L2/3'")


@pytest.mark.parametrize("tag, message", [
    ("", "non-empty tag"),
    ("   ", "non-empty tag"),
    (" L2/3", "surrounding spaces"),
    ("L2\u200b/3", "U\\+200B"),
    ("L2\n3", "U\\+000A"),
    ("x" * 256, "keep it within 255"),
    (None, "non-empty tag"),
])
def test_bad_tags_are_refused_and_nothing_is_written(seg, tag, message):
    archive, record = seg
    before = _event_count(archive)
    with pytest.raises(segdb.InvalidInputError, match=message):
        archive.tag_rois(record, [0], tag, curator="alice")
    assert _event_count(archive) == before


def test_unknown_rois_and_frozen_segmentations_refuse_tags(seg):
    archive, record = seg
    before = _event_count(archive)
    with pytest.raises(segdb.NotFoundError, match="segdb ls rois"):
        archive.tag_rois(record, [0, 99], "L2/3", curator="alice")
    with pytest.raises(segdb.InvalidInputError, match="at least one ROI"):
        archive.tag_rois(record, [], "L2/3", curator="alice")
    archive.freeze_curation(record, reason="paper submitted")
    with pytest.raises(segdb.ConflictError, match="paper submitted.*no more labels or tags"):
        archive.tag_rois(record, [0], "L2/3", curator="alice")
    with pytest.raises(segdb.ConflictError, match="frozen"):
        archive.tag_rois(record, [0], "L2/3", curator="alice", remove=True)
    assert _event_count(archive) == before
    with pytest.raises(Exception, match="frozen"), archive.catalog.engine.begin() as conn:
        roi_id = conn.execute(select(m.Roi.roi_id).limit(1)).scalar()
        conn.execute(m.CurationEvent.__table__.insert().values(
            segmentation_id=record.segmentation_id, roi_id=roi_id, curator_id=1, label="tagged", tag="L2/3",
            roi_revision=99, batch_id="sneaky", created_at=func.now()))


@pytest.mark.parametrize("label, tag", [("accepted", "L2/3"), ("tagged", None), ("untagged", None), ("big", None)])
def test_the_database_refuses_a_label_with_a_tag_and_a_tag_event_without_one(seg, label, tag):
    archive, record = seg
    with pytest.raises(Exception, match="known_label|CHECK constraint"), archive.catalog.engine.begin() as conn:
        roi_id = conn.execute(select(m.Roi.roi_id).limit(1)).scalar()
        conn.execute(m.CurationEvent.__table__.insert().values(
            segmentation_id=record.segmentation_id, roi_id=roi_id, curator_id=1, label=label, tag=tag,
            roi_revision=99, batch_id="sneaky", created_at=func.now()))


# -- migration ---------------------------------------------------------------------------------------


@pytest.fixture
def lab(catalog_url, tmp_path):
    """An archive target (a folder, or a PostgreSQL URL and storage root), its open archive and db options."""
    if catalog_url.startswith("sqlite"):
        target, options = str(tmp_path / "lab"), []
        archive = segdb.open(target)
    else:
        target, options = catalog_url, ["--storage-root", str(tmp_path / "arrays")]
        archive = segdb.open(target, storage_root=tmp_path / "arrays")
    try:
        yield archive, target, options
    finally:
        archive.close()


def _sqlite_triggers(archive) -> list[str]:
    with archive.catalog.engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'curation_events' ORDER BY name"
        )).scalars())


def test_upgrading_an_archive_from_0009_keeps_its_history_and_takes_tags(lab):
    archive, target, options = lab
    record = archive.ingest(synthetic_segmentation(n_rois=5, n_frames=10, seed=4), subject="m1", session="s1")
    archive.curate(record, [0, 1], "rejected", curator="alice", note="dim")
    archive.curate(record, [1], "accepted", curator="bob")
    history = [archive.curation_history(record, k) for k in range(5)]
    status = archive.curation_status(record, policy="majority")
    sqlite = archive.catalog.dialect == "sqlite"
    triggers = _sqlite_triggers(archive) if sqlite else None
    schema.downgrade(archive.catalog.engine, "0009")
    with pytest.raises(segdb.SchemaVersionError, match="segdb db upgrade"):
        segdb.open(target, create=False, **({} if sqlite else {"storage_root": options[1]}))

    assert main(["db", "upgrade", "-a", target, *options]) == 0
    assert schema.current_revision(archive.catalog.engine) == schema.SCHEMA_REVISION
    assert schema.schema_drift(archive.catalog.engine) == []
    assert [archive.curation_history(record, k) for k in range(5)] == history
    assert archive.curation_status(record, policy="majority") == status
    [event] = archive.tag_rois(record, [1], "L2/3", curator="alice")
    assert event.revision == 4 and event.event_id > max(e.event_id for h in history for e in h)
    assert archive.extractor(record, where="tag == 'L2/3'").get_roi_ids() == [1]
    if sqlite:
        assert _sqlite_triggers(archive) == triggers
        with archive.catalog.engine.connect() as conn:
            table = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'curation_events'")).scalar()
        assert "AUTOINCREMENT" in table
    with pytest.raises(Exception, match="append-only"), archive.catalog.engine.begin() as conn:
        conn.execute(text("UPDATE curation_events SET tag = 'L5' WHERE tag IS NOT NULL"))


def test_downgrading_below_0010_drops_tag_events_and_renumbers_revisions(lab):
    archive, target, options = lab
    record = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=10, seed=4), subject="m1", session="s1")
    archive.curate(record, [0], "rejected", curator="alice")
    archive.tag_rois(record, [0, 2], "L2/3", curator="alice")
    archive.curate(record, [0], "accepted", curator="bob")
    labels = [(e.curator, e.label) for e in archive.curation_history(record, 0) if e.tag is None]
    schema.downgrade(archive.catalog.engine, "0009")
    with archive.catalog.engine.connect() as conn:
        rows = conn.execute(text("SELECT roi_id, roi_revision FROM curation_events ORDER BY roi_id, event_id")).all()
    by_roi: dict[int, list[int]] = {}
    for roi_id, revision in rows:
        by_roi.setdefault(roi_id, []).append(revision)
    assert all(revisions == list(range(1, len(revisions) + 1)) for revisions in by_roi.values()), by_roi
    assert main(["db", "upgrade", "-a", target, *options]) == 0
    history = archive.curation_history(record, 0)
    assert [(e.curator, e.label) for e in history] == labels and [e.revision for e in history] == [1, 2, 3]
    assert archive.roi_tags(record) == []
    if archive.catalog.dialect == "postgresql":
        with pytest.raises(Exception, match="append-only"), archive.catalog.engine.begin() as conn:
            conn.execute(text("DELETE FROM curation_events"))


# -- PostgreSQL roles --------------------------------------------------------------------------------


@pytest.fixture
def roles(postgres_schema_url, tmp_path):
    """An owner, alice (a login in the curator role) and a reader role, on an archive that requires roles."""
    suffix = uuid.uuid4().hex[:8]
    names = {"reader": f"segdb_reader_{suffix}", "curator": f"segdb_curator_{suffix}", "alice": f"alice_{suffix}"}
    owner = segdb.open(postgres_schema_url, storage_root=tmp_path / "arrays")
    record = owner.ingest(synthetic_segmentation(n_rois=4, n_frames=10), subject="m1", session="s1")
    install_roles(owner, reader=names["reader"], curator=names["curator"], logins=[names["alice"]])
    curation.require_curator_roles(owner)
    as_alice = open_as(postgres_schema_url, names["alice"], tmp_path / "arrays")
    as_reader = open_as(postgres_schema_url, names["reader"], tmp_path / "arrays")
    try:
        yield owner, as_alice, as_reader, record, names
    finally:
        as_reader.close()
        as_alice.close()
        owner.close()
        drop_roles(postgres_schema_url, [names["alice"], names["curator"], names["reader"]])


def test_a_curator_role_tags_as_itself_and_a_reader_cannot_tag(roles):
    owner, as_alice, as_reader, record, names = roles
    events = as_alice.tag_rois(record, [0, 1], "L2/3", curator=names["alice"])
    assert [(e.curator, e.label, e.tag, e.revision) for e in events] == [(names["alice"], "tagged", "L2/3", 2)] * 2
    with pytest.raises(segdb.ConflictError, match="write as themselves"):
        as_alice.tag_rois(record, [2], "L2/3", curator="bob")
    before = _event_count(owner)
    with pytest.raises(segdb.SegDBError, match="permission denied"):
        as_reader.tag_rois(record, [2], "L2/3", curator=names["reader"])
    assert _event_count(owner) == before
    assert {t.roi for t in as_reader.roi_tags(record)} == {0, 1}
    undone = as_alice.undo_curation(record, curator=names["alice"])
    assert {(e.label, e.tag) for e in undone} == {("untagged", "L2/3")} and undone[0].revision == 3
    assert owner.roi_tags(record) == []


# -- command line ------------------------------------------------------------------------------------


def test_tag_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGDB_CURATOR", "frank")
    archive = segdb.open(tmp_path / "lab")
    record = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=10, roi_ids="str"), subject="m1", session="s1")
    archive.close()
    lab, seg = str(tmp_path / "lab"), str(record.segmentation_id)
    assert main(["curate", "tag", "roi_001", "roi_002", "-s", seg, "-a", lab, "--tag", "L2/3", "--note", "by eye"]) == 0
    assert "tagged 2 ROI(s) 'L2/3'" in capsys.readouterr().out
    assert main(["curate", "tag", "roi_002", "-s", seg, "-a", lab, "--tag", "L2/3", "--remove"]) == 0
    assert "took your tag 'L2/3' off 1 ROI(s)" in capsys.readouterr().out
    assert main(["curate", "history", "roi_002", "-s", seg, "-a", lab]) == 0
    out = capsys.readouterr().out
    assert "tagged L2/3" in out and "untagged L2/3" in out and "by eye" in out
    assert main(["curate", "history", "roi_001", "-s", seg, "-a", lab, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[-1] | {"created_at": None, "batch_id": None, "event_id": None} == {
        "event_id": None, "plane": "plane0", "roi": "roi_001", "curator": "frank", "label": "tagged",
        "note": "by eye", "revision": 2, "batch_id": None, "created_at": None, "tag": "L2/3"}
    assert main(["curate", "tags", "-s", seg, "-a", lab, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"plane": "plane0", "roi": "roi_001", "tags": ["L2/3"], "by_tag": {"L2/3": ["frank"]}}]
    assert main(["curate", "tags", "-s", seg, "-a", lab]) == 0
    table = capsys.readouterr().out
    assert "L2/3: frank" in table and "(L2/3" not in table
    assert main(["query", "-a", lab, "--where", "tag == 'L2/3'", "--json"]) == 0
    assert [hit["key"] for hit in json.loads(capsys.readouterr().out)] == ["roi_001"]
    assert main(["curate", "undo", "-s", seg, "-a", lab]) == 0
    capsys.readouterr()
    assert main(["curate", "tags", "-s", seg, "-a", lab, "--json"]) == 0
    assert [row["roi"] for row in json.loads(capsys.readouterr().out)] == ["roi_001", "roi_002"]


@pytest.mark.parametrize("arguments, message", [
    (["roi_001", "--tag", ""], "non-empty tag"),
    (["roi_001", "--tag", "x" * 300], "keep it within 255"),
    (["roi_001", "--tag", "L2\u200e3"], "U+200E"),
    (["roi_009", "--tag", "L2/3"], "segdb ls rois"),
    (["roi_001", "--tag", "L2/3", "--plane", "plane7"], "plane7"),
])
def test_bad_tag_commands_are_one_line_and_write_nothing(tmp_path, capsys, monkeypatch, arguments, message):
    monkeypatch.setenv("SEGDB_CURATOR", "frank")
    archive = segdb.open(tmp_path / "lab")
    record = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=10, roi_ids="str"), subject="m1", session="s1")
    before = _event_count(archive)
    lab, seg = str(tmp_path / "lab"), str(record.segmentation_id)
    assert main(["curate", "tag", *arguments, "-s", seg, "-a", lab]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segdb: error:") and err.count("\n") == 1 and message in err, err
    assert _event_count(archive) == before
    archive.freeze_curation(record, reason="done")
    assert main(["curate", "tag", "roi_001", "--tag", "L2/3", "-s", seg, "-a", lab]) == 2
    err = capsys.readouterr().err
    assert "frozen" in err and err.count("\n") == 1
    assert _event_count(archive) == before
    archive.close()
