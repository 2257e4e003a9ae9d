"""Random ROI layouts shared by the mask tests: blobs, scattered pixels, edges, overlaps."""

from __future__ import annotations

import allensdk_reference as ref
import numpy as np

from segdb.masks import create_roi_mask


def random_roi_arrays(
    rng: np.random.Generator, height: int, width: int, count: int
) -> list[np.ndarray]:
    """Boolean ROI planes: discs anywhere (some cross the image edge or each other),
    one scattered-pixel ROI and one empty ROI, so every AllenSDK branch is exercised."""
    yy, xx = np.mgrid[:height, :width]
    arrays = []
    for k in range(count):
        if k == 1:
            plane = rng.random((height, width)) < 0.01
        elif k == 2:
            plane = np.zeros((height, width), dtype=bool)
        else:
            cy, cx = rng.integers(0, height), rng.integers(0, width)
            radius = rng.uniform(0.5, 5.0)
            plane = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius * radius
        arrays.append(plane)
    return arrays


def random_border(rng: np.random.Generator) -> list[float]:
    return [float(v) for v in rng.uniform(0.0, 6.0, 4)]


def segdb_and_reference_rois(arrays, width, height, border, labels=None):
    """The same ROIs built by segdb and by the literal AllenSDK re-statement."""
    labels = labels or [f"roi_{k}" for k in range(len(arrays))]
    ours = [
        create_roi_mask(width, height, border, roi_mask=a, label=l) for a, l in zip(arrays, labels)
    ]
    theirs = [ref.roi_from_array(width, height, border, a, l) for a, l in zip(arrays, labels)]
    return ours, theirs
