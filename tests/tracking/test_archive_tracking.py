"""Tracking inside the archive: registration stored per plane, matching runs and tracks kept, cells
followed across sessions, and cross-session queries — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import segdb
from segdb.cli import main
from segdb.synthetic import simulate_fov
from segdb.synthetic.groundtruth import ingest_simulated_fov, score_run


@pytest.fixture
def simulated(archive):
    fov = simulate_fov(n_sessions=4, n_cells=60, frame_shape=(160, 160), drift_px=8, rotation_deg=3, seed=3)
    truth = ingest_simulated_fov(archive, fov, subject="m30", field_of_view="site1", first_day=dt.date(2026, 4, 1),
                                 n_frames=20)
    return archive, fov, truth


def test_register_then_match_finds_the_same_cells(simulated):
    archive, fov, truth = simulated
    registrations = archive.register_field_of_view("m30", "site1")
    assert [r.session for r in registrations] == sorted(truth)
    assert all(r.reliable for r in registrations)
    run = archive.match_field_of_view("m30", "site1")
    assert run.num_sessions == 4 and run.num_tracks >= 60
    accuracy = score_run(archive, run.matching_run_id, truth)
    assert accuracy.precision >= 0.95 and accuracy.recall >= 0.95, accuracy


def test_without_registration_matching_fails_so_registration_is_used(simulated):
    archive, _, truth = simulated
    unregistered = archive.match_field_of_view("m30", "site1")
    archive.register_field_of_view("m30", "site1")
    registered = archive.match_field_of_view("m30", "site1")
    assert score_run(archive, registered.matching_run_id, truth).recall > \
        score_run(archive, unregistered.matching_run_id, truth).recall + 0.3


def test_runs_coexist_and_tracks_keep_their_meaning(simulated):
    archive, _, truth = simulated
    archive.register_field_of_view("m30", "site1")
    first = archive.match_field_of_view("m30", "site1")
    some_track = archive.tracks(first.matching_run_id, min_sessions=4)[0]
    before = archive.track(some_track)
    second = archive.match_field_of_view("m30", "site1", max_distance_um=4.0, min_iou=0.3)
    assert second.matching_run_id != first.matching_run_id
    assert second.parameters["max_distance_um"] == 4.0
    assert archive.track(some_track) == before
    assert {r.matching_run_id for r in archive.matching_runs("m30")} == {first.matching_run_id, second.matching_run_id}
    assert len(before.members) == 4 and len({m.session for m in before.members}) == 4


def test_following_a_cell_gives_its_traces_in_every_session(simulated):
    archive, _, truth = simulated
    archive.register_field_of_view("m30", "site1")
    run = archive.match_field_of_view("m30", "site1")
    track_id = archive.tracks(run.matching_run_id, min_sessions=4)[0]
    pairs = archive.track_extractors(track_id)
    assert len(pairs) == 4
    for member, extractor in pairs:
        assert extractor.get_roi_ids() == [member.roi]
    traces = archive.track_traces(track_id)
    assert traces.aligned.shape == (4, 20)
    member, extractor = pairs[2]
    np.testing.assert_array_equal(traces.traces[2], extractor.get_traces()[:, 0])
    with pytest.raises(segdb.NotFoundError, match="segdb track list"):
        archive.track(10**9)


def test_position_queries_use_the_field_of_view_frame(simulated):
    archive, fov, truth = simulated
    archive.register_field_of_view("m30", "site1")
    hits = archive.query(subject="m30", field_of_view="site1", near=(90.0, 90.0, 15.0))
    assert hits, "cells near the centre of the field of view"
    # A box holding everything returns every cell ROI of the field of view ...
    everything = archive.query(subject="m30", field_of_view="site1", box=(-1e4, -1e4, 1e4, 1e4))
    assert len(everything) == sum(len(v) for v in truth.values())
    # ... and the radius query is exactly those within 15 µm in the registered frame.
    expected = {h.roi_id for h in everything if (h.fov_um[0] - 90.0) ** 2 + (h.fov_um[1] - 90.0) ** 2 <= 15.0**2}
    assert {h.roi_id for h in hits} == expected
    assert len({h.session for h in hits}) >= 2
    plan = archive.explain_query(subject="m30", field_of_view="site1", near=(90.0, 90.0, 15.0))
    assert "ix_rois__fov_id_segmentation_id_fov_x_um_fov_y_um" in plan, plan


def test_query_filters_compose(simulated):
    archive, _, truth = simulated
    sessions = sorted(truth)
    later = archive.query(subject="m30", date_from=sessions[2])
    assert {h.session for h in later} == set(sessions[2:])
    big = archive.query(subject="m30", where="pixel_count >= 60", session=sessions[0])
    assert all(h.pixel_count >= 60 and h.session == sessions[0] for h in big)
    archive.curate(big[0].segmentation_id, [big[0].key], "rejected", curator="alice")
    accepted = archive.query(subject="m30", session=sessions[0], accepted=True)
    assert big[0].roi_id not in {h.roi_id for h in accepted}
    rejected = archive.query(subject="m30", session=sessions[0], accepted=False)
    assert big[0].roi_id in {h.roi_id for h in rejected}
    frame = archive.query(subject="m30", session=sessions[1], limit=5)
    assert len(frame) == 5
    pandas = pytest.importorskip("pandas")
    assert isinstance(frame.to_pandas(), pandas.DataFrame) and len(frame.to_pandas()) == 5
    extractors = frame.extractors()
    [(key, extractor)] = extractors.items()
    assert extractor.get_roi_ids() == [h.key for h in frame]
    with pytest.raises(segdb.InvalidInputError, match="field_of_view"):
        archive.query(subject="m30", near=(1.0, 1.0, 1.0))
    for filters in (
        dict(subject="m30", date_from=sessions[2]),
        dict(subject="m30", session=sessions[0], accepted=False),
        dict(where="pixel_count >= 60", plane="plane0"),
        dict(subject="m30", field_of_view="site1", near=(80.0, 80.0, 20.0), accepted=True),
        dict(subject="m30", limit=7),
    ):
        assert archive.count_rois(**filters) == len(archive.query(**filters)), filters


def test_query_and_track_from_the_command_line(tmp_path, capsys):
    archive = segdb.open(tmp_path / "lab")
    fov = simulate_fov(n_sessions=3, n_cells=40, frame_shape=(128, 128), seed=5)
    ingest_simulated_fov(archive, fov, subject="m30", field_of_view="site1", first_day=dt.date(2026, 4, 1),
                         n_frames=10)
    archive.close()
    lab = str(tmp_path / "lab")
    assert main(["track", "register", "--subject", "m30", "--fov", "site1", "-a", lab]) == 0
    capsys.readouterr()
    assert main(["track", "match", "--subject", "m30", "--fov", "site1", "-a", lab]) == 0
    assert "matching run 1:" in capsys.readouterr().out
    assert main(["track", "list", "1", "--min-sessions", "3", "-a", lab, "--json"]) == 0
    import json

    track_ids = json.loads(capsys.readouterr().out)
    assert track_ids
    assert main(["track", "show", str(track_ids[0]), "-a", lab, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(["query", "--subject", "m30", "--fov", "site1", "--near", "60", "60", "20", "-a", lab, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed
    assert main(["query", "--subject", "m30", "--fov", "site1", "--near", "60", "60", "20", "--count", "-a", lab]) == 0
    assert capsys.readouterr().out.strip() == str(len(listed))
    later = ["query", "--where", "pixel_count > 1", "--after", "2026-04-02", "-a", lab, "--json"]
    assert main(later) == 0
    sessions = {hit["session"] for hit in json.loads(capsys.readouterr().out)}
    assert main([*later, "--count"]) == 0
    counted = json.loads(capsys.readouterr().out)["count"]
    assert main(["query", "--where", "pixel_count > 1", "-a", lab, "--count"]) == 0
    assert 0 < counted < int(capsys.readouterr().out) and len(sessions) == 2
    assert main(["query", "--subject", "m30", "--fov", "site1", "--near", "60", "60", "20", "--explain", "-a", lab]) == 0
    assert "ix_rois__fov_id_segmentation_id_fov_x_um_fov_y_um" in capsys.readouterr().out
