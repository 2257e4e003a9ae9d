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

import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from roiextractors import CaimanSegmentationExtractor

from segdb.errors import InvalidInputError, NotFoundError, SegDBError
from segdb.ingest.settings import MAX_SETTING_ELEMENTS, SKIPPED, setting_value

_HINT = "pass the .hdf5 file written by cnm.save()"
_COPIED = "was the file copied completely, or edited by hand?"


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


def _is_none(dataset: h5py.Dataset) -> bool:
    """Whether a dataset stands for no value: CaImAn's ``"NoneType"`` string, or empty (as roiextractors reads it)."""
    return dataset.ndim == 0 or (dataset.ndim == 1 and dataset.shape[0] == 0) or dataset.dtype.kind in "SOU"


def _checked_components(file: h5py.File, path: Path) -> int:
    """The number of components, once the shapes in ``estimates`` agree with each other and ``params/data/dims``."""
    where = f"'{path}'"
    dims = np.asarray(file["params/data/dims"][()])
    if dims.dtype.kind not in "iuf" or dims.shape != (2,) or not all(size >= 1 for size in dims):
        raise InvalidInputError(
            f"params/data/dims in {where} is {dims.tolist()!r}; CaImAn writes the frame's (height, width) there; "
            f"{_COPIED}"
        )
    rate = file["params/data/fr"][()]
    if not isinstance(rate, (int, float, np.integer, np.floating)) or not math.isfinite(rate) or rate <= 0:
        raise InvalidInputError(
            f"params/data/fr in {where} is {rate.tolist() if isinstance(rate, np.generic) else rate!r}, not a frame "
            f"rate in Hz; {_COPIED}"
        )
    n_pixels = int(dims[0]) * int(dims[1])
    footprints = file["estimates/A"]
    parts = ("data", "indices", "indptr", "shape")
    if not isinstance(footprints, h5py.Group) or any(part not in footprints for part in parts):
        raise InvalidInputError(
            f"estimates/A in {where} is not the sparse matrix CaImAn writes (a group of {', '.join(parts)}); {_COPIED}"
        )
    shape = np.asarray(footprints["shape"][()]).ravel()
    if shape.size != 2 or int(shape[0]) != n_pixels:
        raise InvalidInputError(
            f"estimates/A in {where} has shape {shape.tolist()} but params/data/dims {dims.tolist()} makes "
            f"{n_pixels} pixels; CaImAn writes A as (pixels, components); {_COPIED}"
        )
    num_rois = int(shape[1])
    indptr, indices, data = (footprints[part] for part in ("indptr", "indices", "data"))
    if indptr.ndim != 1 or indptr.shape[0] != num_rois + 1 or indices.shape != data.shape:
        raise InvalidInputError(
            f"estimates/A in {where} is damaged: {num_rois} components need {num_rois + 1} indptr entries, it has "
            f"{indptr.shape[0] if indptr.ndim == 1 else indptr.shape}, and {indices.shape} indices for {data.shape} "
            f"values; {_COPIED}"
        )
    estimates = file["estimates"]
    frames: dict[str, int] = {}
    for name in ("C", "YrA", "S", "F_dff"):
        if name not in estimates or _is_none(estimates[name]):
            continue
        traces = estimates[name]
        if traces.ndim != 2 or traces.shape[0] != num_rois:
            raise InvalidInputError(
                f"estimates/{name} in {where} has shape {traces.shape} but estimates/A has {num_rois} components; "
                f"CaImAn writes it as (components, frames); {_COPIED}"
            )
        frames[name] = traces.shape[1]
    if len(set(frames.values())) > 1:
        counts = ", ".join(f"estimates/{name} has {count}" for name, count in frames.items())
        raise InvalidInputError(f"the traces in {where} disagree in their number of frames ({counts}); {_COPIED}")
    background = {name: estimates[name] for name in ("b", "f") if name in estimates and not _is_none(estimates[name])}
    if "b" in background and (background["b"].ndim != 2 or background["b"].shape[0] != n_pixels):
        raise InvalidInputError(
            f"estimates/b in {where} has shape {background['b'].shape} but params/data/dims {dims.tolist()} makes "
            f"{n_pixels} pixels; CaImAn writes b as (pixels, background components); {_COPIED}"
        )
    if "f" in background:
        temporal = background["f"]
        spatial_count = background["b"].shape[1] if "b" in background else None
        if temporal.ndim != 2 or (frames and temporal.shape[1] != next(iter(frames.values()))) or (
            spatial_count is not None and temporal.shape[0] != spatial_count
        ):
            raise InvalidInputError(
                f"estimates/f in {where} has shape {temporal.shape}; CaImAn writes it as (background components, "
                f"frames), here ({spatial_count if spatial_count is not None else 'any'}, "
                f"{next(iter(frames.values())) if frames else 'any'}); {_COPIED}"
            )
    if "Cn" in estimates and not _is_none(estimates["Cn"]) and estimates["Cn"].shape != tuple(int(v) for v in dims):
        raise InvalidInputError(
            f"estimates/Cn in {where} has shape {estimates['Cn'].shape} but params/data/dims is {dims.tolist()}; "
            f"{_COPIED}"
        )
    return num_rois


def _group_settings(group: h5py.Group) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name in sorted(group):
        item = group[name]
        if isinstance(item, h5py.Group):
            value = _group_settings(item)
        elif item.ndim > 0 and item.size > MAX_SETTING_ELEMENTS:
            continue
        else:
            value = item[()]
            value = None if isinstance(value, bytes) and value == b"NoneType" else setting_value(value)
        if value is not SKIPPED:
            kept[name] = value
    return kept


def caiman_settings(path: str | Path) -> dict[str, Any]:
    """CaImAn's settings from the ``params`` group of a results file, as ``{group: {name: value}}``.

    Parameters
    ----------
    path : str or Path
        The file written by ``cnm.save(...)``.

    Returns
    -------
    dict
        E.g. ``{"data": {"fr": 30.0, "dims": [512, 512], "decay_time": 0.4}, "quality": {...}}``;
        scalars and short lists only, a parameter CaImAn stored as ``None`` is null.
    """
    with h5py.File(path, "r") as file:
        params = file.get("params")
        return _group_settings(params) if isinstance(params, h5py.Group) else {}


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
    if path.stat().st_size == 0:
        raise InvalidInputError(f"'{path}' is empty (0 bytes); {_COPIED}")
    try:
        with h5py.File(path, "r") as file:
            missing = [name for name in ("estimates/A", "params/data/dims", "params/data/fr") if name not in file]
            if missing:
                raise InvalidInputError(
                    f"'{path}' is not a CaImAn results file: it has no {', '.join(missing)}; {_HINT}."
                )
            num_rois = _checked_components(file, path)
    except OSError as error:
        if "truncated file" in str(error):
            raise InvalidInputError(f"'{path}' is truncated ({error}); {_COPIED}") from None
        raise InvalidInputError(f"'{path}' is not an HDF5 file ({error}); {_HINT}.") from None
    accepted = _accepted_components(path, num_rois)
    try:
        extractor = CaimanSegmentationExtractor(file_path=path)
        roi_ids = extractor.get_roi_ids()
        extractor.set_property(
            "accepted",
            accepted,
            roi_ids,
            description="Whether CaImAn's component evaluation kept the component (idx_components)",
        )
    except SegDBError:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise InvalidInputError(
            f"the CaImAn results file '{path}' cannot be read ({type(error).__name__}: {error}); {_COPIED}"
        ) from None
    return extractor


__all__ = ["caiman_extractor", "caiman_settings"]
