"""build_tracks: the 0.95 bar on the simulator, conflict resolution, gaps, determinism, inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segdb.errors import InvalidInputError
from segdb.synthetic import SimulatedFov, evaluate
from segdb.tracking import (
    MATCHING_METHOD,
    MatchParameters,
    Pair,
    RoiSet,
    Track,
    build_tracks,
    match_sessions,
    tracking_parameters,
)


def centroid_set(ids, centroids) -> RoiSet:
    return RoiSet(ids=np.asarray(ids), centroids_um=np.asarray(centroids, dtype=float).reshape(-1, 2))


def assert_tracks_are_consistent(tracks: list[Track], sessions: list[RoiSet]) -> None:
    seen: set[tuple[int, int]] = set()
    for position, track in enumerate(tracks):
        assert track.track_id == position
        indices = track.session_indices
        assert list(indices) == sorted(set(indices)), "at most one ROI per session, in session order"
        assert len(track.links) == len(track.members) - 1
        for member, link in zip(track.members[1:], track.links, strict=True):
            assert link.session_b == member.session_index and link.pair.b_id == member.roi_id
            assert track.roi_id(link.session_a) == link.pair.a_id and link.session_a < link.session_b
        for member in track.members:
            key = (member.session_index, member.roi_id)
            assert key not in seen, f"ROI {key} is in two tracks"
            seen.add(key)
    every_roi = {(index, int(roi)) for index, roi_set in enumerate(sessions) for roi in roi_set.ids}
    assert seen == every_roi


def test_tracks_on_the_default_simulation_reach_precision_and_recall_of_095(
    default_fov: SimulatedFov, default_registrations
):
    # The requirement: default simulator, default matching, estimated registration.
    sessions = default_fov.roi_sets([r.transform for r in default_registrations])
    tracks = build_tracks(sessions)
    accuracy = evaluate(tracks, default_fov)
    assert accuracy.precision >= 0.95
    assert accuracy.recall >= 0.95
    assert accuracy.true_pairs > 1000
    assert_tracks_are_consistent(tracks, sessions)


def test_without_registration_drifted_sessions_are_not_tracked(default_fov: SimulatedFov):
    # The same sessions with every transform taken as the identity: drift of up to 10 px
    # (12 µm) is more than the 8 µm match radius, so recall collapses. Registration matters.
    from segdb.tracking import Transform

    unregistered = default_fov.roi_sets([Transform.identity()] * len(default_fov))
    assert evaluate(build_tracks(unregistered), default_fov).recall < 0.8


def test_a_cell_missing_for_a_session_rejoins_its_track():
    sessions = [
        centroid_set([10, 11], [[0.0, 0.0], [50.0, 0.0]]),
        centroid_set([20], [[50.5, 0.0]]),  # cell at (0, 0) missed here
        centroid_set([30, 31], [[0.5, 0.5], [50.0, 0.5]]),
    ]
    tracks = build_tracks(sessions, max_gap=1)
    assert [[(m.session_index, m.roi_id) for m in t.members] for t in tracks] == [
        [(0, 10), (2, 30)],
        [(0, 11), (1, 20), (2, 31)],
    ]
    assert tracks[0].links[0].session_a == 0 and tracks[0].roi_id(1) is None
    no_gap = build_tracks(sessions, max_gap=0)
    assert [[m.roi_id for m in t.members] for t in no_gap] == [[10], [11, 20, 31], [30]]


def test_by_default_a_track_waits_for_its_cell_any_number_of_sessions():
    sessions = [centroid_set([1, 2], [[0.0, 0.0], [40.0, 0.0]])]
    sessions += [centroid_set([10 + k], [[40.0, 0.5]]) for k in range(4)]  # (0, 0) missed 4 times
    sessions += [centroid_set([20], [[0.3, 0.0]])]
    tracks = build_tracks(sessions)
    assert [m.roi_id for m in tracks[0].members] == [1, 20]
    assert [m.roi_id for m in tracks[1].members] == [2, 10, 11, 12, 13]
    assert [len(t) for t in build_tracks(sessions, max_gap=3)] == [1, 5, 1]
    assert [len(t) for t in build_tracks(sessions, max_gap=4)] == [2, 5]


def test_two_tracks_wanting_one_roi_are_resolved_by_score():
    sessions = [
        centroid_set([1, 2], [[0.0, 0.0], [6.0, 0.0]]),
        centroid_set([3], [[4.0, 0.0]]),  # 4 µm from track 0, 2 µm from track 1
    ]
    tracks = build_tracks(sessions)
    assert [[m.roi_id for m in t.members] for t in tracks] == [[1], [2, 3]]


def test_a_track_is_matched_on_its_best_recent_member():
    # The cell's ROI in session 1 is displaced (a poor mask); session 2's ROI matches the
    # session 0 member better, and the track keeps it through that link.
    sessions = [
        centroid_set([1], [[0.0, 0.0]]),
        centroid_set([2], [[5.0, 0.0]]),
        centroid_set([3], [[0.5, 0.0]]),
    ]
    [track] = build_tracks(sessions)
    assert [m.roi_id for m in track.members] == [1, 2, 3]
    assert (track.links[1].session_a, track.links[1].pair.a_id) == (0, 1)


def test_tracks_are_deterministic_and_ordered_by_first_appearance(default_fov, default_registrations):
    sessions = default_fov.roi_sets([r.transform for r in default_registrations])
    first = build_tracks(sessions)
    assert build_tracks(sessions) == first
    centroids_only = [s.without_masks() for s in sessions]
    assert build_tracks(centroids_only) == build_tracks(centroids_only)
    starts = [(t.members[0].session_index,
               int(np.flatnonzero(sessions[t.members[0].session_index].ids == t.members[0].roi_id)[0]))
              for t in first]
    assert starts == sorted(starts)


def test_given_pairs_are_used_instead_of_computing_them(default_fov: SimulatedFov, default_registrations):
    sessions = default_fov.roi_sets([r.transform for r in default_registrations])
    pairs = {(j, s): match_sessions(sessions[j], sessions[s]) for s in range(len(sessions))
             for j in range(max(0, s - 3), s)}
    from_mapping = build_tracks(sessions, pairs=pairs)
    accuracy = evaluate(from_mapping, default_fov)
    assert accuracy.precision >= 0.95 and accuracy.recall >= 0.95
    assert_tracks_are_consistent(from_mapping, sessions)
    from_function = build_tracks(sessions, pairs=lambda j, s: pairs.get((j, s), []))
    assert from_function == from_mapping
    # With no pairs at all every ROI is its own track.
    assert len(build_tracks(sessions, pairs={})) == sum(len(s) for s in sessions)


def test_min_sessions_drops_short_tracks_and_renumbers(default_fov: SimulatedFov, default_registrations):
    sessions = default_fov.roi_sets([r.transform for r in default_registrations])
    long_tracks = build_tracks(sessions, min_sessions=3)
    assert all(len(t) >= 3 for t in long_tracks)
    assert [t.track_id for t in long_tracks] == list(range(len(long_tracks)))
    everything = build_tracks(sessions)
    assert [t.members for t in long_tracks] == [t.members for t in everything if len(t) >= 3]


def test_parameters_are_json_and_repeat_the_run(default_fov: SimulatedFov):
    params = tracking_parameters(max_distance_um=7.0)
    assert json.loads(json.dumps(params)) == params
    assert params["max_distance_um"] == 7.0 and params["max_gap"] is None
    assert MATCHING_METHOD.startswith("segdb.tracking/")
    sessions = default_fov.roi_sets()[:3]
    assert build_tracks(sessions, **params) == build_tracks(sessions, max_distance_um=7.0)
    as_value = MatchParameters(max_distance_um=7.0)
    assert tracking_parameters(as_value) == params
    assert build_tracks(sessions, as_value) == build_tracks(sessions, **params)


def test_bad_arguments_are_refused():
    sessions = [centroid_set([1], [[0.0, 0.0]]), centroid_set([2], [[0.0, 0.0]])]
    with pytest.raises(InvalidInputError, match="max_gap"):
        build_tracks(sessions, max_gap=-1)
    with pytest.raises(InvalidInputError, match="min_sessions"):
        build_tracks(sessions, min_sessions=0)
    with pytest.raises(InvalidInputError, match=r"sessions\[1\] must be a RoiSet"):
        build_tracks([sessions[0], [1, 2]])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="pairs must be a mapping"):
        build_tracks(sessions, pairs=[Pair(1, 2, 0.0, 1.0, 1.0)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"ROI ids \[9\]"):
        build_tracks(sessions, pairs={(0, 1): [Pair(9, 2, 0.0, 1.0, 1.0)]})
    with pytest.raises(InvalidInputError, match="scores > 0"):
        build_tracks(sessions, pairs={(0, 1): [Pair(1, 2, 0.0, 1.0, 0.0)]})
    with pytest.raises(InvalidInputError, match="max_gap"):
        tracking_parameters(max_gap=1.5)  # type: ignore[arg-type]


def test_no_sessions_give_no_tracks():
    assert build_tracks([]) == []


def test_empty_sessions_are_gaps(default_fov: SimulatedFov):
    sets = default_fov.roi_sets()
    empty = RoiSet(ids=np.zeros(0, dtype=int), centroids_um=np.zeros((0, 2)))
    for sessions in ([empty, sets[0], sets[1]], [sets[0], empty, sets[1]], [empty, empty]):
        tracks = build_tracks(sessions)
        assert_tracks_are_consistent(tracks, sessions)
    # A cell seen in session 0 and 2 with an empty session between is one track.
    bridged = build_tracks([sets[0], empty, sets[1]])
    assert sum(len(t) == 2 for t in bridged) >= 0.5 * len(sets[0])
