"""Transform: the (x=col, y=row) convention, algebra, JSON round trip, resampling, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.ndimage import binary_fill_holes

from segdb.errors import InvalidInputError
from segdb.geometry import CsrMasks
from segdb.tracking import Transform, pixel_frame, warp_image, warp_mask, warp_masks


def random_affine(rng: np.random.Generator) -> Transform:
    linear = np.eye(2) + rng.normal(0.0, 0.1, size=(2, 2))
    return Transform.from_matrix(np.column_stack([linear, rng.normal(0.0, 20.0, size=2)]))


def test_identity_leaves_points_where_they_are():
    points = np.array([[0.0, 0.0], [3.5, -2.0], [100.0, 7.0]])
    np.testing.assert_array_equal(Transform.identity().apply(points), points)


def test_positive_angle_turns_x_towards_y_about_the_centre():
    quarter = Transform.rigid(math.pi / 2)
    np.testing.assert_allclose(quarter.apply((1.0, 0.0)), (0.0, 1.0), atol=1e-12)
    about = Transform.rigid(math.radians(30), shift=(2.0, -1.0), center=(50.0, 40.0))
    # The centre only moves by the shift.
    np.testing.assert_allclose(about.apply((50.0, 40.0)), (52.0, 39.0), atol=1e-12)
    assert about.angle_rad == pytest.approx(math.radians(30))
    assert about.is_rigid() and about.scale == pytest.approx(1.0)


def test_apply_rowcol_is_apply_with_the_axes_swapped():
    t = Transform.rigid(0.3, shift=(5.0, -2.0), center=(10.0, 20.0))
    rowcol = np.array([[4.0, 9.0], [0.0, 1.0]])
    np.testing.assert_allclose(t.apply_rowcol(rowcol), t.apply(rowcol[:, ::-1])[:, ::-1])
    assert t.apply_rowcol((4.0, 9.0)).shape == (2,)


def test_round_trips_through_json_and_reads_none_and_3x3():
    t = Transform.rigid(0.1, shift=(1.5, 2.5), center=(127.5, 127.5))
    stored = json.loads(json.dumps(t.to_list()))
    assert Transform.from_list(stored) == t
    assert Transform.from_list(None) == Transform.identity()
    assert Transform.from_list(t.as_array().tolist()) == t
    assert hash(Transform.from_list(stored)) == hash(t)


def test_compose_applies_the_right_hand_transform_first():
    rng = np.random.default_rng(3)
    a, b = random_affine(rng), random_affine(rng)
    points = rng.normal(0.0, 50.0, size=(10, 2))
    np.testing.assert_allclose(a.compose(b).apply(points), a.apply(b.apply(points)))
    assert (a @ b).allclose(a.compose(b))
    assert not (a @ b).allclose(b @ a)


def test_inverse_undoes_the_transform():
    rng = np.random.default_rng(4)
    for _ in range(5):
        t = random_affine(rng)
        assert (t.inverse() @ t).allclose(Transform.identity(), atol=1e-9)
        points = rng.normal(0.0, 100.0, size=(7, 2))
        np.testing.assert_allclose(t.inverse().apply(t.apply(points)), points, atol=1e-9)


def test_pixel_frame_is_the_catalogs_um_formula():
    frame = pixel_frame(1.2, (100.0, -50.0))
    row, col = 10.0, 20.0
    x_um, y_um = frame.apply((col, row))
    assert x_um == pytest.approx(col * 1.2 + 100.0)
    assert y_um == pytest.approx(row * 1.2 - 50.0)


@pytest.mark.parametrize(
    "value, words",
    [
        ([[1.0, 0.0], [0.0, 1.0]], "2x3 or 3x3"),
        ([[1.0, 0.0, math.nan], [0.0, 1.0, 0.0]], "NaN"),
        ([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]], "not invertible"),
        ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]], "[0, 0, 1]"),
        ("identity", "cannot read a transform"),
    ],
)
def test_bad_matrices_are_refused_with_the_value_and_the_fix(value, words):
    with pytest.raises(InvalidInputError) as raised:
        Transform.from_list(value)
    assert words in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_bad_points_and_arguments_are_refused():
    t = Transform.identity()
    with pytest.raises(InvalidInputError, match=r"\(n, 2\)"):
        t.apply(np.zeros((4, 3)))
    with pytest.raises(InvalidInputError, match="NaN"):
        t.apply([[math.nan, 0.0]])
    with pytest.raises(InvalidInputError, match="shift"):
        Transform.translation((1.0, 2.0, 3.0))
    with pytest.raises(InvalidInputError, match="angle_rad"):
        Transform.rigid(math.inf)
    with pytest.raises(InvalidInputError, match="pixel_size_um"):
        pixel_frame(0.0)
    with pytest.raises(InvalidInputError, match="compose"):
        t.compose([[1, 0, 0], [0, 1, 0]])  # type: ignore[arg-type]


def test_warp_image_puts_source_pixel_p_at_transform_of_p():
    image = np.zeros((40, 50))
    image[10, 20] = 1.0  # row 10, col 20 -> (x, y) = (20, 10)
    shift = Transform.translation((7.0, -3.0))
    warped = warp_image(image, shift, cval=0.0)
    assert np.unravel_index(np.argmax(warped), warped.shape) == (7, 27)
    turned = Transform.rigid(math.pi / 2, center=(20.0, 20.0))
    x, y = turned.apply((20.0, 10.0))
    warped = warp_image(image, turned, cval=0.0, order=0)
    assert warped[round(y), round(x)] == 1.0
    assert np.isnan(warp_image(image, Transform.translation((100.0, 0.0)))).all()


def test_warp_mask_moves_whole_pixel_shifts_exactly():
    mask = np.array([[5.0, 6.0, 0.5], [5.0, 7.0, 1.0], [6.0, 6.0, 0.25]])
    moved = warp_mask(mask, Transform.translation((3.0, 10.0)))
    np.testing.assert_array_equal(moved, [[15.0, 9.0, 0.5], [15.0, 10.0, 1.0], [16.0, 9.0, 0.25]])


def test_warp_mask_under_rotation_keeps_area_and_centroid_without_holes():
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 30.0) ** 2 + (xx - 22.0) ** 2 <= 8.0**2
    rows, cols = np.nonzero(disc)
    mask = np.stack([rows, cols, np.ones(rows.size)], axis=1).astype(float)
    turn = Transform.rigid(math.radians(7.0), shift=(3.3, -1.7), center=(32.0, 32.0))
    moved = warp_mask(mask, turn)
    assert abs(len(moved) - len(mask)) <= 0.03 * len(mask)
    np.testing.assert_allclose(moved[:, :2].mean(axis=0), turn.apply_rowcol(mask[:, :2].mean(axis=0)), atol=0.2)
    image = np.zeros((80, 80), dtype=bool)
    image[moved[:, 0].astype(int), moved[:, 1].astype(int)] = True
    # A nearest-neighbour pull leaves no hole inside a disc (pushing pixels forward would).
    assert (binary_fill_holes(image) == image).all()


def test_warp_masks_keeps_masks_apart_clips_and_handles_empty_masks():
    indptr = np.array([0, 2, 2, 3])
    rows, cols, weights = np.array([0, 1, 9]), np.array([0, 0, 9]), np.array([1.0, 2.0, 3.0])
    out_indptr, out_rows, _, out_weights = warp_masks(
        CsrMasks(indptr, rows, cols, weights), Transform.translation((0.0, 1.2)), output_shape=(10, 10)
    )
    np.testing.assert_array_equal(out_indptr, [0, 2, 2, 2])
    np.testing.assert_array_equal(out_rows, [1, 2])
    np.testing.assert_array_equal(out_weights, [1.0, 2.0])
    with pytest.raises(InvalidInputError, match="indptr"):
        warp_masks(CsrMasks(np.array([1, 2]), rows[:1], cols[:1], weights[:1]), Transform.identity())
    with pytest.raises(InvalidInputError, match="masks must be CsrMasks"):
        warp_masks((indptr, rows, cols, weights), Transform.identity())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"\[row, col, weight\]"):
        warp_mask(np.zeros((3, 2)), Transform.identity())
