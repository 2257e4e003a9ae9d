"""CaImAn results (``CNMF.save(...)`` HDF5 files) as roiextractors segmentation extractors.

CaImAn saves its ``CNMF`` object by turning it into a dict and writing that recursively
to HDF5: ``estimates/`` holds the results (``A`` as a sparse CSC group, traces ``C``,
``S``, ``YrA``, ``F_dff``, background ``b``/``f``, quality fields, ``idx_components``),
``params/`` the settings (``params/data/fr`` the rate, ``params/data/dims`` the frame
shape). A field that was ``None`` is stored as the string ``"NoneType"``.

Spatial components are columns of ``A`` over pixels flattened in Fortran order, so pixel
``i`` is at row ``i % height`` and column ``i // height``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from roiextractors import CaimanSegmentationExtractor

from segdb.errors import InvalidInputError, NotFoundError


def _index_dataset(estimates: h5py.Group, name: str) -> np.ndarray | None:
    """An integer index list from ``estimates``, or None when CaImAn stored ``None``.

    An empty integer array is a real answer (no component in that list), unlike the
    scalar string CaImAn writes for ``None``.
    """
    if name not in estimates:
        return None
    dataset = estimates[name]
    if dataset.dtype.kind not in "iuf" or dataset.ndim != 1:
        return None
    return np.asarray(dataset[()], dtype=np.int64)


def _accepted_components(file_path: Path, num_rois: int) -> np.ndarray:
    """Which components CaImAn's evaluation kept, as a bool per component.

    ``idx_components`` lists the kept ones; when only ``idx_components_bad`` is there the
    rest are kept; when neither is (the evaluation was not run) CaImAn kept everything.
    """
    with h5py.File(file_path, "r") as file:
        estimates = file["estimates"]
        good = _index_dataset(estimates, "idx_components")
        bad = _index_dataset(estimates, "idx_components_bad")
    accepted = np.ones(num_rois, dtype=bool)
    for name, indices in (("idx_components", good), ("idx_components_bad", bad)):
        if indices is not None and indices.size and (indices.min() < 0 or indices.max() >= num_rois):
            raise InvalidInputError(
                f"estimates/{name} in '{file_path}' lists component {int(indices.max())}, but the file has "
                f"{num_rois} components (0..{num_rois - 1}); the file is damaged or was edited by hand."
            )
    if good is not None:
        accepted[:] = False
        accepted[good] = True
    elif bad is not None:
        accepted[bad] = False
    return accepted


def caiman_extractor(path: str | Path) -> CaimanSegmentationExtractor:
    """Open a CaImAn results HDF5 file as a segmentation extractor.

    Parameters
    ----------
    path : str or Path
        The file written by ``cnm.save(...)`` (usually ``*.hdf5``).

    Returns
    -------
    roiextractors.CaimanSegmentationExtractor
        roiextractors' reader (traces ``raw`` = C + YrA, ``dff``, ``denoised``,
        ``deconvolved``, ``background``; masks from ``A`` and ``b``; images ``correlation``
        and ``mean``), with a bool ``accepted`` property from ``idx_components`` /
        ``idx_components_bad``.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InvalidInputError
        If it is not a CaImAn results file.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"CaImAn results file '{path}' does not exist; pass the .hdf5 file written by cnm.save().")
    try:
        with h5py.File(path, "r") as file:
            missing = [name for name in ("estimates/A", "params/data/dims", "params/data/fr") if name not in file]
    except OSError as error:
        raise InvalidInputError(
            f"'{path}' is not an HDF5 file ({error}); pass the .hdf5 file written by cnm.save()."
        ) from None
    if missing:
        raise InvalidInputError(
            f"'{path}' is not a CaImAn results file: it has no {', '.join(missing)}; "
            "pass the .hdf5 file written by cnm.save()."
        )
    extractor = CaimanSegmentationExtractor(file_path=path)
    roi_ids = extractor.get_roi_ids()
    extractor.set_property(
        "accepted",
        _accepted_components(path, len(roi_ids)),
        roi_ids,
        description="Whether CaImAn's component evaluation kept the component (idx_components)",
    )
    return extractor


__all__ = ["caiman_extractor"]
