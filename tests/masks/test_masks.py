"""segdb.masks ROI and neuropil masks: AllenSDK's results, and where segdb does better."""

from __future__ import annotations

import allensdk_reference as ref
import numpy as np
import pytest
from roi_cases import random_border, random_roi_arrays, segdb_and_reference_rois

from segdb.errors import InvalidInputError, SegDBError
from segdb.masks import (
    Mask,
    NeuropilMask,
    RoiMask,
    calculate_roi_and_neuropil_traces,
    calculate_traces,
    create_neuropil_mask,
    create_roi_mask,
    create_roi_mask_array,
    usable_area,
    validate_mask,
)

# The worked case of issue 4: an 80 (wide) x 64 (high) image.
W, H = 80, 64
BORDER = [2.4, 3.6, 1.2, 5.0]


def square_plane(top: int, left: int, *, size: int = 5, dtype=bool, value=1) -> np.ndarray:
    plane = np.zeros((H, W), dtype=dtype)
    plane[top : top + size, left : left + size] = value
    return plane


def test_worked_case_usable_area():
    assert usable_area(BORDER, W, H) == (3, 75, 2, 58)


@pytest.mark.parametrize("source", ["roi_mask", "pix_list"])
def test_worked_case_neuropil_box_and_pixel_count(source):
    if source == "roi_mask":
        roi = create_roi_mask(W, H, BORDER, roi_mask=square_plane(20, 30), label="cell")
    else:
        cols, rows = np.meshgrid(np.arange(30, 35), np.arange(20, 25))
        pixels = np.column_stack([cols.ravel(), rows.ravel()])  # (x, y)
        roi = create_roi_mask(W, H, BORDER, pix_list=pixels, label="cell")
    assert (roi.x, roi.y, roi.width, roi.height, roi.pixel_count) == (30, 20, 5, 5, 25)
    assert not roi.overlaps_motion_border

    union = create_roi_mask_array([roi]).any(axis=0)
    neuropil = create_neuropil_mask(roi, BORDER, union, label="neuropil for cell")
    assert (neuropil.x, neuropil.y, neuropil.width, neuropil.height) == (17, 7, 31, 31)
    assert neuropil.pixel_count == 936
    assert neuropil.mask_group == roi.mask_group
    assert validate_mask(neuropil) == []


def test_pix_list_is_x_then_y():
    roi = create_roi_mask(W, H, [0, 0, 0, 0], pix_list=[(5, 2)], label="one pixel")
    plane = roi.get_mask_plane()
    assert plane[2, 5] and plane.sum() == 1
    assert (roi.x, roi.y) == (5, 2)


@pytest.mark.parametrize(
    ("top", "left", "flagged"),
    [
        (20, 3, False),  # first usable column
        (20, 71, False),  # last usable column is 75
        (2, 30, False),  # first usable row
        (54, 30, False),  # last usable row is 58
        (20, 2, True),
        (20, 72, True),
        (1, 30, True),
        (55, 30, True),
    ],
)
def test_roi_outside_usable_area_is_flagged_not_cropped(top, left, flagged):
    roi = create_roi_mask(W, H, BORDER, roi_mask=square_plane(top, left), label="edge")
    assert roi.overlaps_motion_border is flagged
    assert (roi.x, roi.y, roi.width, roi.height, roi.pixel_count) == (left, top, 5, 5, 25)
    expected = [{"roi_id": "edge", "exclusion_label_name": "motion_border"}] if flagged else []
    assert validate_mask(roi) == expected


def test_neuropil_is_cropped_to_usable_area():
    roi = create_roi_mask(W, H, BORDER, roi_mask=square_plane(10, 5), label="near corner")
    neuropil = create_neuropil_mask(roi, BORDER, roi.get_mask_plane(), label="np")
    plane = neuropil.get_mask_plane()
    rows, cols = np.nonzero(plane)
    assert cols.min() == 3 and rows.min() == 2  # dilation reached 0; the crop stops at 3 and 2
    assert neuropil.x == 3 and neuropil.y == 2
    expected = ref.neuropil_of(
        ref.roi_from_array(W, H, BORDER, square_plane(10, 5)),
        BORDER,
        square_plane(10, 5, dtype=np.uint8),
    )
    assert (neuropil.x, neuropil.y, neuropil.width, neuropil.height) == (
        expected.x,
        expected.y,
        expected.width,
        expected.height,
    )
    assert np.array_equal(neuropil.mask, expected.mask)


