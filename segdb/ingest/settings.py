"""A pipeline's settings as JSON provenance: scalars and short lists, never its arrays.

suite2p keeps its settings in ``ops.npy`` next to images and per-frame arrays; CaImAn
keeps them in the ``params`` group of its results file. Ingest stores the settings in
the segmentation's ``parameters`` so that a later reader knows how the ROIs were found.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np

#: The most elements a list or array may have to be kept as a setting.
MAX_SETTING_ELEMENTS = 16

#: The longest text kept as a setting.
MAX_SETTING_CHARACTERS = 500


class _Skipped:
    """Marks a value that is not kept (an image, a long array, an object)."""


SKIPPED = _Skipped()


def setting_value(value: Any) -> Any:
    """``value`` as a JSON scalar or short list, or :data:`SKIPPED`.

    Non-finite numbers become None (JSON has no NaN); bytes are decoded as UTF-8; arrays
    and lists of more than :data:`MAX_SETTING_ELEMENTS` elements, nested arrays and other
    objects are skipped.
    """
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return SKIPPED
    if isinstance(value, str):
        return value if len(value) <= MAX_SETTING_CHARACTERS else SKIPPED
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, np.ndarray) and value.ndim != 1:
        return SKIPPED
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) <= MAX_SETTING_ELEMENTS:
        # Only a flat list of scalars is a setting; nested or ragged ones are data.
        if any(isinstance(item, (list, tuple, dict, np.ndarray)) and np.ndim(item) != 0 for item in value):
            return SKIPPED
        items = [setting_value(item) for item in value]
        return SKIPPED if any(item is SKIPPED for item in items) else items
    return SKIPPED


def kept_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``settings`` :func:`setting_value` keeps, converted, keys sorted."""
    kept = {str(key): setting_value(value) for key, value in settings.items()}
    return {key: kept[key] for key in sorted(kept) if kept[key] is not SKIPPED}


__all__ = ["MAX_SETTING_CHARACTERS", "MAX_SETTING_ELEMENTS", "SKIPPED", "kept_settings", "setting_value"]
