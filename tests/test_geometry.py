"""segdb.geometry: the one pixel-mask type, centroids, and 2-D affines shared by every layer."""

from __future__ import annotations

import numpy as np
import pytest

from segdb.errors import InvalidInputError
from segdb.geometry import CsrMasks, apply_affine, weighted_centroids


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def random_pixel_masks(rng: np.random.Generator, count: int, frame: tuple[int, int] = (60, 70)) -> list[np.ndarray]:
    """``count`` masks of 1..30 distinct pixels each, [row, col, weight] as roiextractors gives them."""
    masks = []
    for _ in range(count):
        size = int(rng.integers(1, 31))
        rows, cols = np.divmod(rng.choice(frame[0] * frame[1], size=size, replace=False), frame[1])
        masks.append(np.column_stack([rows, cols, rng.random(size)]).astype(np.float64))
    return masks


def test_csr_masks_round_trip_pixel_masks(rng: np.random.Generator) -> None:
    pixel_masks = random_pixel_masks(rng, 9, (20, 20))
    masks = CsrMasks.from_pixel_masks(pixel_masks)
    assert len(masks) == 9
    assert masks.indptr.dtype == np.int64 and masks.row.dtype == np.int32
    assert masks.col.dtype == np.int32 and masks.weight.dtype == np.float32
    for index, expected in enumerate(pixel_masks):
        got = masks.pixel_mask(index)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got[:, :2], expected[:, :2])
        np.testing.assert_allclose(got[:, 2], expected[:, 2], rtol=1e-6)


def test_csr_masks_of_no_rois_is_empty() -> None:
    masks = CsrMasks.from_pixel_masks([])
    assert len(masks) == 0
    assert masks.indptr.tolist() == [0]


@pytest.mark.parametrize(
    ("pixel_masks", "message"),
    [
        ([np.zeros((3, 2))], r"shape \(n_pixels, 3\)"),
        ([np.array([[1.5, 2.0, 1.0]])], "non-integer"),
        ([np.array([[1.0, 2.0, np.nan]])], "NaN"),
        ([np.array([[-1.0, 2.0, 1.0]])], "non-negative"),
    ],
)
def test_csr_masks_refuse_bad_pixel_masks(pixel_masks: list[np.ndarray], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        CsrMasks.from_pixel_masks(pixel_masks)


def test_csr_masks_refuse_inconsistent_indptr() -> None:
    with pytest.raises(InvalidInputError, match="end at nnz=2"):
        CsrMasks(np.array([0, 1, 3]), np.array([0, 1]), np.array([0, 1]), np.array([1.0, 1.0]))


# --------------------------------------------------------------------------- layout


def test_weighted_centroids_match_a_per_mask_computation(rng):
    pixel_masks = random_pixel_masks(rng, 12)
    pixel_masks[3][:, 2] = 0.0  # weights that sum to zero: the plain mean
    pixel_masks[5][0, 2] = -1.0  # a negative weight: the plain mean
    centroids = weighted_centroids(CsrMasks.from_pixel_masks(pixel_masks))
    for index, mask in enumerate(pixel_masks):
        rows, cols, weights = mask[:, 0], mask[:, 1], mask[:, 2].astype(np.float32).astype(np.float64)
        if weights.sum() > 0 and np.all(weights >= 0):
            expected = (np.dot(rows, weights) / weights.sum(), np.dot(cols, weights) / weights.sum())
        else:
            expected = (rows.mean(), cols.mean())
        np.testing.assert_allclose(centroids[index], expected, rtol=1e-12)


def test_an_empty_mask_has_no_centroid():
    masks = CsrMasks(np.array([0, 0, 2]), np.array([1, 3]), np.array([2, 4]), np.array([1.0, 1.0]))
    centroids = weighted_centroids(masks)
    assert np.isnan(centroids[0]).all()
    np.testing.assert_allclose(centroids[1], (2.0, 3.0))


def test_apply_affine_maps_x_y_points_and_none_is_the_identity():
    points = np.array([[1.0, 2.0], [-3.0, 0.5]])
    rotate_and_shift = [[0.0, -1.0, 10.0], [1.0, 0.0, 20.0]]  # 90 degrees, then (10, 20)
    np.testing.assert_allclose(apply_affine(rotate_and_shift, points), [[8.0, 21.0], [9.5, 17.0]])
    np.testing.assert_array_equal(apply_affine(None, points), points)
    with pytest.raises(InvalidInputError, match="2x3"):
        apply_affine(np.eye(3), points)
