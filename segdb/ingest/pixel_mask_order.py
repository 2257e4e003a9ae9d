"""Which way round an NWB file's pixel masks were written, decided from the file's own evidence.

NWB's ``pixel_mask`` rows are ``(x, y, weight)`` with x the column. Not every writer
follows it: NeuroConv (every release up to 0.10.2) copies roiextractors'
``[row, col, weight]`` straight into ``(x, y, weight)``, and so does suite2p's own NWB
export. Neither nwbinspector nor ``dandi validate`` notices. Read as the spec says, such
masks are transposed: off the frame when it is not square, silently wrong when it is.

The two readings are called ``"xy"`` (the spec: row = y, column = x) and ``"rowcol"``
(row = x, column = y). :func:`decide_pixel_mask_order` weighs the evidence below; each
item either votes for one reading, with a sentence saying why, or stays silent.

1. **The frame.** A reading whose pixels leave the frame is impossible. When neither
   reading fits, the frame shape is wrong and nothing is guessed. When only ``rowcol``
   fits a frame the *caller* gave, that alone does not decide: a (height, width) given
   the wrong way round explains it as well as transposed masks do, so another item
   must agree (only ``xy`` fitting the caller's frame does decide: explaining it
   otherwise takes both mistakes at once).
2. **Image masks** in the same table: the pixel masks must land where the image masks
   are non-zero (at least 90 % of their pixels in one reading, at most half in the other).
3. **Summary images.** Cells are brighter than their surroundings in mean, maximum and
   correlation images. Each image is high-passed (a Gaussian of twice the typical ROI
   radius removes vignetting and gradients) and scaled by its median absolute deviation;
   every ROI that fits the frame in both readings compares its weighted mean brightness
   under the two, and votes when they differ by more than half a deviation. An image
   decides when at least 10 ROIs vote and a one-sided sign test gives p <= 0.001, so an
   image unrelated to the ROIs decides about once in 500 files at most (images of other
   synthetic cells decided 0 times in 300; both images of the real 23-ROI suite2p example
   in shared/data decide, written by NeuroConv, with p < 0.001).
4. **The writer** (found by the caller, see :mod:`segdb.ingest.nwb`): a table written by
   NeuroConv's segmentation writer up to 0.10.2, or by suite2p's export, votes ``rowcol``.

Any two votes that disagree refuse the file, naming each reason; no vote at all (a square
frame and nothing else to go on) refuses it too. A ``rowcol`` decision is taken with a
warning that names its reasons. Whoever knows better states the
order (``pixel_mask_order=`` / ``--pixel-mask-order xy|rowcol``) and it is used as given,
checked only against the frame.

False positives and what guards against them:

- Items 1 and 3 compare the masks with the frame and images *as the file stores them*,
  read per the spec ``(x, y)``. A file whose images (or image masks) are stored
  (height, width) against the spec while its pixel masks follow it looks exactly like a
  NeuroConv file, and its masks would be transposed to match the images; the warning
  says so and how to read the file as stored instead (``--pixel-mask-order xy`` with
  ``--frame-shape``: images the other way round from a frame given are then read as stored).
  Writers known to store images (height, width) are named as such by the caller
  (suite2p's export), so their images are read as stored and the comparison is right.
- A summary image that is not cell-bright (inverted contrast, another plane's image)
  either decides nothing or disagrees with the other evidence, which refuses the file.
- A writer named from the table's fingerprints can be wrong (someone re-using NeuroConv's
  column descriptions, a NeuroConv release that fixes its writer); its vote counts only
  as one vote, so any data that disagree refuse the file rather than transpose it.
- ROIs symmetric about the diagonal, and frames where every ROI fits both readings, give
  no vote; then only the writer or the caller can decide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from segdb.errors import InvalidInputError

PIXEL_MASK_ORDERS = ("xy", "rowcol")
_SPEC = "NWB's (x, y, weight)"
_FLAG = "pass pixel_mask_order='xy' or 'rowcol' (CLI: --pixel-mask-order xy|rowcol)"

# Summary-image test: a ROI votes when its two readings differ by more than this many
# deviations of the high-passed image; an image decides with this many votes at least and a
# one-sided sign-test p-value at most this.
_VOTE_MARGIN = 0.5
_MIN_VOTES = 10
_MAX_P_VALUE = 1e-3
# Image-mask test: the share of pixel-mask pixels on the image mask that agrees, and the
# most the other reading may reach; at most this many ROIs are compared.
_IMAGE_MASK_AGREE = 0.9
_IMAGE_MASK_OTHER = 0.5
_IMAGE_MASK_ROIS = 100


@dataclass(frozen=True)
class FrameShape:
    """A frame (height, width) and where it came from, for messages."""

    shape: tuple[int, int]
    source: str
    given_by_caller: bool = False


@dataclass(frozen=True)
class OrderVote:
    """One piece of evidence for one reading of the pixel masks."""

    order: str
    reason: str


def validate_pixel_mask_order(order: str | None) -> str | None:
    """``order`` if it is None, ``"xy"`` or ``"rowcol"``; else a clear error."""
    if order is not None and order not in PIXEL_MASK_ORDERS:
        raise InvalidInputError(
            f"pixel_mask_order must be 'xy' (NWB's (x, y, weight), x the column) or 'rowcol' "
            f"((row, col, weight)), got {order!r}."
        )
    return order


def as_rows_cols(stored: Sequence[np.ndarray], order: str) -> list[np.ndarray]:
    """Masks stored as (first, second, weight) rows, as [row, col, weight] for ``order``."""
    columns = (1, 0, 2) if order == "xy" else (0, 1, 2)
    return [mask[:, columns] for mask in stored]


def _extent(stored: Sequence[np.ndarray]) -> tuple[int, int, float]:
    """The largest first and second coordinates of every mask, and the smallest of either."""
    non_empty = [mask for mask in stored if mask.size]
    if not non_empty:
        return -1, -1, 0.0
    pixels = np.concatenate(non_empty)
    return int(pixels[:, 0].max()), int(pixels[:, 1].max()), float(pixels[:, :2].min())


def _fits(stored: Sequence[np.ndarray], frame: tuple[int, int], order: str) -> bool:
    first, second, smallest = _extent(stored)
    height, width = frame
    if smallest < 0:
        return False
    if order == "xy":
        return second < height and first < width
    return first < height and second < width


def check_fits(stored: Sequence[np.ndarray], frame: FrameShape, order: str, where: str) -> None:
    """Refuse masks that leave ``frame`` read in ``order``."""
    if _fits(stored, frame.shape, order):
        return
    first, second, smallest = _extent(stored)
    reading = "as NWB's (x, y)" if order == "xy" else "as (row, col)"
    rows, cols = (second, first) if order == "xy" else (first, second)
    raise InvalidInputError(
        f"The pixel masks of {where} read {reading} reach row {rows} and column {cols}"
        + (f" (and a negative coordinate {smallest:g})" if smallest < 0 else "")
        + f", outside the frame {frame.shape} ({frame.source}); check the frame shape "
        "(frame_shape=(H, W), CLI --frame-shape H W) and the pixel mask order."
    )


def _frame_vote(stored: Sequence[np.ndarray], frame: FrameShape, where: str) -> tuple[OrderVote | None, str | None]:
    """The frame's vote; and, for a ``rowcol`` fit to a caller's frame (which needs support), why."""
    fits_xy = _fits(stored, frame.shape, "xy")
    fits_rowcol = _fits(stored, frame.shape, "rowcol")
    if fits_xy and fits_rowcol:
        return None, None
    first, second, smallest = _extent(stored)
    height, width = frame.shape
    if not fits_xy and not fits_rowcol:
        raise InvalidInputError(
            f"The pixel masks of {where} fit the frame {frame.shape} ({frame.source}) in neither order: their "
            f"x reaches {first} and y {second}"
            + (f", and a coordinate is negative ({smallest:g})" if smallest < 0 else "")
            + "; pass the imaged field's frame_shape=(H, W) (CLI: --frame-shape H W)."
        )
    if fits_xy:
        return OrderVote("xy", f"read as (row, col) they would leave the frame {frame.shape} ({frame.source})"), None
    if first >= width:
        why = f"x reaches {first}, beyond the frame's width {width}"
    else:
        why = f"y reaches {second}, beyond the frame's height {height}"
    vote = OrderVote("rowcol", f"read as {_SPEC} they leave the frame {frame.shape} ({frame.source}): {why}")
    return vote, (why if frame.given_by_caller else None)


def _image_mask_vote(
    stored: Sequence[np.ndarray], image_mask: Callable[[int], np.ndarray], frame: tuple[int, int]
) -> OrderVote | None:
    """Whether the pixel masks land on the table's own image masks, read one way or the other."""
    indices = [index for index, mask in enumerate(stored) if mask.size][:_IMAGE_MASK_ROIS]
    hits = {"xy": 0, "rowcol": 0}
    total = 0
    for index in indices:
        image = np.asarray(image_mask(index))
        mask = stored[index]
        first = mask[:, 0].astype(np.int64)
        second = mask[:, 1].astype(np.int64)
        total += first.size
        for order, (rows, cols) in (("xy", (second, first)), ("rowcol", (first, second))):
            inside = (rows >= 0) & (rows < frame[0]) & (cols >= 0) & (cols < frame[1])
            hits[order] += int(np.count_nonzero(image[rows[inside], cols[inside]]))
    if total == 0:
        return None
    share = {order: hits[order] / total for order in hits}
    for order, other in (("xy", "rowcol"), ("rowcol", "xy")):
        if share[order] >= _IMAGE_MASK_AGREE and share[other] <= _IMAGE_MASK_OTHER:
            return OrderVote(
                order,
                f"{share[order]:.0%} of their pixels fall on the table's image masks read "
                f"{'as ' + _SPEC if order == 'xy' else 'as (row, col)'}, {share[other]:.0%} read the other way",
            )
    return None


