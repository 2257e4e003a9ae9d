"""The simulator's truth, its ingestible form, and evaluate's pairwise precision and recall."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from segdb.errors import InvalidInputError
from segdb.synthetic import SimulatedFov, evaluate, session_segmentation_dict, simulate_fov
from segdb.tracking import Track, TrackMember, Transform


def track(track_id: int, *members: tuple[int, int]) -> Track:
    return Track(track_id=track_id, members=tuple(TrackMember(s, r) for s, r in members), links=())


def test_the_same_seed_gives_the_same_field_of_view():
    first, again = simulate_fov(n_sessions=2, n_cells=40, seed=5), simulate_fov(n_sessions=2, n_cells=40, seed=5)
    other = simulate_fov(n_sessions=2, n_cells=40, seed=6)
    assert first.identities() == again.identities()
    np.testing.assert_array_equal(first.sessions[1].mean_image, again.sessions[1].mean_image)
    assert not np.array_equal(first.sessions[1].mean_image, other.sessions[1].mean_image)


def test_sessions_hold_what_the_parameters_ask_for(default_fov: SimulatedFov):
    params = default_fov.parameters
    assert len(default_fov) == params["n_sessions"] == 6
    height, width = default_fov.frame_shape
    assert default_fov.sessions[0].transform == Transform.identity()
    for session in default_fov.sessions:
        assert session.mean_image.shape == (height, width) and session.mean_image.dtype == np.float32
        assert 0.7 * params["n_cells"] <= session.num_rois <= 1.3 * params["n_cells"]
        assert len(set(session.cell_ids.tolist())) == session.num_rois, "one ROI per cell and session"
        for mask in session.pixel_masks:
            assert mask.shape[1] == 3 and mask[:, 2].max() == pytest.approx(1.0)
            assert mask[:, 0].min() >= 0 and mask[:, 0].max() < height
            assert mask[:, 1].min() >= 0 and mask[:, 1].max() < width
        if session.index:
            shift = np.abs(session.transform.apply(((width - 1) / 2, (height - 1) / 2)) - ((width - 1) / 2,
                                                                                          (height - 1) / 2))
            assert np.all(shift <= params["drift_px"])
            assert abs(np.degrees(session.transform.angle_rad)) <= params["rotation_deg"]
    roi_ids = np.concatenate([s.roi_ids for s in default_fov.sessions])
    assert len(set(roi_ids.tolist())) == roi_ids.size, "ROI ids are unique over the whole simulation"


def test_cells_appear_disappear_and_come_back(default_fov: SimulatedFov):
    present = [set(s.cell_ids.tolist()) for s in default_fov.sessions]
    assert present[0] - present[1], "some cells are lost"
    assert present[1] - present[0], "some cells are new"
    back = {c for c in present[0] - present[1] if any(c in later for later in present[2:])}
    assert back, "some lost cells come back later"


def test_masks_of_one_cell_differ_between_sessions_but_overlap(default_fov: SimulatedFov):
    first, second = default_fov.sessions[0], default_fov.sessions[1]
    common = sorted(set(first.cell_ids.tolist()) & set(second.cell_ids.tolist()))
    sets = default_fov.roi_sets()
    from segdb.tracking import match_sessions

    by_pair = {(p.a_id, p.b_id): p.iou for p in match_sessions(sets[0], sets[1], min_iou=0.0)}
    ious = []
    for cell in common:
        a = int(first.roi_ids[first.cell_ids == cell][0])
        b = int(second.roi_ids[second.cell_ids == cell][0])
        if (a, b) in by_pair:
            ious.append(by_pair[(a, b)])
    assert len(ious) >= 0.9 * len(common)
    assert 0.3 < np.median(ious) < 0.9, "noisy masks: similar, never identical"


def test_mean_images_are_bright_where_the_rois_are(default_fov: SimulatedFov):
    session = default_fov.sessions[2]
    inside = np.zeros(session.mean_image.shape, dtype=bool)
    for mask in session.pixel_masks:
        inside[mask[:, 0].astype(int), mask[:, 1].astype(int)] = True
    assert session.mean_image[inside].mean() > session.mean_image[~inside].mean() + 0.2


def test_a_session_becomes_a_numpy_segmentation_extractor(default_fov: SimulatedFov):
    from roiextractors import NumpySegmentationExtractor

    session = default_fov.sessions[1]
    extractor = NumpySegmentationExtractor(**session_segmentation_dict(session, n_frames=50))
    assert extractor.get_num_rois() == session.num_rois
    assert list(extractor.get_roi_ids()) == session.roi_ids.tolist()
    assert extractor.get_frame_shape() == default_fov.frame_shape
    assert extractor.get_num_samples() == 50
    dense = extractor.get_roi_image_masks()
    mask = session.pixel_masks[3]
    assert dense[mask[:, 0].astype(int), mask[:, 1].astype(int), 3].tolist() == pytest.approx(mask[:, 2].tolist())


def test_evaluate_counts_pairs_of_track_members():
    truth = {(0, 1): 100, (1, 2): 100, (2, 3): 100, (0, 4): 200, (1, 5): 200}
    perfect = [track(0, (0, 1), (1, 2), (2, 3)), track(1, (0, 4), (1, 5))]
    result = evaluate(perfect, truth)
    assert (result.precision, result.recall, result.true_pairs) == (1.0, 1.0, 4)
    split = [track(0, (0, 1), (1, 2)), track(1, (2, 3)), track(2, (0, 4), (1, 5))]
    assert evaluate(split, truth).recall == pytest.approx(2 / 4)
    merged = [track(0, (0, 1), (1, 5), (2, 3)), track(1, (0, 4)), track(2, (1, 2))]
    result = evaluate(merged, truth)
    assert (result.true_positives, result.predicted_pairs) == (1, 3)
    assert result.precision == pytest.approx(1 / 3) and result.recall == pytest.approx(1 / 4)
    assert result.f1 == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    assert evaluate([], {}).precision == 1.0


def test_evaluate_refuses_rois_it_does_not_know_or_sees_twice():
    truth = {(0, 1): 7, (1, 2): 7}
    with pytest.raises(InvalidInputError, match="ROI 9 of session 1"):
        evaluate([track(0, (0, 1), (1, 9))], truth)
    with pytest.raises(InvalidInputError, match="more than one track"):
        evaluate([track(0, (0, 1), (1, 2)), track(1, (1, 2))], truth)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"n_sessions": 0}, "n_sessions"),
        ({"n_cells": 2.5}, "n_cells"),
        ({"frame_shape": (16, 256)}, "frame_shape"),
        ({"frame_shape": (256,)}, "frame_shape"),
        ({"turnover": 1.5}, "turnover"),
        ({"mask_noise": -0.1}, "mask_noise"),
        ({"rotation_deg": 90.0}, "rotation_deg"),
        ({"drift_px": float("nan")}, "drift_px"),
        ({"cell_radius_um": (6.0, 4.0)}, "low <= high"),
    ],
)
def test_bad_simulation_parameters_are_refused(kwargs, words):
    with pytest.raises(InvalidInputError, match=words):
        simulate_fov(**kwargs)


def test_roi_sets_need_one_transform_per_session(default_fov: SimulatedFov):
    with pytest.raises(InvalidInputError, match="one per session"):
        default_fov.roi_sets([Transform.identity()])


def test_tracking_imports_no_sql_archive_or_roiextractors():
    code = (
        "import sys, segdb.tracking; "
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'segdb.catalog', 'segdb.archive', "
        "'segdb.arrays', 'h5py', 'roiextractors'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
