"""ROI and neuropil masks with AllenSDK's semantics (``allensdk.brain_observatory.roi_masks``).

A mask keeps the bounding box of its pixels inside an image (``x``, ``y``, ``width``,
``height``) and a boolean ``mask`` of that box. The motion border says which part of
the image every frame of a motion-corrected movie covers; it is
``[right_shift, left_shift, down_shift, up_shift]`` and leaves usable the columns
``ceil(b[0]) .. floor(W - b[1]) - 1`` and the rows ``ceil(b[2]) .. floor(H - b[3]) - 1``.

* An ROI that reaches outside the usable area is flagged ``overlaps_motion_border``,
  never cropped, so that its trace is refused rather than silently biased.
* A neuropil mask is its ROI dilated 13 times by a 3x3 square, minus every ROI pixel
  (the union of all ROIs), cropped to the usable area.

Where AllenSDK errs, segdb does the right thing: masks of any dtype (bool, integer,
float) are accepted and a pixel belongs to a mask when its value is above zero;
labels are kept as given (an int stays an int, nothing is sorted); wrong sizes,
pixels outside the image and impossible borders raise
:class:`~segdb.errors.InvalidInputError` naming the mask, the value and the fix.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Hashable, Sequence
from typing import Any, TypedDict

import numpy as np
import scipy.ndimage

from segdb.errors import InvalidInputError

# Indices into a motion border array (AllenSDK's names and order).
RIGHT_SHIFT = 0
LEFT_SHIFT = 1
DOWN_SHIFT = 2
UP_SHIFT = 3

#: A neuropil mask reaches this many pixels out from its ROI (3x3 square, this many times).
NEUROPIL_DILATION_ITERATIONS = 13

# The flags AllenSDK sets on masks; validate_mask turns them into exclusion records.
FLAG_ZERO_PIXELS = "zero_pixels"
FLAG_OVERLAPS_MOTION_BORDER = "overlaps_motion_border"

Border = Sequence[float]


class Exclusion(TypedDict):
    """Why a mask gets no trace, as AllenSDK reports it (one record per reason)."""

    roi_id: Hashable
    exclusion_label_name: str


def _describe(label: Hashable) -> str:
    # repr keeps 7 and '7' apart, which matters when ids come from several sources.
    return repr(label) if label is not None else "(unlabelled)"


def _image_size(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise InvalidInputError(
            f"{name} must be a positive integer number of pixels; got {value!r}. "
            f"Pass the movie's frame size, e.g. {name}=512."
        )
    return int(value)


def usable_area(border: Border, image_w: int, image_h: int) -> tuple[int, int, int, int]:
    """Return the usable area a motion border leaves in an image.

    Parameters
    ----------
    border
        ``[right_shift, left_shift, down_shift, up_shift]`` in pixels. A negative
        value leaves that side fully usable, as in AllenSDK.
    image_w, image_h
        Image width (columns) and height (rows).

    Returns
    -------
    tuple of int
        ``(first_col, last_col, first_row, last_row)``, all inclusive.

    Raises
    ------
    InvalidInputError
        If the border is not four finite numbers or leaves no usable pixel.
    """
    try:
        values = [float(v) for v in np.asarray(border, dtype=float).ravel()]
    except (TypeError, ValueError):
        values = []
    if len(values) != 4 or np.ndim(border) != 1 or not all(math.isfinite(v) for v in values):
        raise InvalidInputError(
            f"motion border must be four finite numbers [right_shift, left_shift, down_shift, "
            f"up_shift]; got {border!r}. Pass e.g. [0, 0, 0, 0] when the whole image is usable."
        )
    first_col = math.ceil(values[RIGHT_SHIFT])
    last_col = math.floor(image_w - values[LEFT_SHIFT]) - 1
    first_row = math.ceil(values[DOWN_SHIFT])
    last_row = math.floor(image_h - values[UP_SHIFT]) - 1
    if first_col > last_col or first_row > last_row:
        raise InvalidInputError(
            f"motion border {values} leaves no usable pixel of the {image_w} x {image_h} "
            f"(width x height) image: usable columns {first_col}..{last_col}, rows "
            f"{first_row}..{last_row}. Check the order [right_shift, left_shift, down_shift, "
            "up_shift] and that the shifts are smaller than the image."
        )
    return first_col, last_col, first_row, last_row


def _membership(array: Any, what: str, rows: int, cols: int) -> np.ndarray:
    """Validate an image-sized mask array and return which pixels belong (value > 0)."""
    arr = np.asarray(array)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"{what} has dtype {arr.dtype}; pass a bool, integer or float array with pixels of "
            "the mask above zero and background zero."
        )
    if arr.shape != (rows, cols):
        raise InvalidInputError(
            f"{what} has shape {arr.shape} but the image is {rows} rows x {cols} columns; pass "
            f"an image-sized array of shape ({rows}, {cols}), i.e. (image_h, image_w)."
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InvalidInputError(
            f"{what} holds NaN or infinite values; background pixels must be 0 and mask pixels "
            "above 0. Replace them (e.g. np.nan_to_num(mask)) before building the mask."
        )
    if arr.dtype.kind in "if" and (arr < 0).any():
        raise InvalidInputError(
            f"{what} holds negative values (minimum {arr.min().item()!r}); background pixels "
            "must be 0 and mask pixels above 0. Pass e.g. (weights > 0) or np.abs(weights)."
        )
    return arr > 0


class Mask(abc.ABC):
    """A segmentation mask on an image: a bounding box and a boolean mask of that box.

    Use :class:`RoiMask` or :class:`NeuropilMask` (or :func:`create_roi_mask` and
    :func:`create_neuropil_mask`); this base class only holds what they share.

    Parameters
    ----------
    image_w
        Width (columns) of the image the mask lives in.
    image_h
        Height (rows) of the image the mask lives in.
    label
        What identifies the mask (an ROI id, int or str); kept exactly as given.
    mask_group
        A number to put masks in categories; not interpreted.

    Attributes
    ----------
    x, y, width, height : int
        Bounding box in the image: columns ``x .. x + width - 1``, rows
        ``y .. y + height - 1``. All 0 until the mask is initialised, and for an
        empty mask.
    mask : numpy.ndarray of bool or None
        ``(height, width)`` membership of the box's pixels; None until initialised and
        for a mask without pixels (flag ``"zero_pixels"``), as in AllenSDK, so code that
        skips ``roi.mask is None`` skips the same masks here.
    flags : set of str
        ``"zero_pixels"`` and/or ``"overlaps_motion_border"``.
    img_rows, img_cols : int
        Image height and width.
    """

    def __init__(self, image_w: int, image_h: int, label: Hashable, mask_group: int) -> None:
        self.img_cols = _image_size(image_w, "image_w")
        self.img_rows = _image_size(image_h, "image_h")
        self.label = label
        self.mask_group = mask_group
        self.x = 0
        self.y = 0
        self.width = 0
        self.height = 0
        self.mask: np.ndarray | None = None
        self.flags: set[str] = set()
        # AllenSDK's None means both "not initialised" and "no pixels"; only the first is refused.
        self._initialised = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(label={self.label!r}, x={self.x}, y={self.y}, "
            f"width={self.width}, height={self.height}, pixels={self.pixel_count}, "
            f"flags={sorted(self.flags)})"
        )

    @property
    def overlaps_motion_border(self) -> bool:
        """Whether the mask reaches outside the usable area of the motion border."""
        return FLAG_OVERLAPS_MOTION_BORDER in self.flags

    @property
    def pixel_count(self) -> int:
        """Number of pixels in the mask (0 before initialisation)."""
        return 0 if self.mask is None else int(np.count_nonzero(self.mask))

    def _what(self) -> str:
        return f"{type(self).__name__} {_describe(self.label)}"

    def _box_mask(self) -> np.ndarray:
        """The box's membership as an array, ``(0, 0)`` for a mask without pixels (whose ``mask`` is None)."""
        return np.zeros((0, 0), dtype=bool) if self.mask is None else self.mask

    def get_mask_plane(self) -> np.ndarray:
        """Return the mask on the full image.

        Returns
        -------
        numpy.ndarray of bool
            ``(img_rows, img_cols)``. AllenSDK returns float64 of the same 0/1 values.
        """
        plane = np.zeros((self.img_rows, self.img_cols), dtype=bool)
        if self.mask is not None:
            plane[self.y : self.y + self.height, self.x : self.x + self.width] = self.mask
        return plane

    def init_by_pixels(self, border: Border, pix_list: Any) -> None:
        """Initialise the mask from a list of pixels.

        Parameters
        ----------
        border
            Motion border ``[right_shift, left_shift, down_shift, up_shift]``.
        pix_list
            ``(n, 2)`` integer pixel coordinates as ``(x, y)``, i.e. (column, row).
            Repeated pixels count once; an empty list gives an empty mask.
        """
        pixels = np.asarray(pix_list)
        if pixels.size == 0:
            pixels = np.zeros((0, 2), dtype=np.intp)
        if pixels.ndim != 2 or pixels.shape[1] != 2 or pixels.dtype.kind not in "iuf":
            raise InvalidInputError(
                f"pix_list of {self._what()} has shape {pixels.shape} and dtype {pixels.dtype}; "
                "pass an (n, 2) integer array of (x, y) = (column, row) pixel coordinates."
            )
        if pixels.dtype.kind == "f" and not (
            np.isfinite(pixels).all() and (pixels == np.round(pixels)).all()
        ):
            raise InvalidInputError(
                f"pix_list of {self._what()} holds non-integer coordinates; pass whole "
                "pixel indices (x, y) = (column, row)."
            )
        pixels = pixels.astype(np.int64)
        xs, ys = pixels[:, 0], pixels[:, 1]
        outside = (xs < 0) | (xs >= self.img_cols) | (ys < 0) | (ys >= self.img_rows)
        if outside.any():
            first = int(np.flatnonzero(outside)[0])
            raise InvalidInputError(
                f"pix_list of {self._what()} has {int(outside.sum())} pixel(s) outside the "
                f"{self.img_cols} x {self.img_rows} (width x height) image, first (x, y) = "
                f"({int(xs[first])}, {int(ys[first])}); coordinates are (column, row) with "
                f"0 <= x < {self.img_cols} and 0 <= y < {self.img_rows}."
            )
        array = np.zeros((self.img_rows, self.img_cols), dtype=bool)
        array[ys, xs] = True
        self.init_by_mask(border, array)

    def init_by_mask(self, border: Border, array: Any) -> None:
        """Initialise the mask from an image-sized array (pixels above zero belong)."""
        usable = usable_area(border, self.img_cols, self.img_rows)
        member = _membership(array, f"mask array of {self._what()}", self.img_rows, self.img_cols)
        self._set_from_window(usable, member, 0, 0)

    def _set_from_window(
        self, usable: tuple[int, int, int, int], window: np.ndarray, row0: int, col0: int
    ) -> None:
        """Set the mask from a boolean window at (row0, col0) holding all of its pixels."""
        self.flags.discard(FLAG_ZERO_PIXELS)
        self.flags.discard(FLAG_OVERLAPS_MOTION_BORDER)
        bounds = _bounds(window, row0, col0)
        if bounds is None:
            self._set_empty()
            return
        top, bottom, left, right = self._fit_box(usable, *bounds)
        self.x, self.y = left, top
        self.width, self.height = right - left + 1, bottom - top + 1
        self.mask = _box(window, row0, col0, top, bottom, left, right)
        self._initialised = True

    @abc.abstractmethod
    def _fit_box(
        self, usable: tuple[int, int, int, int], top: int, bottom: int, left: int, right: int
    ) -> tuple[int, int, int, int]:
        """The mask's box (top, bottom, left, right) given its pixels' bounds and the usable area.

        ROIs and neuropil differ only here: an ROI is flagged when it crosses the
        motion border, a neuropil mask is cropped to it.
        """

    def _set_empty(self) -> None:
        # AllenSDK leaves the box at 0 and mask at None, and its users test for that None;
        # inside segdb, _box_mask() gives the (0, 0) array that needs no special case.
        self.flags.add(FLAG_ZERO_PIXELS)
        self.x = self.y = self.width = self.height = 0
        self.mask = None
        self._initialised = True


