"""Minian output (a folder of xarray zarr stores) as a roiextractors segmentation extractor.

Minian's ``save_minian`` writes each result to ``<folder>/<name>.zarr``, an xarray dataset
holding the array ``<name>`` and its coordinates: ``A`` (unit_id, height, width) the
footprints, ``C`` (unit_id, frame) the denoised traces, ``S`` the deconvolved ones, ``b0``
the baselines, ``b`` (height, width) and ``f`` (frame) the background, ``max_proj``
(height, width). The frame times come from the Miniscope's ``timeStamps.csv``
(columns ``Frame Number`` and ``Time Stamp (ms)``), kept beside the zarr stores.

roiextractors 0.10's ``MinianSegmentationExtractor`` has three quirks that
:class:`MinianFolderSegmentationExtractor` corrects:

- **The folder must itself be a zarr group.** It opens ``<folder>`` with ``zarr.open`` to
  look for the stores, which fails ("nothing found at path ''") on the plain folder that
  ``save_minian`` makes; here each store is opened on its own.
- **A rate without timestamps fails.** Given a rate and no ``timeStamps.csv``, its
  ``has_time_vector()`` still reads the CSV and raises a bare FileNotFoundError; here the
  rate alone is enough and the CSV is read only when it exists.
- **Unit ids.** ``get_roi_ids()`` returns Minian's ``unit_id`` values, but masks and
  traces are keyed 0..n-1, so any unit ids other than 0..n-1 (the rule once Minian has
  dropped and merged units) make every mask lookup fail; here masks and traces are keyed
  by ``unit_id``.

It also requires ``b.zarr``; here the background is optional, as long as ``b`` and ``f``
come together.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import zarr
from roiextractors import MinianSegmentationExtractor

from segdb.errors import InvalidInputError, NotFoundError

TIMESTAMP_COLUMNS = ("Frame Number", "Time Stamp (ms)")
_TRACE_STORES = ("C", "S", "b0")
_HINT = "pass the folder Minian's save_minian wrote (it holds A.zarr, C.zarr, …)"
# What opening a store that is not one raises, in zarr 2 and zarr 3.
_ZARR_ERRORS = (KeyError, ValueError, FileNotFoundError) + tuple(
    getattr(zarr.errors, name)
    for name in ("GroupNotFoundError", "PathNotFoundError", "ArrayNotFoundError", "NodeTypeValidationError")
    if hasattr(zarr.errors, name)
)


class MinianFolderSegmentationExtractor(MinianSegmentationExtractor):
    """roiextractors' Minian reader on a plain folder, with unit ids as ROI ids and an optional CSV."""

    extractor_name = "MinianFolderSegmentation"

    def __init__(
        self,
        folder_path: str | Path,
        sampling_frequency: float | None = None,
        timestamps_path: str | Path | None = None,
    ):
        super().__init__(folder_path, sampling_frequency=sampling_frequency, timestamps_path=timestamps_path)
        self._key_by_unit_id()

    def _key_by_unit_id(self) -> None:
        store = self._read_zarr_group("/A.zarr")
        indices = list(range(len(self._roi_ids)))
        if "unit_id" not in store:
            return
        values = np.asarray(store["unit_id"][:]).ravel()
        unit_ids = values.astype(np.int64).tolist() if values.dtype.kind in "iu" else [str(v) for v in values]
        if len(unit_ids) != len(indices):
            raise InvalidInputError(
                f"A.zarr in '{self.folder_path}' has {len(unit_ids)} unit_id values for {len(indices)} footprints; "
                "the store is damaged"
            )
        background = {
            key: index for key, index in self._roi_masks.roi_id_map.items() if str(key).startswith("background")
        }
        self._roi_ids = unit_ids
        self._roi_masks.roi_id_map = {**dict(zip(unit_ids, indices)), **background}
        for response in self._roi_responses:
            if response.response_type == "background":
                response.roi_ids = list(background) or [f"background-{i}" for i in range(response.data.shape[1])]
            else:
                response.roi_ids = list(unit_ids)

    def _read_zarr_group(self, zarr_group: str):
        path = self.folder_path / zarr_group.strip("/")
        return zarr.open(str(path), mode="r") if path.is_dir() else None

    def _read_background_image_mask_from_zarr(self):
        if self._read_zarr_group("/b.zarr") is None:
            return None
        return super()._read_background_image_mask_from_zarr()

    def get_roi_ids(self) -> list:
        return list(self._roi_ids)

    def get_native_timestamps(self, start_sample: int | None = None, end_sample: int | None = None):
        # roiextractors reads the CSV even when it is absent, and takes the frame numbers
        # from C.zarr alone; here from whichever trace store there is.
        if not self._timestamps_path.is_file():
            return None
        frames = next(
            (
                store["frame"][:] for name in _TRACE_STORES
                if (store := self._read_zarr_group(f"/{name}.zarr")) is not None and "frame" in store
            ),
            None,
        )
        table = pd.read_csv(self._timestamps_path)
        if frames is not None:
            table = table[table[TIMESTAMP_COLUMNS[0]].isin(frames)]
        stamps = table[TIMESTAMP_COLUMNS[1]].to_numpy() * 1e-3
        return stamps[start_sample:end_sample]

    def has_time_vector(self) -> bool:
        if self._times is None and self._timestamps_path.is_file():
            self._times = self.get_native_timestamps()
        return self._times is not None