def test_neuropil_entirely_in_the_border_is_empty_with_allensdk_box():
    border = [20, 0, 0, 0]  # columns 0..19 unusable
    roi = create_roi_mask(W, H, [0, 0, 0, 0], roi_mask=square_plane(30, 0, size=2), label="r")
    # Dilation of columns 0..1 reaches column 14 only: nothing is left after the crop.
    neuropil = create_neuropil_mask(roi, border, roi.get_mask_plane(), label="np")
    expected = ref.neuropil_of(
        ref.roi_from_array(W, H, [0, 0, 0, 0], square_plane(30, 0, size=2)),
        border,
        square_plane(30, 0, size=2, dtype=np.uint8),
    )
    assert (neuropil.x, neuropil.y, neuropil.width, neuropil.height) == (
        expected.x,
        expected.y,
        expected.width,
        expected.height,
    )
    assert neuropil.pixel_count == 0
    assert validate_mask(neuropil) == [
        {"roi_id": "np", "exclusion_label_name": "empty_neuropil_mask"}
    ]


def test_neuropil_excludes_pixels_of_every_roi():
    a = create_roi_mask(W, H, BORDER, roi_mask=square_plane(20, 30), label="a")
    b = create_roi_mask(W, H, BORDER, roi_mask=square_plane(20, 38), label="b")
    union = create_roi_mask_array([a, b]).any(axis=0)
    neuropil = create_neuropil_mask(a, BORDER, union, label="np a")
    assert not (neuropil.get_mask_plane() & b.get_mask_plane()).any()
    assert neuropil.pixel_count == 936 - 25


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masks_match_allensdk_reference_on_random_rois(seed):
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(24, 60)), int(rng.integers(24, 60))
    border = random_border(rng)
    arrays = random_roi_arrays(rng, height, width, 8)
    ours, theirs = segdb_and_reference_rois(arrays, width, height, border)
    union = create_roi_mask_array(ours).any(axis=0)
    ref_union = ref.union_of(theirs)
    assert np.array_equal(union, ref_union > 0)
    for our_roi, ref_roi in zip(ours, theirs):
        our_np = create_neuropil_mask(our_roi, border, union, label="np")
        ref_np = ref.neuropil_of(ref_roi, border, ref_union, label="np")
        for mine, theirs_ in ((our_roi, ref_roi), (our_np, ref_np)):
            assert (mine.x, mine.y, mine.width, mine.height) == (
                theirs_.x,
                theirs_.y,
                theirs_.width,
                theirs_.height,
            )
            assert mine.flags == theirs_.flags
            assert np.array_equal(mine.get_mask_plane(), theirs_.plane() > 0)
            assert validate_mask(mine) == ref.validate(theirs_)


@pytest.mark.parametrize(
    ("dtype", "value"),
    [
        (bool, True),
        (np.uint8, 1),
        (np.uint8, 255),
        (np.int16, 3),
        (np.float32, 0.25),
        (np.float64, 1.0),
    ],
)
def test_any_mask_dtype_gives_the_same_mask_neuropil_and_traces(dtype, value):
    reference = create_roi_mask(W, H, BORDER, roi_mask=square_plane(20, 30), label="r")
    roi = create_roi_mask(
        W, H, BORDER, roi_mask=square_plane(20, 30, dtype=dtype, value=value), label="r"
    )
    assert roi.mask.dtype == bool
    assert np.array_equal(roi.get_mask_plane(), reference.get_mask_plane())
    union = square_plane(
        20, 30, dtype=dtype, value=value
    )  # a union in the caller's dtype is accepted too
    assert np.array_equal(
        create_neuropil_mask(roi, BORDER, union).get_mask_plane(),
        create_neuropil_mask(reference, BORDER, reference.get_mask_plane()).get_mask_plane(),
    )
    movie = np.random.default_rng(0).integers(0, 1000, (6, H, W)).astype(np.uint16)
    ours = calculate_roi_and_neuropil_traces(movie, [roi], BORDER)
    expected = calculate_roi_and_neuropil_traces(movie, [reference], BORDER)
    assert np.array_equal(ours[0], expected[0]) and np.array_equal(ours[1], expected[1])


