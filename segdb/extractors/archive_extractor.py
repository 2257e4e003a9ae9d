"""`ArchiveSegmentationExtractor`: one plane of an archived segmentation as a roiextractors extractor.

An extractor is a view: a plane's lazy array references plus a ROI selection
(mask indices, in the order asked for) and a sample window. Making a view reads
nothing; `slice_samples` and `select_rois` make narrower views; data is read
only by the methods that return data, and then only the chunks that hold it.

roiextractors 0.10's private containers, which NeuroConv and roiextractors' own
sliced extractors read, are there too (:mod:`segdb.extractors.containers`), computed
when read.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from roiextractors import SegmentationExtractor
from roiextractors.segmentationextractor import _PropertyInfo, _RoiResponse

from segdb.archive import reopen
from segdb.archive.reader import PlaneHandle
from segdb.conventions import DEFAULT_CHANNEL_NAME
from segdb.errors import InvalidInputError, NotFoundError
from segdb.extractors.arguments import (
    IdIndex,
    as_id_list,
    checked_window,
    describe_ids,
    locate_ids,
    refuse_repeated,
    unknown_ids_error,
)
from segdb.extractors.containers import ArchiveRoiMasks, ComputedMapping, ComputedSequence, checked_mask_type
from segdb.extractors.traces import TraceWindow

#: The property that answers from the archive's curation state, not from stored values.
CURATION_PROPERTY = "accepted"

#: Trace names every roiextractors extractor reports (None where absent).
STANDARD_TRACE_NAMES = ("raw", "dff", "neuropil", "deconvolved", "denoised", "baseline", "background")


class ArchiveSegmentationExtractor(SegmentationExtractor):
    """One plane of an archived segmentation, as a roiextractors ``SegmentationExtractor``.

    Get one with ``archive.extractor(segmentation, plane=..., where=...)``. Any
    roiextractors or NWB consumer takes it as it is; NeuroConv's
    ``add_segmentation_to_nwbfile`` writes the masks ``mask_type`` names.

    Parameters
    ----------
    mask_type : {"pixel", "image"}
        The masks it hands to code that asks which kind it holds (roiextractors'
        ``_roi_masks.mask_tpe``, which NeuroConv 0.10 follows and its own ``mask_type``
        argument does not change). ``"pixel"``, the default, is what the archive
        stores and what roiextractors' Suite2p and CaImAn extractors hand out; NeuroConv
        then writes each ``[row, col, weight]`` as NWB's ``(x, y, weight)``, as it does for
        theirs. ``"image"`` makes NeuroConv write dense ``image_mask`` columns, as for
        roiextractors' Numpy and NWB extractors: unambiguous about orientation, but all
        of a plane's masks are made dense at once.
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
        mask_type: str = "pixel",
    ):
        super().__init__()
        self._curation = curation
        self._mask_type = checked_mask_type(mask_type)
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
        self._channel_names = list(plane.channel_names) or [DEFAULT_CHANNEL_NAME]
        self._times = times
        self._indexes: dict[bool, IdIndex] = {}
        # What roiextractors 0.10 keeps in these, computed from this view when read (nothing is read here):
        # NeuroConv reads _roi_masks.mask_tpe; roiextractors' sliced extractors read all four.
        self._roi_masks = ArchiveRoiMasks(self, self._mask_type)
        self._roi_responses = ComputedSequence(self._responses)
        self._summary_images = ComputedMapping(self._image_names, self.get_image)
        self._properties = ComputedMapping(self.get_property_keys, self.get_property_info)

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

    @property
    def mask_type(self) -> str:
        """``"pixel"`` or ``"image"``: the masks this extractor tells NeuroConv to write."""
        return self._mask_type

    def _view(self, **changes: Any) -> ArchiveSegmentationExtractor:
        state = dict(
            cells=self._cells, background=self._background, start=self._start, stop=self._stop, times=self._times,
            curation=self._curation, mask_type=self._mask_type,
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

    def _index(self, background: bool) -> IdIndex:
        # A view's selection never changes, so its id -> position map is built once.
        if background not in self._indexes:
            self._indexes[background] = IdIndex(self.get_background_ids() if background else self.get_roi_ids())
        return self._indexes[background]

    def _owner(self) -> str:
        return f"segmentation {self._segmentation_id} plane {self._plane.plane_name!r}"

    def _held(self, background: bool) -> str:
        noun = "background components" if background else "ROIs"
        ids = self._index(background).ids
        return f"it has {len(ids)} {noun}: {describe_ids(ids)}"

    def _positions(self, ids: Iterable | None, *, background: bool = False, argument: str = "roi_ids") -> np.ndarray:
        """Positions within this view's selection of the given ids, in the order given."""
        if ids is None:
            return np.arange(len(self._background if background else self._cells))
        found, unknown = locate_ids(as_id_list(ids, argument, single_id_ok=True), [self._index(background)])
        if unknown:
            noun = "background ids" if background else "ROI ids"
            raise unknown_ids_error(noun, unknown, argument, self._owner(), self._held(background))
        return np.asarray([position for _, position in found], dtype=np.int64)

    # -- views -----------------------------------------------------------------------------------

    def slice_samples(self, start_sample: int | None = None, end_sample: int | None = None):
        """A view of samples ``start_sample:end_sample`` of this one (nothing is read)."""
        start, end = checked_window(
            start_sample, end_sample, self.get_num_samples(), names=("start_sample", "end_sample"), allow_empty=False
        )
        times = None if self._times is None else self._times[start:end]
        return self._view(start=self._start + start, stop=self._start + end, times=times)

    def select_rois(self, roi_ids: list[str | int]):
        """A view of the given ROIs (cells and/or background components), in the order given."""
        ids = as_id_list(roi_ids, "roi_ids", single_id_ok=True)
        if not ids:
            raise InvalidInputError(f"roi_ids is empty; give some of this extractor's ids ({self._held(False)})")
        refuse_repeated(ids, "roi_ids")
        found, unknown = locate_ids(ids, [self._index(False), self._index(True)])
        if unknown:
            held = f"{self._held(False)}; {self._held(True)}"
            raise unknown_ids_error("ids", unknown, "roi_ids", self._owner(), held)
        cells = [self._cells[position] for which, position in found if which == 0]
        background = [self._background[position] for which, position in found if which == 1]
        return self._view(cells=cells, background=background)

    # -- traces ----------------------------------------------------------------------------------

    def _series(self, name: str) -> tuple[Any, np.ndarray, bool] | None:
        """The stored array of a trace series, this view's columns of it, and whether they are background."""
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
        start, end = checked_window(start_frame, end_frame, self.get_num_samples())
        columns = selected[self._positions(roi_ids, background=background)]
        return ref.read_columns(self._start + start, self._start + end, columns)

    def _responses(self) -> list[_RoiResponse]:
        """roiextractors' ``_roi_responses``: the series of :meth:`get_traces_dict`, each a lazy window."""
        return [
            _RoiResponse(name, window, list(window.roi_ids))
            for name, window in self.get_traces_dict().items()
            if window is not None
        ]

    def get_traces_dict(self) -> dict:
        """Every trace series as a lazy (samples, rois) window; the standard names map to None where absent."""
        traces: dict[str, Any] = {}
        for name, ref in self._plane.traces.items():
            traces[name] = TraceWindow(self, name, self.get_roi_ids(), ref.dtype)
        for name, ref in self._plane.background_traces.items():
            traces.setdefault(name, TraceWindow(self, name, self.get_background_ids(), ref.dtype))
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

    def _masks_at(self, positions: Sequence[int]) -> list[np.ndarray]:
        """Pixel masks at positions of [this view's ROIs, then its background components], as ``_roi_masks`` counts."""
        num_cells = len(self._cells)
        cells = [p for p in positions if p < num_cells]
        background = [p - num_cells for p in positions if p >= num_cells]
        read = iter(self._plane.masks.pixel_masks(self._cells[cells]) if cells else [])
        read_background = iter(
            self._plane.background_masks.pixel_masks(self._background[background]) if background else []
        )
        return [next(read) if p < num_cells else next(read_background) for p in positions]

    def get_background_pixel_masks(self, background_ids=None) -> list[np.ndarray]:
        if self._plane.background_masks is None or not len(self._background):
            self._positions(background_ids, background=True, argument="background_ids")
            return []
        positions = self._positions(background_ids, background=True, argument="background_ids")
        return self._plane.background_masks.pixel_masks(self._background[positions])

    def get_background_image_masks(self, background_ids=None) -> np.ndarray:
        positions = self._positions(background_ids, background=True, argument="background_ids")
        if self._plane.background_masks is None or not len(positions):
            return np.zeros((*self._plane.frame_shape, 0))
        return self._plane.background_masks.image_masks(self._background[positions], self._plane.frame_shape)

    def get_roi_locations(self, roi_ids=None) -> np.ndarray:
        """ROI locations (2, n) as [row; col]: the median of each mask's brightest pixels, as roiextractors does."""
        locations = self._plane.roi_locations
        return locations[:, self._cells[self._positions(roi_ids)]].copy()

    # -- images ----------------------------------------------------------------------------------

    def _image_names(self) -> list[str]:
        return list(self._plane.images)

    def get_images_dict(self) -> dict:
        return {name: ref[:] for name, ref in self._plane.images.items()}

    def get_image(self, name: str = "correlation") -> np.ndarray:
        if name not in self._plane.images:
            raise InvalidInputError(f"could not find {name} image, enter one of {list(self._plane.images)}")
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
            raise InvalidInputError(
                f"set_times needs one time per sample: this extractor has {self.get_num_samples()} samples, "
                f"got an array of shape {times.shape}"
            )
        self._times = times

    def has_time_vector(self) -> bool:
        """Whether :meth:`get_timestamps` is a time vector rather than ``sample / rate`` from 0.

        True with set times or stored timestamps, and for a view that starts after the
        first sample: its times start at ``start / rate``, which NWB writers (NeuroConv)
        take from the vector, where without one they would write ``starting_time=0.0``.
        """
        return self._times is not None or self._plane.timestamps is not None or self._start > 0

    def get_timestamps(self, start_sample: int | None = None, end_sample: int | None = None) -> np.ndarray:
        start = 0 if start_sample is None else int(start_sample)
        end = self.get_num_samples() if end_sample is None else int(end_sample)
        if self._times is not None:
            return self._times[start:end]
        native = self.get_native_timestamps(start, end)
        if native is not None:
            return native
        if not self.get_sampling_frequency():
            raise InvalidInputError(
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

    def get_property_keys(self) -> list[str]:
        names = self._archive.property_names(self._segmentation_id, self._plane.plane_name)
        return list(dict.fromkeys([*names, CURATION_PROPERTY]))

    def get_property(self, key: str, ids) -> np.ndarray:
        """Values of a property for the given ROIs, in the order of ``ids``.

        ``accepted`` is the archive's curation state under this extractor's policy.
        """
        positions = self._positions(ids, argument="ids")
        if key == CURATION_PROPERTY:
            labels = self._archive.curation_labels(
                self._segmentation_id, self._plane.plane_name, self._cells[positions], policy=self._curation
            )
            return np.array([label in ("accepted", None) for label in labels], dtype=bool)
        values = self._archive.plane_properties(self._segmentation_id, self._plane.plane_name, names=[key]).get(key)
        if values is None:
            raise NotFoundError(
                f"Property '{key}' not found in {self._owner()}. Available properties: {self.get_property_keys()}; "
                "set it with set_property"
            )
        return values[self._cells[positions]]

    def get_property_info(self, key: str):
        descriptions = self._archive.property_descriptions(self._segmentation_id)
        values = self.get_property(key, self.get_roi_ids())
        return _PropertyInfo(data=values, description=descriptions.get(key, ""))

    def set_property(self, key: str, values, ids, *, description: str = "") -> None:
        """Set a property of this extractor's ROIs; it is written to the catalog and seen by every reader."""
        if key == CURATION_PROPERTY:
            raise InvalidInputError(
                "'accepted' is the archive's curation state; label ROIs with archive.curate(...) or "
                "`segdb curate accept|reject` so the decision is kept in the history"
            )
        values = np.asarray(values)
        ids = as_id_list(ids, "ids", single_id_ok=True)
        if len(values) != len(ids):
            raise InvalidInputError(f"set_property got {len(values)} values for {len(ids)} ids; give one value per id")
        refuse_repeated(ids, "ids")
        positions = self._positions(ids, argument="ids")
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