def _bounds(window: np.ndarray, row0: int, col0: int) -> tuple[int, int, int, int] | None:
    """Inclusive (top, bottom, left, right) image bounds of a window's pixels, or None."""
    rows = np.flatnonzero(window.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(window.any(axis=0))
    return row0 + int(rows[0]), row0 + int(rows[-1]), col0 + int(cols[0]), col0 + int(cols[-1])


def _box(
    window: np.ndarray, row0: int, col0: int, top: int, bottom: int, left: int, right: int
) -> np.ndarray:
    """The window's content over an image box; parts of the box outside the window are empty."""
    out = np.zeros((bottom - top + 1, right - left + 1), dtype=bool)
    r_lo, r_hi = max(top, row0), min(bottom + 1, row0 + window.shape[0])
    c_lo, c_hi = max(left, col0), min(right + 1, col0 + window.shape[1])
    if r_lo < r_hi and c_lo < c_hi:
        out[r_lo - top : r_hi - top, c_lo - left : c_hi - left] = window[
            r_lo - row0 : r_hi - row0, c_lo - col0 : c_hi - col0
        ]
    return out


class RoiMask(Mask):
    """The mask of a region of interest (a cell).

    An ROI that reaches outside the usable area of the motion border is flagged
    ``overlaps_motion_border`` and kept whole: its trace would mix in pixels that
    some frames do not cover, so :func:`calculate_traces` gives it NaN instead.
    """

    def _fit_box(
        self, usable: tuple[int, int, int, int], top: int, bottom: int, left: int, right: int
    ) -> tuple[int, int, int, int]:
        first_col, last_col, first_row, last_row = usable
        if left < first_col or right > last_col or top < first_row or bottom > last_row:
            self.flags.add(FLAG_OVERLAPS_MOTION_BORDER)
        return top, bottom, left, right


class NeuropilMask(Mask):
    """The neuropil around an ROI, cropped to the usable area of the motion border.

    Build it with :func:`create_neuropil_mask`.
    """

    def _fit_box(
        self, usable: tuple[int, int, int, int], top: int, bottom: int, left: int, right: int
    ) -> tuple[int, int, int, int]:
        first_col, last_col, first_row, last_row = usable
        # Clamp the box edge by edge as AllenSDK does, so that x, y, width and height
        # match it even when every pixel lies in the border (the box then keeps one
        # empty row or column at the edge of the usable area).
        left, right = _clamp_span(left, right, first_col, last_col)
        top, bottom = _clamp_span(top, bottom, first_row, last_row)
        return top, bottom, left, right


def _clamp_span(low: int, high: int, first: int, last: int) -> tuple[int, int]:
    if low < first:
        low = first
        high = max(high, first)
    if high > last:
        high = last
        low = min(low, last)
    return low, high


def create_roi_mask(
    image_w: int,
    image_h: int,
    border: Border,
    pix_list: Any = None,
    roi_mask: Any = None,
    label: Hashable = None,
    mask_group: int = -1,
) -> RoiMask:
    """Create an ROI mask from a pixel list or an image-sized array.

    Parameters
    ----------
    image_w, image_h
        Image width (columns) and height (rows).
    border
        Motion border ``[right_shift, left_shift, down_shift, up_shift]``; ``[0, 0, 0, 0]``
        when the whole image is usable.
    pix_list
        ``(n, 2)`` pixel coordinates as ``(x, y)`` = (column, row).
    roi_mask
        ``(image_h, image_w)`` array of any real dtype; pixels above zero belong.
    label
        The ROI's id (int or str), kept as given.
    mask_group
        A number to put masks in categories.

    Returns
    -------
    RoiMask

    Raises
    ------
    InvalidInputError
        If neither or both of ``pix_list`` and ``roi_mask`` are given, or either is malformed.
    """
    if (pix_list is None) == (roi_mask is None):
        given = "both" if pix_list is not None else "neither"
        raise InvalidInputError(
            f"create_roi_mask for ROI {_describe(label)} got {given} of pix_list and roi_mask; "
            "pass exactly one: pix_list=(n, 2) (x, y) pixels or roi_mask=(image_h, image_w) array."
        )
    mask = RoiMask(image_w, image_h, label, mask_group)
    if pix_list is not None:
        mask.init_by_pixels(border, pix_list)
    else:
        mask.init_by_mask(border, roi_mask)
    return mask


def _require_initialised(mask: Any, what: str) -> Mask:
    if not isinstance(mask, Mask):
        raise InvalidInputError(
            f"{what} is a {type(mask).__name__}, not a segdb.masks mask; build masks with "
            "create_roi_mask or create_neuropil_mask."
        )
    if not mask._initialised:
        raise InvalidInputError(
            f"{what} ({mask._what()}) was never initialised; call init_by_mask or "
            "init_by_pixels first, or build it with create_roi_mask."
        )
    return mask


def create_neuropil_mask(
    roi: RoiMask, border: Border, combined_binary_mask: Any, label: Hashable = None
) -> NeuropilMask:
    """Create the neuropil mask of an ROI.

    The neuropil is the ROI dilated 13 times by a 3x3 square (every pixel within 13
    pixels, diagonals included), minus every pixel of every ROI, cropped to the usable
    area of the motion border.

    Parameters
    ----------
    roi
        The ROI the neuropil surrounds.
    border
        Motion border ``[right_shift, left_shift, down_shift, up_shift]``.
    combined_binary_mask
        ``(image_h, image_w)`` union of all ROI masks (any real dtype; above zero means
        "in some ROI"), e.g. ``create_roi_mask_array(rois).any(axis=0)``.
    label
        The neuropil's label, kept as given.

    Returns
    -------
    NeuropilMask
        With ``mask_group`` copied from the ROI; empty (flag ``zero_pixels``) when
        nothing is left.
    """
    roi = _require_initialised(roi, "roi")
    rows, cols = roi.img_rows, roi.img_cols
    usable = usable_area(border, cols, rows)
    union = _membership(combined_binary_mask, "combined_binary_mask", rows, cols)
    neuropil = NeuropilMask(cols, rows, label, roi.mask_group)
    if roi.width == 0 or not roi._box_mask().any():
        neuropil._set_empty()
        return neuropil
    # Dilation only reaches NEUROPIL_DILATION_ITERATIONS pixels, so a window that wide
    # around the ROI gives the same result as the whole image at a fraction of the cost;
    # where the window meets the image edge, both treat outside pixels as background.
    reach = NEUROPIL_DILATION_ITERATIONS
    row0, col0 = max(roi.y - reach, 0), max(roi.x - reach, 0)
    row1 = min(roi.y + roi.height + reach, rows)
    col1 = min(roi.x + roi.width + reach, cols)
    seed = np.zeros((row1 - row0, col1 - col0), dtype=bool)
    seed[roi.y - row0 : roi.y - row0 + roi.height, roi.x - col0 : roi.x - col0 + roi.width] = (
        roi._box_mask()
    )
    dilated = scipy.ndimage.binary_dilation(
        seed, structure=np.ones((3, 3), dtype=bool), iterations=reach
    )
    dilated &= ~union[row0:row1, col0:col1]
    neuropil._set_from_window(usable, dilated, row0, col0)
    return neuropil


def create_roi_mask_array(rois: Sequence[Mask]) -> np.ndarray:
    """Stack masks into one boolean array, in the order given.

    Parameters
    ----------
    rois
        Initialised masks, all on images of the same size.

    Returns
    -------
    numpy.ndarray of bool
        ``(len(rois), image_h, image_w)``. AllenSDK returns uint8 and truncates
        fractional weights to 0; here every pixel above zero is True.

    Raises
    ------
    InvalidInputError
        If the list is empty (there is no image size to use) or the images differ in size.
    """
    rois = list(rois)
    if not rois:
        raise InvalidInputError(
            "create_roi_mask_array got no masks, so there is no image size to use; pass at "
            "least one mask (or build np.zeros((0, image_h, image_w), bool) yourself)."
        )
    first = _require_initialised(rois[0], "rois[0]")
    shape = (first.img_rows, first.img_cols)
    stack = np.zeros((len(rois), *shape), dtype=bool)
    for i, roi in enumerate(rois):
        roi = _require_initialised(roi, f"rois[{i}]")
        if (roi.img_rows, roi.img_cols) != shape:
            raise InvalidInputError(
                f"rois[{i}] ({roi._what()}) is on a {roi.img_rows} x {roi.img_cols} image but "
                f"rois[0] is on {shape[0]} x {shape[1]} (rows x columns); all masks must come "
                "from the same imaging plane."
            )
        stack[i, roi.y : roi.y + roi.height, roi.x : roi.x + roi.width] = roi._box_mask()
    return stack


def validate_mask(mask: Mask) -> list[Exclusion]:
    """List the reasons a mask cannot give a trace, as AllenSDK's exclusion records.

    Parameters
    ----------
    mask
        An initialised ROI or neuropil mask.

    Returns
    -------
    list of dict
        ``{"roi_id": mask.label, "exclusion_label_name": name}`` with name
        ``"empty_roi_mask"``, ``"empty_neuropil_mask"`` (or ``"zero_pixels"`` for
        other mask kinds) when the mask has no pixel, then ``"motion_border"`` when
        it overlaps the motion border. Empty when the mask is usable.
    """
    mask = _require_initialised(mask, "mask")
    exclusions: list[Exclusion] = []
    if FLAG_ZERO_PIXELS in mask.flags or not np.any(mask._box_mask()):
        if isinstance(mask, NeuropilMask):
            name = "empty_neuropil_mask"
        elif isinstance(mask, RoiMask):
            name = "empty_roi_mask"
        else:
            name = FLAG_ZERO_PIXELS
        exclusions.append({"roi_id": mask.label, "exclusion_label_name": name})
    if FLAG_OVERLAPS_MOTION_BORDER in mask.flags:
        exclusions.append({"roi_id": mask.label, "exclusion_label_name": "motion_border"})
    return exclusions
