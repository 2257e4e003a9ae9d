"""Where a plane's accept / reject decision comes from, for the multi-plane extractor's curation lists.

roiextractors 0.10 deprecates ``get_accepted_list`` / ``get_rejected_list`` and its
base class has neither; a plane that still has one answers with it, and one that
does not answers from the boolean property its format writes.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable

import numpy as np
from roiextractors import SegmentationExtractor

from segdb.conventions import ACCEPTANCE_PROPERTIES, REJECTION_PROPERTIES

# For accepted and for rejected: the plane's own list method, the properties that say
# the same, those that say the opposite, and the answer when a plane says nothing.
_SOURCES = {
    True: ("get_accepted_list", ACCEPTANCE_PROPERTIES, REJECTION_PROPERTIES, True),
    False: ("get_rejected_list", REJECTION_PROPERTIES, ACCEPTANCE_PROPERTIES, False),
}


def plane_flags(plane: SegmentationExtractor, plane_ids: list[Hashable], *, accepted: bool) -> np.ndarray:
    """Whether each of a plane's ROIs is accepted (or, with ``accepted=False``, rejected).

    The plane decides by its own list method if it has one; else by the first
    property of the same sense it has; else by the negation of the first of the
    opposite sense; else every ROI is accepted and none rejected.
    """
    list_method, same_keys, opposite_keys, default = _SOURCES[accepted]
    method = getattr(plane, list_method, None)
    if callable(method):
        # The caller already warned once for the whole extractor.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            listed = set(method())
        return np.array([plane_id in listed for plane_id in plane_ids], dtype=bool)
    keys = set(plane.get_property_keys())
    for flag_keys, invert in ((same_keys, False), (opposite_keys, True)):
        for key in flag_keys:
            if key in keys:
                values = np.asarray(plane.get_property(key, plane_ids))
                # Suite2p's iscell.npy is (n, 2): the decision, then the classifier probability.
                flags = (values if values.ndim == 1 else values[:, 0]).astype(bool)
                return ~flags if invert else flags
    return np.full(len(plane_ids), default, dtype=bool)


def warn_curation_list_deprecated(method: str) -> None:
    """roiextractors' deprecation of the curation lists, pointing at the caller of ``method``."""
    warnings.warn(
        f"{method} is deprecated and will be removed in May 2026; "
        "use get_property() with the planes' acceptance property (e.g. 'is_accepted', 'iscell').",
        DeprecationWarning,
        stacklevel=3,
    )
