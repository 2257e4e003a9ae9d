"""How typed ROI property values are stored in the catalog and read back."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def encode_property_value(value_type: str, value: Any) -> tuple[float | None, str | None]:
    """How one property value is stored: numbers in value_num (NaN as NULL), the rest as text."""
    if value_type == "json":
        return None, json.dumps(np.asarray(value).tolist())
    if value_type == "str":
        return None, value.decode() if isinstance(value, bytes) else str(value)
    number = float(value)
    return (None if math.isnan(number) else number), None


def decode_property_values(value_type: str, dtype: str, shape: Sequence[int], nums: Sequence, texts: Sequence) -> np.ndarray:
    """The inverse of :func:`encode_property_value` for a column of values."""
    if value_type == "json":
        return np.array([json.loads(t) for t in texts], dtype=None if dtype == "object" else np.dtype(dtype)).reshape(
            (len(texts), *shape)
        )
    if value_type == "str":
        return np.array(list(texts), dtype=None if dtype == "object" else np.dtype(dtype))
    values = np.array([np.nan if n is None else n for n in nums], dtype=np.float64)
    return values.astype(np.dtype(dtype))
