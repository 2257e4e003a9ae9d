"""A query's columns (one numpy array each) as the tables scientists hand on: pandas and Arrow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from segdb.errors import InvalidInputError


def pandas_frame(arrays: Mapping[str, np.ndarray]):
    """A pandas DataFrame of query columns; session_start as a UTC datetime column."""
    try:
        import pandas as pd
    except ModuleNotFoundError as exc:
        raise InvalidInputError("to_pandas needs pandas: pip install pandas") from exc
    return pd.DataFrame({
        name: pd.Series(array).dt.tz_localize("UTC") if name == "session_start" else array
        for name, array in arrays.items()
    })


def arrow_module(what: str) -> Any:
    """pyarrow, or a one-line error naming ``what`` needs it and how to install it."""
    try:
        import pyarrow
    except ModuleNotFoundError as exc:
        raise InvalidInputError(f"{what} needs pyarrow: pip install 'segdb[arrow]' (or pip install pyarrow)") from exc
    return pyarrow


def arrow_table(arrays: Mapping[str, np.ndarray], what: str = "to_arrow") -> Any:
    """A pyarrow Table of query columns: missing values (NaN, NaT, None) as nulls, session_start as a
    UTC timestamp; keys that are ints in some sessions and text in others as text (an Arrow column
    holds one type)."""
    pa = arrow_module(what)
    fields = {}
    for name, array in arrays.items():
        if name == "session_start":
            fields[name] = pa.array(array, type=pa.timestamp("us", tz="UTC"), from_pandas=True)
        elif array.dtype == object:
            fields[name] = pa.array(_one_type(array.tolist()))
        else:
            fields[name] = pa.array(array, from_pandas=array.dtype.kind == "f")
    return pa.table(fields)


def _one_type(values: list) -> list:
    """Values of an object column, as text if text sits beside other types."""
    types = {type(v) for v in values if v is not None}
    if str in types and len(types) > 1:
        return [None if v is None else str(v) for v in values]
    return values