def test_fractional_weights_still_exclude_the_roi_from_other_neuropil():
    # AllenSDK casts mask planes to uint8 for the union, so a 0.5-weighted ROI vanished
    # from it and its pixels leaked into its neighbours' neuropil.
    a = create_roi_mask(W, H, BORDER, roi_mask=square_plane(20, 30), label="a")
    b = create_roi_mask(
        W, H, BORDER, roi_mask=square_plane(20, 38, dtype=np.float64, value=0.5), label="b"
    )
    union = create_roi_mask_array([a, b])
    assert union.dtype == bool and union[1].sum() == 25
    neuropil = create_neuropil_mask(a, BORDER, union.any(axis=0))
    assert not (neuropil.get_mask_plane() & b.get_mask_plane()).any()


def test_labels_keep_their_type_and_order():
    labels = [10, 9, 100, 2, "7"]
    rois = [
        create_roi_mask(W, H, BORDER, roi_mask=square_plane(5 + 11 * k, 30), label=label)
        for k, label in enumerate(labels)
    ]
    rois[1] = create_roi_mask(W, H, BORDER, roi_mask=np.zeros((H, W)), label=9)
    rois[3] = create_roi_mask(W, H, BORDER, roi_mask=square_plane(20, 0), label=2)
    movie = np.ones((3, H, W), dtype=np.uint16)
    roi_traces, neuropil_traces, exclusions = calculate_roi_and_neuropil_traces(movie, rois, BORDER)
    assert [m.label for m in rois] == labels
    assert exclusions[:2] == [
        {"roi_id": 9, "exclusion_label_name": "empty_roi_mask"},
        {"roi_id": 2, "exclusion_label_name": "motion_border"},
    ]
    assert type(exclusions[0]["roi_id"]) is int
    assert [e["roi_id"] for e in exclusions[2:]] == ["neuropil for 9"]
    assert np.isnan(roi_traces[[1, 3]]).all()
    assert np.array_equal(roi_traces[[0, 2, 4]], np.ones((3, 3)))
    assert (
        np.isnan(neuropil_traces[1]).all() and np.isfinite(np.delete(neuropil_traces, 1, 0)).all()
    )


def test_an_empty_mask_looks_as_allensdk_leaves_it():
    roi = create_roi_mask(W, H, BORDER, roi_mask=np.zeros((H, W)), label="e")
    theirs = ref.roi_from_array(W, H, BORDER, np.zeros((H, W), bool), "e")
    assert roi.mask is None and theirs.mask is None
    assert (roi.x, roi.y, roi.width, roi.height) == (theirs.x, theirs.y, theirs.width, theirs.height) == (0, 0, 0, 0)
    assert roi.flags == theirs.flags == {"zero_pixels"}
    assert roi.pixel_count == 0 and not roi.get_mask_plane().any()
    neuropil = create_neuropil_mask(roi, BORDER, np.zeros((H, W), bool), label="np e")
    assert neuropil.mask is None and (neuropil.x, neuropil.y, neuropil.width, neuropil.height) == (0, 0, 0, 0)
    assert not create_roi_mask_array([roi, neuropil]).any()