def _sign_test_p_value(wins: int, votes: int) -> float:
    from scipy.stats import binomtest

    return float(binomtest(wins, votes, 0.5, alternative="greater").pvalue)


def _summary_image_votes(
    stored: Sequence[np.ndarray], images: Mapping[str, np.ndarray], frame: tuple[int, int]
) -> list[OrderVote]:
    """One vote per summary image that clearly shows the cells under one reading of the masks."""
    from scipy.ndimage import gaussian_filter

    usable = [
        mask for mask in stored
        if mask.size and _fits([mask], frame, "xy") and _fits([mask], frame, "rowcol")
    ]
    images = {name: image for name, image in images.items() if tuple(image.shape) == frame}
    if len(usable) < _MIN_VOTES or not images:
        return []
    radius = float(np.sqrt(np.median([mask.shape[0] for mask in usable]) / np.pi))
    sigma = max(2.0, 2.0 * radius)
    lengths = np.array([mask.shape[0] for mask in usable])
    owner = np.repeat(np.arange(len(usable)), lengths)
    pixels = np.concatenate(usable)
    first = pixels[:, 0].astype(np.int64)
    second = pixels[:, 1].astype(np.int64)
    weights = np.abs(pixels[:, 2].astype(np.float64))
    if not weights.any():
        weights = np.ones_like(weights)
    totals = np.bincount(owner, weights=weights, minlength=len(usable))
    totals[totals == 0] = 1.0
    votes = []
    for name, image in sorted(images.items()):
        data = np.asarray(image, dtype=np.float64)
        if not np.isfinite(data).all():
            data = np.nan_to_num(data, nan=float(np.nanmedian(data)) if np.isfinite(data).any() else 0.0)
        local = data - gaussian_filter(data, sigma)
        centre = np.median(local)
        spread = 1.4826 * np.median(np.abs(local - centre))
        if spread == 0:
            continue
        scaled = (local - centre) / spread
        brightness_xy = np.bincount(owner, weights=weights * scaled[second, first], minlength=len(usable)) / totals
        brightness_rowcol = np.bincount(owner, weights=weights * scaled[first, second], minlength=len(usable)) / totals
        difference = brightness_xy - brightness_rowcol
        for_xy = int(np.count_nonzero(difference > _VOTE_MARGIN))
        for_rowcol = int(np.count_nonzero(difference < -_VOTE_MARGIN))
        cast = for_xy + for_rowcol
        if cast < _MIN_VOTES:
            continue
        winner, wins = ("xy", for_xy) if for_xy > for_rowcol else ("rowcol", for_rowcol)
        p_value = _sign_test_p_value(wins, cast)
        if p_value <= _MAX_P_VALUE:
            reading = "as " + _SPEC if winner == "xy" else "as (row, col)"
            votes.append(
                OrderVote(
                    winner,
                    f"summary image '{name}' is brighter under {wins} of {cast} ROIs read {reading} "
                    f"(sign test p = {p_value:.1g})",
                )
            )
    return votes


