"""`ArchiveSegmentationExtractor`: one plane of an archived segmentation as a roiextractors extractor.

An extractor is a view: a plane's lazy array references plus a ROI selection
(mask indices, in the order asked for) and a sample window. Making a view reads
nothing; `slice_samples` and `select_rois` make narrower views; data is read
only by the methods that return data, and then only the chunks that hold it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from roiextractors import SegmentationExtractor

from segdb.archive import reopen
from segdb.archive.reader import PlaneHandle
from segdb.arrays import ArrayRef, read_trace_block

#: The property that answers from the archive's curation state, not from stored values.
CURATION_PROPERTY = "accepted"

#: Trace names every roiextractors extractor reports (None where absent).
STANDARD_TRACE_NAMES = ("raw", "dff", "neuropil", "deconvolved", "denoised", "baseline", "background")


class TraceWindow:
    """A lazy (samples, rois) window on a stored trace series, as ``get_traces_dict`` hands out.

    Slicing it reads only the chunks that hold the requested samples and ROIs.
    """

    def __init__(self, ref: ArrayRef, start: int, stop: int, columns: np.ndarray):
        self._ref = ref
        self._start = start
        self._stop = stop
        self._columns = columns
        self.shape = (stop - start, len(columns))
        self.dtype = np.dtype(ref.dtype)
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<TraceWindow {self._ref.dataset} samples {self._start}:{self._stop} x {len(self._columns)} ROIs>"

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            if not 1 <= len(key) <= 2:
                raise IndexError(f"trace windows are 2-D (samples, rois); got the index {key!r}")
            rows, cols = key[0], (key[1] if len(key) == 2 else slice(None))
        else:
            rows, cols = key, slice(None)
        start, stop, step = _as_range(rows, self.shape[0])
        columns = self._columns[cols] if not isinstance(cols, (int, np.integer)) else self._columns[[cols]]
        block = read_trace_block(self._ref, self._start + start, self._start + stop, np.atleast_1d(columns))
        block = block[::step] if step != 1 else block
        if isinstance(rows, (int, np.integer)):
            block = block[0]
        if isinstance(cols, (int, np.integer)):
            block = block[..., 0]
        return block

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        block = self[:]
        return block if dtype is None else block.astype(dtype)


def _as_range(rows: Any, length: int) -> tuple[int, int, int]:
    if isinstance(rows, (int, np.integer)):
        index = int(rows) + length if rows < 0 else int(rows)
        if not 0 <= index < length:
            raise IndexError(f"sample {rows} is outside 0..{length - 1}")
        return index, index + 1, 1
    if isinstance(rows, slice):
        start, stop, step = rows.indices(length)
        if step <= 0:
            raise IndexError("trace windows are read forwards; use a positive step")
        return start, max(start, stop), step
    raise IndexError(f"trace windows take a sample slice or index, got {rows!r}")


class ArchiveSegmentationExtractor(SegmentationExtractor):
    """One plane of an archived segmentation, as a roiextractors ``SegmentationExtractor``.

    Get one with ``archive.extractor(segmentation, plane=..., where=...)``. Any
    roiextractors or NWB consumer takes it as it is.
    """

    extractor_name = "ArchiveSegmentationExtractor"

    def __init__(
        self,
        archive: Any,
        segmentation_id: int,
        plane: PlaneHandle,
        *,
        cells: Sequence[int] | None = None,
        background: Sequence[int] | None = None,
        start: int = 0,
        stop: int | None = None,
        times: np.ndarray | None = None,
        curation: str = "latest",
    ):
        super().__init__()
        self._curation = curation
        self._archive = archive
        self._segmentation_id = int(segmentation_id)
        self._plane = plane
        self._cells = np.arange(len(plane.roi_keys)) if cells is None else np.asarray(cells, dtype=np.int64)
        self._background = (
            np.arange(len(plane.background_keys)) if background is None else np.asarray(background, dtype=np.int64)
        )
        self._start = int(start)
        self._stop = plane.num_samples if stop is None else int(stop)
        self._sampling_frequency = plane.sampling_frequency
        self._channel_names = list(plane.channel_names) or ["OpticalChannel"]
        self._times = times
        self._roi_ids = None
        self._lookups: dict[bool, dict] = {}

    # -- identity and shape --------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"<ArchiveSegmentationExtractor segmentation {self._segmentation_id} plane {self._plane.plane_name!r}: "
            f"{len(self._cells)} ROIs, samples {self._start}:{self._stop}>"
        )

    @property
    def segmentation_id(self) -> int:
        return self._segmentation_id

    @property
    def plane_name(self) -> str:
        return self._plane.plane_name

    def _view(self, **changes: Any) -> ArchiveSegmentationExtractor:
        state = dict(
            cells=self._cells, background=self._background, start=self._start, stop=self._stop, times=self._times,
            curation=self._curation,
        )
        state.update(changes)
        return type(self)(self._archive, self._segmentation_id, self._plane, **state)

    def get_frame_shape(self) -> tuple[int, int]:
        return tuple(self._plane.frame_shape)

    def get_image_size(self) -> tuple[int, int]:
        return self.get_frame_shape()

    def get_num_samples(self) -> int:
        return self._stop - self._start

    def get_num_frames(self) -> int:
        return self.get_num_samples()

    def get_sampling_frequency(self) -> float | None:
        return None if self._sampling_frequency is None else float(self._sampling_frequency)

    def get_channel_names(self) -> list[str]:
        return list(self._channel_names)

    def get_num_channels(self) -> int:
        return len(self._channel_names)

    def get_num_planes(self) -> int:
        return 1

    # -- ROI ids ---------------------------------------------------------------------------------

    def get_roi_ids(self) -> list:
        keys = self._plane.roi_keys
        return [keys[i] for i in self._cells]

    def get_num_rois(self) -> int:
        return len(self._cells)

    def get_background_ids(self) -> list:
        keys = self._plane.background_keys
        return [keys[i] for i in self._background]

    def get_num_background_components(self) -> int:
        return len(self._background)

    def _positions(self, ids: Iterable | None, *, background: bool = False) -> np.ndarray:
        """Positions within this view's selection of the given ids, in the order given."""
        selected = self._background if background else self._cells
        if ids is None:
            return np.arange(len(selected))
        lookup = self._lookups.get(background)
        if lookup is None:
            # A view's selection never changes, so its id -> position map is built once.
            keys = self.get_background_ids() if background else self.get_roi_ids()
            lookup = self._lookups[background] = {_key_token(key): position for position, key in enumerate(keys)}
        positions, missing = [], []
        for roi_id in _as_id_list(ids):
            position = lookup.get(_key_token(roi_id))
            if position is None:
                missing.append(roi_id)
            else:
                positions.append(position)
        if missing:
            keys = self.get_background_ids() if background else self.get_roi_ids()
            noun = "background components" if background else "ROIs"
            raise ValueError(
                f"{noun} {missing[:10]}{'…' if len(missing) > 10 else ''} are not in this extractor of segmentation "
                f"{self._segmentation_id} plane {self._plane.plane_name!r}; it has {len(keys)} {noun}: "
                f"{_describe_keys(keys)}"
            )
        return np.asarray(positions, dtype=np.int64)

    # -- views -----------------------------------------------------------------------------------

    def slice_samples(self, start_sample: int | None = None, end_sample: int | None = None):
        """A view of samples ``start_sample:end_sample`` of this one (nothing is read)."""
        n = self.get_num_samples()
        start = 0 if start_sample is None else _as_int(start_sample, "start_sample")
        end = n if end_sample is None else _as_int(end_sample, "end_sample")
        if not 0 <= start < end <= n:
            raise ValueError(
                f"cannot slice samples {start}:{end}: this extractor has {n} samples, so 0 <= start < end <= {n}"
            )
        times = None if self._times is None else self._times[start:end]
        return self._view(start=self._start + start, stop=self._start + end, times=times)

    def select_rois(self, roi_ids: list[str | int]):
        """A view of the given ROIs (cells and/or background components), in the order given."""
        ids = _as_id_list(roi_ids)
        if not ids:
            raise ValueError("select_rois needs at least one ROI id; got an empty list")
        tokens = [_key_token(i) for i in ids]
        if len(set(tokens)) != len(tokens):
            repeated = sorted({repr(i) for i, t in zip(ids, tokens) if tokens.count(t) > 1})
            raise ValueError(f"select_rois got repeated ROI ids {repeated}; name each ROI once")
        cell_lookup = {_key_token(k): i for i, k in zip(self._cells, self.get_roi_ids())}
        background_lookup = {_key_token(k): i for i, k in zip(self._background, self.get_background_ids())}
        cells, background, missing = [], [], []
        for roi_id, token in zip(ids, tokens):
            if token in cell_lookup:
                cells.append(cell_lookup[token])
            elif token in background_lookup:
                background.append(background_lookup[token])
            else:
                missing.append(roi_id)
        if missing:
            raise ValueError(
                f"ROI ids {missing[:10]} are not in this extractor of segmentation {self._segmentation_id} plane "
                f"{self._plane.plane_name!r}; its ROIs are {_describe_keys(self.get_roi_ids())} and its background "
                f"components {_describe_keys(self.get_background_ids())}"
            )
        return self._view(cells=cells, background=background)

    # -- traces ----------------------------------------------------------------------------------

    def _series(self, name: str) -> tuple[ArrayRef, np.ndarray, bool] | None:
        if name in self._plane.traces:
            return self._plane.traces[name], self._cells, False
        if name in self._plane.background_traces:
            return self._plane.background_traces[name], self._background, True
        return None

    def get_traces(
        self,
        roi_ids: Sequence[int | str] | None = None,
        start_frame: int | None = None,
        end_frame: int | None = None,
        name: str = "raw",
    ) -> np.ndarray | None:
        """Traces (samples, rois) of the given ROIs, reading only the chunks that hold them."""
        series = self._series(name)
        if series is None:
            return None
        ref, selected, background = series
        n = self.get_num_samples()
        start = 0 if start_frame is None else _as_int(start_frame, "start_frame")
        end = n if end_frame is None else _as_int(end_frame, "end_frame")
        if not 0 <= start <= end <= n:
            raise ValueError(
                f"cannot read samples {start}:{end} of {name!r}: this extractor has {n} samples, "
                f"so 0 <= start_frame <= end_frame <= {n}"
            )
        columns = selected[self._positions(roi_ids, background=background)]
        return read_trace_block(ref, self._start + start, self._start + end, columns)

    def get_traces_dict(self) -> dict:
        """Every trace series as a lazy (samples, rois) window; the standard names map to None where absent."""
        traces: dict[str, Any] = {}
        for name, ref in self._plane.traces.items():
            traces[name] = TraceWindow(ref, self._start, self._stop, self._cells)
        for name, ref in self._plane.background_traces.items():
            traces.setdefault(name, TraceWindow(ref, self._start, self._stop, self._background))
        for name in STANDARD_TRACE_NAMES:
            traces.setdefault(name, None)
        return traces

    # -- masks -----------------------------------------------------------------------------------

    def get_roi_pixel_masks(self, roi_ids=None) -> list[np.ndarray]:
        """Pixel masks as (n_pixels, 3) arrays of [row, col, weight], in the order asked for."""
        return self._plane.masks.pixel_masks(self._cells[self._positions(roi_ids)])

    def get_roi_image_masks(self, roi_ids=None) -> np.ndarray:
        """Dense masks, (height, width, n_rois)."""
        return self._plane.masks.image_masks(self._cells[self._positions(roi_ids)], self._plane.frame_shape)

    def get_background_pixel_masks(self, background_ids=None) -> list[np.ndarray]:
        if self._plane.background_masks is None or not len(self._background):
            self._positions(background_ids, background=True)
            return []
        return self._plane.background_masks.pixel_masks(self._background[self._positions(background_ids, background=True)])

    def get_background_image_masks(self, background_ids=None) -> np.ndarray:
        positions = self._positions(background_ids, background=True)
        if self._plane.background_masks is None or not len(positions):
            return np.zeros((*self._plane.frame_shape, 0))
        return self._plane.background_masks.image_masks(self._background[positions], self._plane.frame_shape)

    def get_roi_locations(self, roi_ids=None) -> np.ndarray:
        """ROI locations (2, n) as [row; col]: the median of each mask's brightest pixels, as roiextractors does."""
        locations = self._plane.roi_locations
        return locations[:, self._cells[self._positions(roi_ids)]].copy()

    # -- images ----------------------------------------------------------------------------------

    def get_images_dict(self) -> dict:
        return {name: ref[:] for name, ref in self._plane.images.items()}

    def get_image(self, name: str = "correlation") -> np.ndarray:
        if name not in self._plane.images:
            raise ValueError(f"could not find {name} image, enter one of {list(self._plane.images)}")
        return self._plane.images[name][:]

    # -- time ------------------------------------------------------------------------------------

    def get_native_timestamps(self, start_sample: int | None = None, end_sample: int | None = None):
        if self._plane.timestamps is None:
            return None
        start = 0 if start_sample is None else int(start_sample)
        end = self.get_num_samples() if end_sample is None else int(end_sample)
        return self._plane.timestamps[self._start + start : self._start + end]

    def set_times(self, times) -> None:
        times = np.asarray(times, dtype=np.float64)
        if times.shape != (self.get_num_samples(),):
            raise ValueError(
                f"set_times needs one time per sample: this extractor has {self.get_num_samples()} samples, "
                f"got an array of shape {times.shape}"
            )
        self._times = times

    def has_time_vector(self) -> bool:
        return self._times is not None or self._plane.timestamps is not None

    def get_timestamps(self, start_sample: int | None = None, end_sample: int | None = None) -> np.ndarray:
        start = 0 if start_sample is None else int(start_sample)
        end = self.get_num_samples() if end_sample is None else int(end_sample)
        if self._times is not None:
            return self._times[start:end]
        native = self.get_native_timestamps(start, end)
        if native is not None:
            return native
        if not self.get_sampling_frequency():
            raise ValueError(
                f"segmentation {self._segmentation_id} has neither timestamps nor a sampling frequency; "
                "give it times with set_times"
            )
        return (np.arange(start, end) + self._start) / self.get_sampling_frequency()

    def time_to_sample_indices(self, times):
        if self.has_time_vector():
            stamps = self.get_timestamps()
            return (np.searchsorted(stamps, times, side="right") - 1).astype("int64")
        return np.round(np.asarray(times) * self.get_sampling_frequency()).astype("int64")

    # -- properties --------------------------------------------------------------------------------

    def _plane_properties(self) -> dict[str, np.ndarray]:
        return self._archive.plane_properties(self._segmentation_id, self._plane.plane_name)

    def get_property_keys(self) -> list[str]:
        return list(dict.fromkeys([*self._plane_properties(), CURATION_PROPERTY]))

    def get_property(self, key: str, ids) -> np.ndarray:
        """Values of a property for the given ROIs, in the order of ``ids``.

        ``accepted`` is the archive's curation state under this extractor's policy.
        """
        if key == CURATION_PROPERTY:
            positions = self._positions(ids)
            labels = self._archive.curation_labels(
                self._segmentation_id, self._plane.plane_name, self._cells[positions], policy=self._curation
            )
            return np.array([label in ("accepted", None) for label in labels], dtype=bool)
        properties = self._plane_properties()
        if key not in properties:
            raise KeyError(f"Property '{key}' not found. Available properties: {list(properties)}")
        return properties[key][self._cells[self._positions(ids)]]

    def get_property_info(self, key: str):
        from roiextractors.segmentationextractor import _PropertyInfo

        descriptions = self._archive.property_descriptions(self._segmentation_id)
        values = self.get_property(key, self.get_roi_ids())
        return _PropertyInfo(data=values, description=descriptions.get(key, ""))

    def set_property(self, key: str, values, ids, *, description: str = "") -> None:
        """Set a property of this extractor's ROIs; it is written to the catalog and seen by every reader."""
        if key == CURATION_PROPERTY:
            raise ValueError(
                "'accepted' is the archive's curation state; label ROIs with archive.curate(...) or "
                "`segdb curate accept|reject` so the decision is kept in the history"
            )
        values = np.asarray(values)
        ids = _as_id_list(ids)
        if len(values) != len(ids):
            raise ValueError(f"set_property got {len(values)} values for {len(ids)} ids; give one value per id")
        positions = self._positions(ids)
        if len(set(positions.tolist())) != len(positions):
            raise ValueError("set_property got repeated ROI ids; give each ROI one value")
        mask_indices = self._cells[positions]
        self._archive.set_roi_property(
            self._segmentation_id,
            self._plane.plane_name,
            key,
            {int(i): v for i, v in zip(mask_indices, values)},
            description=description,
        )

    # -- acceptance (deprecated in roiextractors, answered from the archive) -----------------------

    def _labels(self) -> list[str | None]:
        return self._archive.curation_labels(
            self._segmentation_id, self._plane.plane_name, self._cells, policy=self._curation
        )

    @property
    def curation_policy(self) -> str:
        return self._curation

    def get_accepted_list(self) -> list:
        """ROI ids accepted by the archive's acceptance state (deprecated in roiextractors)."""
        warnings.warn(
            "get_accepted_list is deprecated in roiextractors; filter with archive.extractor(..., "
            "where='accepted') or read the 'accepted' state instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return [key for key, label in zip(self.get_roi_ids(), self._labels()) if label in ("accepted", None)]

    def get_rejected_list(self) -> list:
        """ROI ids not accepted by the archive's acceptance state (deprecated in roiextractors)."""
        warnings.warn(
            "get_rejected_list is deprecated in roiextractors; filter with archive.extractor(..., "
            "where='not accepted') instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return [key for key, label in zip(self.get_roi_ids(), self._labels()) if label == "rejected"]

    # -- pickling ------------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_archive"] = self._archive.reopen_spec()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_archive"] = reopen(state["_archive"])
        self.__dict__.update(state)


def _as_int(value: Any, label: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{label} must be a whole number of samples, got {value!r}")
    return int(value)


def _as_id_list(ids: Any) -> list:
    if isinstance(ids, (str, int, np.integer)):
        return [ids]
    if isinstance(ids, np.ndarray):
        return ids.tolist()
    return list(ids)


def _key_token(key: Any) -> tuple[str, int | str]:
    """ROI ids compare by type and value: 3 and "3" are different ROIs."""
    if isinstance(key, (bool, np.bool_)):
        return ("bool", str(key))
    if isinstance(key, (int, np.integer)):
        return ("int", int(key))
    if isinstance(key, (str, np.str_)):
        return ("str", str(key))
    return ("other", repr(key))


def _describe_keys(keys: Sequence) -> str:
    if not keys:
        return "none"
    if all(isinstance(k, int) for k in keys) and list(keys) == list(range(keys[0], keys[0] + len(keys))):
        return f"{keys[0]}..{keys[-1]}"
    shown = ", ".join(repr(k) for k in keys[:8])
    return f"[{shown}{', …' if len(keys) > 8 else ''}]"
