"""MATLAB v7.3 ``.mat`` files as h5py sees them, for the CNMF-E and EXTRACT front ends.

A v7.3 file is HDF5; a struct is a group and a MATLAB array of shape ``(d1, d2, …)``
is a dataset of shape ``(…, d2, d1)``, because MATLAB stores arrays column-major. A
MATLAB image ``(height, width)`` therefore reads as ``(width, height)`` and a stack of
masks ``(height, width, n)`` as ``(n, width, height)``; character arrays are uint16
code points. Older ``.mat`` files (v5, v7) are not HDF5 and roiextractors cannot read them.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from segdb.errors import InvalidInputError, NotFoundError


def mat_file_path(path: str | Path, noun: str, hint: str) -> Path:
    """``path`` if it names an existing MATLAB v7.3 file; else a segdb error naming it.

    Parameters
    ----------
    path : str or Path
        The file given.
    noun : str
        What the file should be, for the message ("CNMF-E results file").
    hint : str
        What to pass instead, for the message.
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"'{path}' is a folder, not a {noun}; {hint}")
    if not path.is_file():
        raise NotFoundError(f"{noun} '{path}' does not exist; {hint}")
    if not h5py.is_hdf5(path):
        raise InvalidInputError(
            f"'{path}' is not a MATLAB v7.3 file (HDF5): roiextractors reads only v7.3 .mat files; "
            f"re-save it in MATLAB with save(..., '-v7.3') ({hint})"
        )
    return path


def mat_variables(path: Path) -> list[str]:
    """The top-level variables of a v7.3 file (MATLAB's own ``#refs#``/``#subsystem#`` left out)."""
    with h5py.File(path, "r") as file:
        return [name for name in file if "#" not in name]


def missing_fields(path: Path, struct: str, fields: tuple[str, ...]) -> list[str]:
    """Which of ``fields`` (paths inside the struct, e.g. ``time/totalTime``) the struct lacks."""
    with h5py.File(path, "r") as file:
        group = file[struct]
        return [name for name in fields if name not in group]


def mat_string(dataset: h5py.Dataset) -> str:
    """A MATLAB character array (uint16 code points) as a str."""
    return "".join(chr(int(code)) for code in np.ravel(dataset[()]))


__all__ = ["mat_file_path", "mat_string", "mat_variables", "missing_fields"]