def decide_pixel_mask_order(
    stored: Sequence[np.ndarray],
    frame: FrameShape,
    *,
    where: str,
    stated: str | None = None,
    image_mask: Callable[[int], np.ndarray] | None = None,
    images: Mapping[str, np.ndarray] | None = None,
    writer: OrderVote | None = None,
) -> tuple[str, list[OrderVote]]:
    """Which reading of ``stored`` (rows of (first, second, weight)) is right.

    Parameters
    ----------
    stored : sequence of ndarray
        Each ROI's pixel mask as the file stores it, (n_pixels, 3).
    frame : FrameShape
        The frame (height, width) and its source.
    where : str
        The table and file, for messages.
    stated : {"xy", "rowcol"}, optional
        The caller's order; used as given (checked against the frame only).
    image_mask : callable, optional
        ``image_mask(i)`` is ROI i's image mask (height, width), from the same table.
    images : mapping, optional
        Summary images (height, width) by name.
    writer : OrderVote, optional
        The vote of the file's known writer.

    Returns
    -------
    tuple[str, list[OrderVote]]
        The order, and the votes for it (empty when the caller stated it).

    Raises
    ------
    InvalidInputError
        When the masks fit the frame in neither order, when the evidence disagrees, or when
        nothing decides.
    """
    if stated is not None:
        check_fits(stored, frame, validate_pixel_mask_order(stated), where)
        return stated, []
    frame_vote, unsupported = _frame_vote(stored, frame, where)
    votes = [vote for vote in (frame_vote,) if vote is not None]
    if image_mask is not None:
        votes.extend(vote for vote in (_image_mask_vote(stored, image_mask, frame.shape),) if vote is not None)
    votes.extend(_summary_image_votes(stored, images or {}, frame.shape))
    if writer is not None:
        votes.append(writer)
    orders = {vote.order for vote in votes}
    if len(orders) > 1:
        listed = "; ".join(f"{vote.order}: {vote.reason}" for vote in votes)
        raise InvalidInputError(
            f"The evidence on which way round the pixel masks of {where} are disagrees ({listed}); {_FLAG}."
        )
    if unsupported is not None and len(votes) == 1:
        raise InvalidInputError(
            f"The pixel masks of {where} fit the given frame {frame.shape} only read as (row, col): read as "
            f"{_SPEC}, {unsupported}. Either they are stored (row, col) or the frame was given as (width, height); "
            "pass pixel_mask_order='rowcol' (CLI: --pixel-mask-order rowcol) if they are, else give the frame as "
            "(height, width)."
        )
    if not votes:
        raise InvalidInputError(
            f"Cannot tell which way round the pixel masks of {where} are: they fit the frame {frame.shape} "
            f"({frame.source}) both as {_SPEC} and as (row, col), and nothing else in the file decides (no image "
            f"masks that tell, no summary image that shows the cells, no known writer); {_FLAG}."
        )
    return votes[0].order, votes


__all__ = [
    "PIXEL_MASK_ORDERS",
    "FrameShape",
    "OrderVote",
    "as_rows_cols",
    "check_fits",
    "decide_pixel_mask_order",
    "validate_pixel_mask_order",
]
