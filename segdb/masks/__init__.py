"""AllenSDK-style ROI and neuropil masks and fast mean-trace extraction.

Pure numpy/scipy (h5py only to open a movie by path): nothing here touches the
catalog. The names and results follow ``allensdk.brain_observatory.roi_masks``;
see :mod:`segdb.masks.roi_masks` for where segdb deliberately differs.

May import: numpy, scipy, tqdm, h5py/tifffile (to open a movie), errors. Never SQL or
the archive (an import-linter contract holds it).
"""

from __future__ import annotations

from segdb.masks.roi_masks import (
    DOWN_SHIFT,
    LEFT_SHIFT,
    NEUROPIL_DILATION_ITERATIONS,
    RIGHT_SHIFT,
    UP_SHIFT,
    Exclusion,
    Mask,
    NeuropilMask,
    RoiMask,
    create_neuropil_mask,
    create_roi_mask,
    create_roi_mask_array,
    usable_area,
    validate_mask,
)
from segdb.masks.traces import calculate_roi_and_neuropil_traces, calculate_traces

__all__ = [
    "DOWN_SHIFT",
    "LEFT_SHIFT",
    "NEUROPIL_DILATION_ITERATIONS",
    "RIGHT_SHIFT",
    "UP_SHIFT",
    "Exclusion",
    "Mask",
    "NeuropilMask",
    "RoiMask",
    "calculate_roi_and_neuropil_traces",
    "calculate_traces",
    "create_neuropil_mask",
    "create_roi_mask",
    "create_roi_mask_array",
    "usable_area",
    "validate_mask",
]
