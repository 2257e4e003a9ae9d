"""match_sessions: candidates by distance and IoU after registration, one-to-one assignment, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segdb.errors import InvalidInputError
from segdb.geometry import CsrMasks
from segdb.synthetic import SimulatedFov, simulate_fov
from segdb.tracking import MatchParameters, Pair, RoiSet, Transform, match_sessions, pixel_frame, warp_mask


def centroid_set(ids, centroids) -> RoiSet:
    return RoiSet(ids=np.asarray(ids), centroids_um=np.asarray(centroids, dtype=float))


def bar(row0: int, col0: int, rows: int, cols: int) -> np.ndarray:
    rr, cc = np.mgrid[row0 : row0 + rows, col0 : col0 + cols]
    return np.stack([rr.ravel(), cc.ravel(), np.ones(rr.size)], axis=1).astype(float)


def test_pairs_of_two_simulated_sessions_are_the_true_pairs(default_fov: SimulatedFov, default_registrations):
    sets = default_fov.roi_sets([r.transform for r in default_registrations])
    truth = default_fov.identities()
    for later in (1, 3):
        pairs = match_sessions(sets[0], sets[later])
        correct = sum(truth[(0, p.a_id)] == truth[(later, p.b_id)] for p in pairs)
        cells_0 = {truth[(0, int(roi))] for roi in sets[0].ids}
        cells_later = {truth[(later, int(roi))] for roi in sets[later].ids}
        in_both = len(cells_0 & cells_later)
        assert correct / len(pairs) >= 0.95
        assert correct / in_both >= 0.95
        assert all(0 < p.score <= 1 and p.iou >= 0.1 and p.distance_um <= 8.0 for p in pairs)


def test_a_shifted_shuffled_copy_is_paired_id_to_id():
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(10) * 15.0, np.arange(10) * 15.0), axis=-1).reshape(-1, 2)
    a = centroid_set(np.arange(100), grid)
    order = rng.permutation(100)
    b = centroid_set(1000 + order, grid[order] + (1.0, 0.0))
    pairs = match_sessions(a, b)
    assert [(p.a_id, p.b_id) for p in pairs] == [(i, 1000 + i) for i in range(100)]
    assert all(p.distance_um == pytest.approx(1.0) and p.iou is None for p in pairs)
    assert pairs[0].score == pytest.approx(1 - 1.0 / 8.0)


def test_the_assignment_maximises_the_total_score_not_the_best_single_pair():
    # a1 --2-- b1 -1- a2 --2-- b2: taking the closest pair (a2, b1) first would leave a1
    # and b2 alone; the assignment pairs a1-b1 and a2-b2.
    a = centroid_set([1, 2], [[0.0, 0.0], [3.0, 0.0]])
    b = centroid_set([1, 2], [[2.0, 0.0], [5.0, 0.0]])
    pairs = match_sessions(a, b, max_distance_um=4.0)
    assert [(p.a_id, p.b_id) for p in pairs] == [(1, 1), (2, 2)]


def test_every_roi_is_in_at_most_one_pair_in_a_crowd():
    rng = np.random.default_rng(1)
    a = centroid_set(np.arange(300), rng.uniform(0, 100, size=(300, 2)))
    b = centroid_set(np.arange(300), rng.uniform(0, 100, size=(300, 2)))
    pairs = match_sessions(a, b, max_distance_um=10.0)
    assert len({p.a_id for p in pairs}) == len(pairs) == len({p.b_id for p in pairs})
    assert all(p.distance_um <= 10.0 for p in pairs)


def test_far_rois_and_non_overlapping_masks_are_never_paired():
    frame = pixel_frame(1.0)
    across = bar(10, 0, 1, 21)  # a horizontal bar and a vertical one share a centroid
    down = bar(0, 10, 21, 1)
    a = RoiSet.from_pixel_masks([1], [across], frame)
    b = RoiSet.from_pixel_masks([2], [down], frame)
    assert match_sessions(a, b) == []  # IoU 1/41 is below min_iou
    [pair] = match_sessions(a, b, min_iou=0.0)
    assert pair.iou == pytest.approx(1 / 41)
    far = RoiSet.from_pixel_masks([3], [bar(100, 100, 3, 3)], frame)
    assert match_sessions(a, far, min_iou=0.0) == []


def test_iou_is_measured_after_registration():
    # Session b is session a turned by 90 degrees; its transform to the reference undoes it.
    masks = [bar(5, 5, 4, 9), bar(20, 30, 7, 3), bar(40, 12, 5, 5)]
    turn = Transform.rigid(math.pi / 2, center=(32.0, 32.0))
    frame = pixel_frame(0.8, (100.0, 200.0))
    a = RoiSet.from_pixel_masks([1, 2, 3], masks, frame)
    b = RoiSet.from_pixel_masks([7, 8, 9], [warp_mask(m, turn) for m in masks], frame @ turn.inverse())
    pairs = match_sessions(a, b)
    assert [(p.a_id, p.b_id) for p in pairs] == [(1, 7), (2, 8), (3, 9)]
    assert all(p.iou == pytest.approx(1.0) and p.distance_um == pytest.approx(0.0, abs=1e-9) for p in pairs)
    unregistered = RoiSet.from_pixel_masks([7, 8, 9], [warp_mask(m, turn) for m in masks], frame)
    assert match_sessions(a, unregistered) == []


def test_a_set_without_masks_is_matched_on_centroids_alone():
    frame = pixel_frame(1.0)
    a = RoiSet.from_pixel_masks([1], [bar(10, 10, 5, 5)], frame)
    b = RoiSet.from_pixel_masks([2], [bar(12, 10, 5, 5)], frame)
    [with_masks] = match_sessions(a, b)
    [without] = match_sessions(a, b.without_masks())
    assert with_masks.iou == pytest.approx(15 / 35)
    assert without.iou is None and without.score == pytest.approx(1 - 2.0 / 8.0)


def test_weights_set_the_score():
    frame = pixel_frame(1.0)
    a = RoiSet.from_pixel_masks([1], [bar(10, 10, 5, 5)], frame)
    b = RoiSet.from_pixel_masks([2], [bar(12, 10, 5, 5)], frame)
    [iou_only] = match_sessions(a, b, distance_weight=0.0)
    [distance_only] = match_sessions(a, b, iou_weight=0.0)
    assert iou_only.score == pytest.approx(15 / 35)
    assert distance_only.score == pytest.approx(0.75)


def test_parameters_given_as_one_value_or_by_name_are_the_same():
    rng = np.random.default_rng(2)
    a = centroid_set(np.arange(200), rng.uniform(0, 100, size=(200, 2)))
    b = centroid_set(np.arange(200), rng.uniform(0, 100, size=(200, 2)))
    by_name = match_sessions(a, b, max_distance_um=4.0)
    assert match_sessions(a, b, MatchParameters(max_distance_um=4.0)) == by_name
    assert by_name != match_sessions(a, b)
    # A name given next to the value replaces that field of it.
    assert match_sessions(a, b, MatchParameters(max_distance_um=9.0), max_distance_um=4.0) == by_name
    assert MatchParameters().to_dict() == {"max_distance_um": 8.0, "min_iou": 0.1, "distance_weight": 1.0,
                                           "iou_weight": 1.0}


def test_unknown_or_mistyped_parameters_are_refused_by_name():
    roi_set = centroid_set([1], [[0.0, 0.0]])
    with pytest.raises(InvalidInputError, match=r"unknown matching parameter\(s\) \['max_distance'\]"):
        match_sessions(roi_set, roi_set, max_distance=4.0)
    with pytest.raises(InvalidInputError, match="parameters must be MatchParameters, got dict"):
        match_sessions(roi_set, roi_set, {"max_distance_um": 4.0})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="min_iou must be between 0 and 1"):
        MatchParameters(min_iou=-0.5)


def test_selected_masks_keep_their_pixels_in_the_order_asked():
    masks = CsrMasks.from_pixel_masks([bar(0, 0, 1, 2), bar(5, 5, 2, 2), bar(9, 1, 1, 1)])
    chosen = masks.select([2, 0, 2])
    assert len(chosen) == 3
    for position, source in enumerate([2, 0, 2]):
        np.testing.assert_array_equal(chosen.pixel_mask(position), masks.pixel_mask(source))
    assert len(masks.select([])) == 0
    with pytest.raises(IndexError, match=r"mask positions \[3\] are out of range for 3 masks"):
        masks.select([0, 3])


def test_empty_sets_give_no_pairs():
    empty = centroid_set(np.zeros(0, dtype=int), np.zeros((0, 2)))
    assert match_sessions(empty, centroid_set([1], [[0.0, 0.0]])) == []
    assert match_sessions(empty, empty) == []


def test_centroids_come_from_weighted_masks_in_the_reference_frame():
    mask = np.array([[10.0, 20.0, 1.0], [10.0, 22.0, 3.0]])
    roi_set = RoiSet.from_pixel_masks([5], [mask], pixel_frame(2.0, (1.0, -1.0)))
    # weighted centroid (row 10, col 21.5) -> x = 21.5 * 2 + 1, y = 10 * 2 - 1
    np.testing.assert_allclose(roi_set.centroids_um, [[44.0, 19.0]])
    given = RoiSet.from_pixel_masks([5], [mask], pixel_frame(2.0), centroids_rowcol=np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(given.centroids_um, [[2.0, 0.0]])
    from_centroids = RoiSet.from_centroids([5], [[10.0, 21.5]], pixel_frame(2.0))
    np.testing.assert_allclose(from_centroids.centroids_um, [[43.0, 20.0]])


def test_roi_sets_are_frozen_values():
    roi_set = centroid_set([1, 2], [[0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError):
        roi_set.centroids_um[0, 0] = 5.0
    with pytest.raises(AttributeError):
        roi_set.ids = np.array([3, 4])  # type: ignore[misc]


def test_large_sessions_match_in_one_call():
    fov = simulate_fov(n_sessions=2, n_cells=500, frame_shape=(400, 400), seed=4)
    sets = fov.roi_sets()
    pairs = match_sessions(sets[0], sets[1])
    truth = fov.identities()
    correct = sum(truth[(0, p.a_id)] == truth[(1, p.b_id)] for p in pairs)
    assert len(pairs) > 350 and correct / len(pairs) >= 0.95


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: RoiSet(ids=np.array([1, 1]), centroids_um=np.zeros((2, 2))), "repeated: [1]"),
        (lambda: RoiSet(ids=np.array([1, 2]), centroids_um=np.zeros((3, 2))), "centroids_um must be (2, 2)"),
        (lambda: RoiSet(ids=np.array([1.5]), centroids_um=np.zeros((1, 2))), "integers"),
        (lambda: RoiSet(ids=np.array(["roi_1"]), centroids_um=np.zeros((1, 2))), "integers"),
        (lambda: RoiSet(ids=np.array([1]), centroids_um=np.array([[np.nan, 0.0]])), "ROIs [1]"),
        (
            lambda: RoiSet(ids=np.array([1]), centroids_um=np.zeros((1, 2)),
                           masks=CsrMasks.from_pixel_masks([bar(0, 0, 2, 2)])),
            "pixel_to_reference",
        ),
        (
            lambda: RoiSet(ids=np.array([1, 2]), centroids_um=np.zeros((2, 2)),
                           masks=CsrMasks.from_pixel_masks([bar(0, 0, 2, 2)]), pixel_to_reference=pixel_frame(1.0)),
            "1 masks for 2 ids",
        ),
        (lambda: CsrMasks.from_pixel_masks([np.zeros((3, 2))]), "pixel mask 0 must have shape (n_pixels, 3)"),
        (lambda: CsrMasks(np.array([0, 2]), np.array([0]), np.array([0]), np.array([1.0])), "end at nnz=1"),
        (lambda: RoiSet(ids=np.array([1]), centroids_um=np.zeros((1, 2)), masks=[bar(0, 0, 2, 2)],
                        pixel_to_reference=pixel_frame(1.0)), "masks must be CsrMasks"),
        (lambda: RoiSet.from_pixel_masks([1], [np.zeros((0, 3))], pixel_frame(1.0)), "empty masks"),
    ],
)
def test_bad_roi_sets_are_refused(make, words):
    with pytest.raises(InvalidInputError) as raised:
        make()
    assert words in str(raised.value)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"max_distance_um": 0.0}, "max_distance_um"),
        ({"min_iou": 1.5}, "min_iou"),
        ({"distance_weight": -1.0}, "distance_weight"),
        ({"distance_weight": 0.0, "iou_weight": 0.0}, "both be 0"),
        ({"max_distance_um": "far"}, "must be numbers"),
    ],
)
def test_bad_parameters_are_refused(kwargs, words):
    roi_set = centroid_set([1], [[0.0, 0.0]])
    with pytest.raises(InvalidInputError, match=words):
        match_sessions(roi_set, roi_set, **kwargs)


def test_inputs_must_be_roi_sets():
    with pytest.raises(InvalidInputError, match="a must be a RoiSet"):
        match_sessions([Pair(1, 2, 0.0, 1.0, 1.0)], centroid_set([1], [[0.0, 0.0]]))  # type: ignore[arg-type]