def test_allensdk_style_code_that_skips_empty_masks_makes_as_many_neuropil_masks_and_traces():
    """Code written for AllenSDK tests ``roi.mask is None`` before building a neuropil mask."""
    rng = np.random.default_rng(11)
    border = random_border(rng)
    arrays = random_roi_arrays(rng, H, W, 9)  # ROI 2 is empty
    ours, theirs = segdb_and_reference_rois(arrays, W, H, border)
    movie = rng.integers(0, 4000, (7, H, W)).astype(np.uint16)

    union = create_roi_mask_array(ours).any(axis=0)
    our_neuropils = []
    for roi in ours:
        if roi.mask is None:
            continue
        our_neuropils.append(create_neuropil_mask(roi, border, union, label="neuropil for " + roi.label))
    our_traces, our_exclusions = calculate_traces(movie, our_neuropils)

    reference_union = ref.union_of(theirs)
    their_neuropils = []
    for roi in theirs:
        if roi.mask is None:
            continue
        their_neuropils.append(ref.neuropil_of(roi, border, reference_union, "neuropil for " + roi.label))
    their_traces, their_exclusions = ref.traces_of(movie, their_neuropils)

    assert [roi.mask is None for roi in ours] == [roi.mask is None for roi in theirs]
    assert sum(roi.mask is None for roi in ours) == 1
    assert len(our_neuropils) == len(their_neuropils) == 8
    assert our_traces.shape == their_traces.shape == (8, 7)
    assert np.array_equal(our_traces, their_traces, equal_nan=True)
    assert our_exclusions == their_exclusions


def test_validate_mask_records_follow_allensdk():
    empty = create_roi_mask(W, H, BORDER, pix_list=np.zeros((0, 2), int), label="e")
    assert empty.flags == {"zero_pixels"} and empty.pixel_count == 0
    assert validate_mask(empty) == [{"roi_id": "e", "exclusion_label_name": "empty_roi_mask"}]
    neuropil = create_neuropil_mask(empty, BORDER, np.zeros((H, W), bool), label="np e")
    assert validate_mask(neuropil) == [
        {"roi_id": "np e", "exclusion_label_name": "empty_neuropil_mask"}
    ]
    good = create_roi_mask(W, H, BORDER, roi_mask=square_plane(20, 30), label="g")
    assert validate_mask(good) == []


def test_mask_plane_and_mask_array_keep_list_order():
    a = create_roi_mask(
        W, H, BORDER, roi_mask=square_plane(20, 30), label="b-second-alphabetically"
    )
    b = create_roi_mask(W, H, BORDER, roi_mask=square_plane(40, 10, size=3), label="a-first")
    stack = create_roi_mask_array([a, b])
    assert stack.shape == (2, H, W) and stack.dtype == bool
    assert np.array_equal(stack[0], a.get_mask_plane()) and np.array_equal(
        stack[1], b.get_mask_plane()
    )
    assert a.get_mask_plane().shape == (H, W)


def test_reinitialising_a_mask_clears_old_flags():
    roi = RoiMask(W, H, "r", 1)
    roi.init_by_mask(BORDER, square_plane(20, 0))
    assert roi.overlaps_motion_border
    roi.init_by_pixels(BORDER, np.array([[30, 20]]))
    assert not roi.flags and roi.pixel_count == 1


def test_mask_base_class_cannot_be_instantiated():
    with pytest.raises(TypeError):
        Mask(W, H, "x", -1)


def invalid(call, *fragments):
    with pytest.raises(InvalidInputError) as info:
        call()
    assert isinstance(info.value, ValueError) and isinstance(info.value, SegDBError)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_wrong_size_mask_array_names_the_mask_its_shape_and_the_expected_shape():
    invalid(
        lambda: create_roi_mask(W, H, BORDER, roi_mask=np.ones((W, H)), label="cell_3"),
        "'cell_3'",
        "(80, 64)",
        "(64, 80)",
        "(image_h, image_w)",
    )


@pytest.mark.parametrize(
    ("array", "fragments"),
    [
        (np.ones((2, H, W)), ["shape (2, 64, 80)"]),
        (np.full((H, W), "x"), ["dtype <U1"]),
        (np.where(square_plane(20, 30), np.nan, 0.0), ["NaN", "np.nan_to_num"]),
        (np.where(square_plane(20, 30), -1.0, 0.0), ["negative", "-1.0"]),
        (np.zeros((H, W), complex), ["complex128"]),
    ],
)
def test_malformed_mask_arrays_are_refused(array, fragments):
    invalid(lambda: create_roi_mask(W, H, BORDER, roi_mask=array, label="r"), "'r'", *fragments)


