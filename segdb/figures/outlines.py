"""ROI outlines and the colours they are drawn in: plain numpy, for PNGs and for web pages alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segdb.errors import InvalidInputError

#: How a ROI's curation state is drawn (RGB, 0-1); ROIs nobody has labelled are drawn in UNLABELLED.
LABEL_COLOURS: dict[str, tuple[float, float, float]] = {
    "accepted": (0.20, 0.85, 0.35),
    "rejected": (0.95, 0.25, 0.25),
    "unsure": (1.00, 0.70, 0.10),
}
UNLABELLED = (0.75, 0.75, 0.80)
# Distinct colours for tracks (matplotlib's tab10 without its grey).
TRACK_COLOURS = (
    (0.12, 0.47, 0.71), (1.00, 0.50, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16), (0.58, 0.40, 0.74),
    (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.74, 0.74, 0.13), (0.09, 0.75, 0.81),
)


@dataclass(frozen=True)
class Outline:
    """The pixels (row, col) on the edge of one ROI's mask."""

    rows: np.ndarray
    cols: np.ndarray


def outlines(pixel_masks: Sequence[np.ndarray], frame_shape: tuple[int, int]) -> list[Outline]:
    """Each ROI's edge pixels, from roiextractors' pixel masks (rows of row, col, weight).

    A pixel is on the edge when it belongs to the mask and one of its four neighbours does not;
    overlapping ROIs keep their whole outlines.
    """
    height, width = frame_shape
    out = []
    for mask in pixel_masks:
        mask = np.asarray(mask)
        if mask.size == 0:
            out.append(Outline(np.empty(0, int), np.empty(0, int)))
            continue
        rows = mask[:, 0].astype(int)
        cols = mask[:, 1].astype(int)
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        rows, cols = rows[inside], cols[inside]
        if rows.size == 0:
            out.append(Outline(rows, cols))
            continue
        top, left = rows.min(), cols.min()
        box = np.zeros((rows.max() - top + 3, cols.max() - left + 3), bool)
        box[rows - top + 1, cols - left + 1] = True
        # Holes (pixels of weight 0 inside a cell) would draw as outlines of their own.
        box = ndimage.binary_fill_holes(box)
        edge = box & ~ndimage.binary_erosion(box)
        edge_rows, edge_cols = np.nonzero(edge)
        out.append(Outline(edge_rows + top - 1, edge_cols + left - 1))
    return out


def overlay(edges: Sequence[Outline], colours: Sequence[tuple[float, float, float]],
            frame_shape: tuple[int, int], *, highlight: int | None = None) -> np.ndarray:
    """An RGBA image (height, width, 4) holding each outline in its colour, transparent elsewhere."""
    image = np.zeros((*frame_shape, 4))
    for edge, colour in zip(edges, colours):
        image[edge.rows, edge.cols, :3] = colour
        image[edge.rows, edge.cols, 3] = 1.0
    if highlight is not None:
        edge = edges[highlight]
        image[edge.rows, edge.cols] = (1.0, 1.0, 1.0, 1.0)
    return image


def label_colours(labels: Sequence[str | None]) -> list[tuple[float, float, float]]:
    """The colour of each ROI's label (accepted, rejected, unsure, or none)."""
    return [LABEL_COLOURS.get(label, UNLABELLED) if label else UNLABELLED for label in labels]


def value_colormap():
    """The colormap of numeric values: turbo without its darkest ends, so that every outline
    stands out on a grey image."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    return ListedColormap(colormaps["turbo"](np.linspace(0.12, 0.92, 256)), name="segdb-values")


def value_colours(values: Sequence[float]) -> tuple[list[tuple[float, float, float]], tuple[float, float]]:
    """The colour of each ROI's numeric value on :func:`value_colormap`, and the (low, high) range it spans.

    The range is the 2nd to 98th percentile, so that one outlier does not wash out the rest;
    ROIs without a value (NaN) are drawn in UNLABELLED.
    """
    numbers = np.asarray(values, dtype=float)
    finite = numbers[np.isfinite(numbers)]
    if finite.size == 0:
        return [UNLABELLED] * len(numbers), (0.0, 1.0)
    low, high = (float(v) for v in np.percentile(finite, [2, 98]))
    if high <= low:
        high = low + 1.0
    mapped = value_colormap()(np.clip((numbers - low) / (high - low), 0, 1))[:, :3]
    return [tuple(c) if np.isfinite(v) else UNLABELLED for c, v in zip(mapped, numbers)], (low, high)


def group_colours(groups: Sequence[int | None]) -> list[tuple[float, float, float]]:
    """A distinct colour per group (e.g. a track), cycling; ROIs in no group are UNLABELLED."""
    return [UNLABELLED if group is None else TRACK_COLOURS[int(group) % len(TRACK_COLOURS)] for group in groups]


def contrast(image: np.ndarray, low_percentile: float = 1.0, high_percentile: float = 99.5) -> np.ndarray:
    """``image`` scaled to 0-1 between two percentiles of its finite values."""
    if not 0 <= low_percentile < high_percentile <= 100:
        raise InvalidInputError(
            f"contrast percentiles {low_percentile}, {high_percentile} must rise within 0-100, e.g. 1 and 99.5"
        )
    data = np.asarray(image, dtype=float)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros_like(data)
    low, high = np.percentile(finite, [low_percentile, high_percentile])
    if high <= low:
        return np.zeros_like(data)
    return np.clip((np.nan_to_num(data, nan=low) - low) / (high - low), 0, 1)


def crop_box(edge: Outline, frame_shape: tuple[int, int], radius: int) -> tuple[slice, slice]:
    """A square of 2 * ``radius`` pixels around an outline's centre, kept inside the frame."""
    height, width = frame_shape
    if edge.rows.size == 0:
        centre_row, centre_col = height // 2, width // 2
    else:
        centre_row, centre_col = int(edge.rows.mean()), int(edge.cols.mean())
    side = min(2 * radius, height, width)
    top = int(np.clip(centre_row - side // 2, 0, height - side))
    left = int(np.clip(centre_col - side // 2, 0, width - side))
    return slice(top, top + side), slice(left, left + side)