def _open_store(folder: Path, name: str, dims: tuple[str, ...]) -> zarr.Group | None:
    """``<folder>/<name>.zarr`` if it exists, checked to hold ``name`` with Minian's dimensions."""
    path = folder / f"{name}.zarr"
    if not path.exists():
        return None
    try:
        store = zarr.open_group(str(path), mode="r")
        array = store[name]
    except _ZARR_ERRORS as error:
        raise InvalidInputError(
            f"'{path}' is not a Minian zarr store holding {name!r} ({type(error).__name__}: {error}); {_HINT}"
        ) from None
    written = tuple(array.attrs.get("_ARRAY_DIMENSIONS", dims))
    if array.ndim != len(dims) or written != dims:
        raise InvalidInputError(
            f"{name!r} in '{path}' has dimensions {written} and shape {array.shape}; Minian writes it as {dims}"
        )
    return store


def _check_timestamps_csv(path: Path) -> None:
    try:
        columns = list(pd.read_csv(path, nrows=0).columns)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise InvalidInputError(f"cannot read the timestamps file '{path}': {error}") from None
    missing = [name for name in TIMESTAMP_COLUMNS if name not in columns]
    if missing:
        raise InvalidInputError(
            f"the timestamps file '{path}' has no column {', '.join(map(repr, missing))} (it has {columns}); "
            "pass Miniscope's timeStamps.csv, or give the frame rate with --rate HZ instead"
        )


def minian_extractor(
    path: str | Path, *, sampling_frequency: float | None = None, timestamps_path: str | Path | None = None
) -> MinianFolderSegmentationExtractor:
    """Open a Minian output folder as a segmentation extractor.

    Parameters
    ----------
    path : str or Path
        The folder holding ``A.zarr``, ``C.zarr``, … as Minian's ``save_minian`` writes them.
    sampling_frequency : float, optional
        The frame rate in Hz; needed when there is no ``timeStamps.csv`` (or its times are
        irregular).
    timestamps_path : str or Path, optional
        Miniscope's ``timeStamps.csv``; default ``<folder>/timeStamps.csv`` when it exists.

    Returns
    -------
    MinianFolderSegmentationExtractor
        ROI ids Minian's ``unit_id``; traces ``denoised`` (C), ``deconvolved`` (S),
        ``baseline`` (b0), ``background`` (f) for the background component ``background-0``
        (b); image ``maximum_projection``; timestamps from the CSV.

    Raises
    ------
    NotFoundError
        If the folder or a named timestamps file does not exist.
    InvalidInputError
        If the folder is not Minian output, or neither a rate nor timestamps are known.
    """
    folder = Path(path)
    if not folder.exists():
        raise NotFoundError(f"Minian folder '{folder}' does not exist; {_HINT}")
    if not folder.is_dir():
        raise InvalidInputError(f"'{folder}' is a file, not a Minian output folder; {_HINT}")
    if _open_store(folder, "A", ("unit_id", "height", "width")) is None:
        raise InvalidInputError(f"'{folder}' is not Minian output: it has no A.zarr (the footprints); {_HINT}")
    traces = [name for name in _TRACE_STORES if _open_store(folder, name, ("unit_id", "frame")) is not None]
    if not traces:
        raise InvalidInputError(
            f"'{folder}' has footprints (A.zarr) but none of {', '.join(f'{n}.zarr' for n in _TRACE_STORES)}; "
            "copy the traces Minian saved beside A.zarr"
        )
    has_b = _open_store(folder, "b", ("height", "width")) is not None
    has_f = _open_store(folder, "f", ("frame",)) is not None
    if has_b != has_f:
        raise InvalidInputError(
            f"'{folder}' has {'b.zarr' if has_b else 'f.zarr'} but not {'f.zarr' if has_b else 'b.zarr'}; "
            "Minian's background needs both its footprint (b) and its trace (f)"
        )
    if timestamps_path is not None:
        timestamps_path = Path(timestamps_path)
        if not timestamps_path.is_file():
            raise NotFoundError(f"timestamps file '{timestamps_path}' does not exist; pass Miniscope's timeStamps.csv")
    csv = timestamps_path or folder / "timeStamps.csv"
    if csv.is_file():
        _check_timestamps_csv(csv)
    elif sampling_frequency is None:
        raise InvalidInputError(
            f"Minian folder '{folder}' has no timeStamps.csv, so the frame times are unknown; "
            "pass the frame rate with --rate HZ (or the CSV with --timestamps)"
        )
    return MinianFolderSegmentationExtractor(folder, sampling_frequency=sampling_frequency, timestamps_path=csv)


__all__ = ["MinianFolderSegmentationExtractor", "minian_extractor"]