@pytest.mark.parametrize(
    ("pix_list", "fragments"),
    [
        (np.array([1, 2, 3]), ["shape (3,)", "(n, 2)"]),
        (np.array([[1, 2, 3]]), ["shape (1, 3)"]),
        (np.array([[1.5, 2.0]]), ["non-integer"]),
        (np.array([[80, 5]]), ["outside", "(x, y) = (80, 5)", "0 <= x < 80"]),
        (np.array([[5, -1]]), ["outside", "(x, y) = (5, -1)"]),
        (np.array([["a", "b"]]), ["dtype <U1"]),
    ],
)
def test_malformed_pixel_lists_are_refused(pix_list, fragments):
    invalid(lambda: create_roi_mask(W, H, BORDER, pix_list=pix_list, label="r"), "'r'", *fragments)


@pytest.mark.parametrize(
    ("border", "fragments"),
    [
        ([1, 2, 3], ["four finite numbers", "[1, 2, 3]"]),
        ([1, 2, 3, float("nan")], ["four finite numbers"]),
        ("abcd", ["four finite numbers"]),
        ([50, 40, 0, 0], ["no usable pixel", "columns 50..39"]),
        ([0, 0, 40, 30], ["no usable pixel", "rows 40..33"]),
    ],
)
def test_impossible_borders_are_refused(border, fragments):
    invalid(lambda: create_roi_mask(W, H, border, roi_mask=square_plane(20, 30)), *fragments)


def test_negative_border_leaves_that_side_usable_as_in_allensdk():
    assert usable_area([-1.5, 0, -3, 0], W, H) == (-1, 79, -3, 63)
    roi = create_roi_mask(W, H, [-1.5, 0, -3, 0], roi_mask=square_plane(0, 0))
    assert not roi.overlaps_motion_border


@pytest.mark.parametrize(("image_w", "image_h"), [(0, 64), (80, -1), (80.0, 64), (True, 64)])
def test_bad_image_sizes_are_refused(image_w, image_h):
    invalid(lambda: RoiMask(image_w, image_h, "r", -1), "positive integer")


def test_create_roi_mask_needs_exactly_one_source():
    invalid(lambda: create_roi_mask(W, H, BORDER, label="r"), "neither", "exactly one")
    invalid(
        lambda: create_roi_mask(
            W, H, BORDER, pix_list=[(1, 1)], roi_mask=square_plane(1, 1), label="r"
        ),
        "both",
    )


def test_uninitialised_masks_are_refused_with_the_fix():
    invalid(lambda: validate_mask(RoiMask(W, H, "new", -1)), "never initialised", "init_by_mask")
    invalid(lambda: validate_mask("not a mask"), "str", "create_roi_mask")
    invalid(
        lambda: create_neuropil_mask(NeuropilMask(W, H, "n", -1), BORDER, np.zeros((H, W))),
        "never initialised",
    )


def test_neuropil_union_of_the_wrong_size_is_refused():
    roi = create_roi_mask(W, H, BORDER, roi_mask=square_plane(20, 30), label="r")
    invalid(
        lambda: create_neuropil_mask(roi, BORDER, np.zeros((W, H), bool)),
        "combined_binary_mask",
        "(80, 64)",
        "(64, 80)",
    )


def test_mask_array_of_nothing_or_of_mixed_sizes_is_refused():
    invalid(lambda: create_roi_mask_array([]), "no masks")
    a = create_roi_mask(W, H, BORDER, roi_mask=square_plane(20, 30), label="a")
    b = create_roi_mask(40, 30, [0, 0, 0, 0], pix_list=[(1, 1)], label="b")
    invalid(lambda: create_roi_mask_array([a, b]), "rois[1]", "'b'", "30 x 40", "64 x 80")
