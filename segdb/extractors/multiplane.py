"""`MultiSegmentationExtractor`: the planes of a multi-plane acquisition as one segmentation extractor.

A two-photon rig that scans several planes in turn yields one segmentation per
plane: same session, same clock, same field of view size. Analysis and NWB writers
want them as a single ``SegmentationExtractor``; :class:`MultiSegmentationExtractor`
is that view. It holds the per-plane extractors, numbers every ROI with one global
id (:mod:`segdb.extractors.global_ids`), and forwards each request to the planes
that hold the asked-for ROIs, using only their public methods, so it works over
roiextractors' own extractors and segdb's archive extractors alike.

roiextractors 0.9 shipped a class of this name that could not be instantiated and
0.10 dropped it; this one keeps its intended behaviour and is segdb's reference.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import operator
import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from roiextractors import SegmentationExtractor

from segdb.conventions import DEFAULT_CHANNEL_NAME
from segdb.errors import InvalidInputError, NotFoundError
from segdb.extractors.acceptance import (
    plane_flags,
    warn_curation_list_deprecated,
)
from segdb.extractors.arguments import as_id_list, checked_window, refuse_repeated
from segdb.extractors.containers import PerPlaneMasks
from segdb.extractors.global_ids import GlobalIds, PlaneRoi, assemble, common_dtype, plan_requests
from segdb.extractors.traces import TraceWindow

RoiId = int | str

class MultiSegmentationExtractor(SegmentationExtractor):
    """Several single-plane segmentations of one acquisition, seen as one.

    Global ROI ids
        ROIs are numbered across planes in plane order: ROI ``j`` (its position in
        ``planes[p].get_roi_ids()``) of plane ``p`` has global id
        ``sum(num_rois of planes 0..p-1) + j``, so ids run ``0..N-1``.
        :meth:`get_plane_roi_ids` and :meth:`get_roi_id_map` give the (plane index,
        plane's own id) behind each global id; :meth:`get_global_roi_id` goes back.
        Background components are numbered the same way as ``'background0'``,
        ``'background1'``, … (roiextractors' naming).
    Per-plane names
        Images and traces of plane ``'Plane0'`` appear under their plane's name with
        the suffix ``'_plane0'`` (``'_'`` + the plane name lower-cased):
        ``'correlation_plane0'``, ``'raw_plane0'``.
    What the planes must agree on
        Number of samples, sampling frequency and frame shape (height, width);
        otherwise construction raises ``InvalidInputError`` naming the planes and values.

    Every method that takes ROI ids returns results in the order asked, mixing
    planes freely, and raises ``InvalidInputError`` listing any id it does not know.

    Parameters
    ----------
    segmentation_extractors_list : sequence of SegmentationExtractor
        One extractor per plane, in plane order.
    plane_names : sequence of str, optional
        One name per plane; defaults to ``'Plane0'``, ``'Plane1'``, …. Names must
        stay distinct once lower-cased, since they become key suffixes.

    Examples
    --------
    >>> multi = MultiSegmentationExtractor([plane0, plane1])  # doctest: +SKIP
    >>> multi.get_traces(roi_ids=[12, 0], start_frame=0, end_frame=100)  # doctest: +SKIP
    >>> multi.get_plane_roi_ids([12, 0])  # doctest: +SKIP
    [(1, 2), (0, 0)]
    """

    extractor_name = "MultiSegmentationExtractor"
    installation_mesg = ""

    def __init__(
        self,
        segmentation_extractors_list: Sequence[SegmentationExtractor],
        plane_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(segmentation_extractors_list, (SegmentationExtractor, str, bytes)):
            raise TypeError(
                "segmentation_extractors_list must be a list of SegmentationExtractors, one per plane; "
                f"got a single {type(segmentation_extractors_list).__name__}"
            )
        planes = list(segmentation_extractors_list)
        if not planes:
            raise InvalidInputError("segmentation_extractors_list is empty; give at least one plane's extractor")
        for index, plane in enumerate(planes):
            if not isinstance(plane, SegmentationExtractor):
                raise TypeError(
                    f"segmentation_extractors_list[{index}] is a {type(plane).__name__}, "
                    "not a roiextractors SegmentationExtractor"
                )
        self._segmentations: list[SegmentationExtractor] = planes
        self._plane_names: list[str] = _checked_plane_names(plane_names, len(planes))
        # NeuroConv reads _roi_masks.mask_tpe to write one PlaneSegmentation; each plane needs its own.
        self._roi_masks = PerPlaneMasks(self._plane_names)

        self._frame_shape = self._common_frame_shape()
        self._num_samples: int | None = self._common_value(
            "number of samples", [plane.get_num_samples() for plane in planes], operator.eq
        )
        self._sampling_frequency = self._common_value(
            "sampling frequency (Hz)",
            [plane.get_sampling_frequency() for plane in planes],
            # Rates come from different files and may differ in the last bits.
            lambda a, b: math.isclose(a, b, rel_tol=1e-9),
        )
        # Each plane's own ids, read once: the global numbering is fixed at construction.
        self._ids = GlobalIds(
            self._plane_names,
            [plane.get_roi_ids() for plane in planes],
            [plane.get_background_ids() for plane in planes],
        )

    # ------------------------------------------------------------------ construction checks

    def _describe_planes(self, values: Sequence[Any]) -> str:
        return ", ".join(f"{name}: {value!r}" for name, value in zip(self._plane_names, values))

    def _common_frame_shape(self) -> tuple[int, int]:
        shapes = []
        for name, plane in zip(self._plane_names, self._segmentations):
            shape = tuple(int(size) for size in plane.get_frame_shape())
            if len(shape) != 2:
                raise InvalidInputError(
                    f"plane {name} reports frame shape {shape}, not (height, width); "
                    "a NumpySegmentationExtractor needs movie_dims=(height, width) for that"
                )
            shapes.append(shape)
        if len(set(shapes)) > 1:
            raise InvalidInputError(
                f"planes disagree on frame shape (height, width): {self._describe_planes(shapes)}; "
                "every plane of one acquisition has the same frame"
            )
        return shapes[0]

    def _common_value(self, what: str, values: list[Any], same: Any) -> Any:
        first = values[0]
        for value in values[1:]:
            if (value is None) != (first is None) or (value is not None and not same(value, first)):
                raise InvalidInputError(
                    f"planes disagree on {what}: {self._describe_planes(values)}; "
                    "planes of one acquisition share one clock"
                )
        return first

    # ------------------------------------------------------------------ planes

    @property
    def no_planes(self) -> int:
        """Number of planes (the name roiextractors 0.9 used)."""
        return len(self._segmentations)

    @property
    def segmentations(self) -> list[SegmentationExtractor]:
        """The per-plane extractors, in plane order (a new list each time)."""
        return list(self._segmentations)

    @property
    def plane_names(self) -> list[str]:
        """The plane names, in plane order (a new list each time)."""
        return list(self._plane_names)

    def get_num_planes(self) -> int:
        return len(self._segmentations)

    # ------------------------------------------------------------------ ids

    def get_plane_roi_ids(self, roi_ids: Sequence[int] | None = None) -> list[PlaneRoi]:
        """The (plane index, plane's own ROI id) behind each global ROI id (all when omitted), in the order asked."""
        return self._ids.locate(roi_ids, argument="roi_ids")

    def get_roi_id_map(self) -> dict[int, PlaneRoi]:
        """Global id -> (plane index, plane's own ROI id), for every ROI of :meth:`get_roi_ids`."""
        roi_ids = self.get_roi_ids()
        return dict(zip(roi_ids, self.get_plane_roi_ids(roi_ids)))

    def get_global_roi_id(self, plane: int | str, plane_roi_id: Hashable) -> int:
        """The global id of a plane's ROI; ``plane`` is a plane index or name, ``plane_roi_id`` that plane's own id."""
        return self._ids.global_roi_id(plane, plane_roi_id)

    def get_roi_ids(self) -> list[int]:
        """``0..N-1`` across planes in plane order, or the ids kept by :meth:`select_rois`, in its order."""
        return list(self._ids.roi_ids)

    def get_num_rois(self) -> int:
        return len(self._ids.roi_ids)

    def get_background_ids(self) -> list[str]:
        """``'background0'``… across planes in plane order, or those kept by :meth:`select_rois`."""
        return list(self._ids.background_ids)

    def get_num_background_components(self) -> int:
        return len(self._ids.background_ids)

    # ------------------------------------------------------------------ masks

    def _ask_planes(self, method: str, located: list[PlaneRoi], argument: str) -> tuple[dict, dict]:
        requests = plan_requests(located)
        answers = {
            plane: getattr(self._segmentations[plane], method)(**{argument: request.plane_ids})
            for plane, request in requests.items()
        }
        return requests, answers

    def _gather_last_axis(self, method: str, located: list[PlaneRoi], argument: str, leading: tuple[int, ...]):
        requests, answers = self._ask_planes(method, located, argument)
        answers = {plane: np.asarray(answer) for plane, answer in answers.items()}
        return assemble(requests, answers, len(located), axis=-1, empty_shape=(*leading, 0))

    def _gather_lists(self, method: str, located: list[PlaneRoi], argument: str) -> list[np.ndarray]:
        requests, answers = self._ask_planes(method, located, argument)
        out: list[Any] = [None] * len(located)
        for plane, request in requests.items():
            for position, column in zip(request.positions, request.columns):
                out[position] = answers[plane][column]
        return out

    def get_roi_pixel_masks(self, roi_ids: Sequence[int] | None = None) -> list[np.ndarray]:
        """One (num_pixels, 3) ``[row, col, weight]`` array per ROI, as its plane gives it, in the order asked."""
        located = self._ids.locate(roi_ids, argument="roi_ids")
        return self._gather_lists("get_roi_pixel_masks", located, "roi_ids")

    def get_roi_image_masks(self, roi_ids: Sequence[int] | None = None) -> np.ndarray:
        """(height, width, len(roi_ids)), masks in the order asked."""
        located = self._ids.locate(roi_ids, argument="roi_ids")
        return self._gather_last_axis("get_roi_image_masks", located, "roi_ids", self._frame_shape)

    def get_roi_locations(self, roi_ids: Sequence[int] | None = None) -> np.ndarray:
        """(2, len(roi_ids)) of [row; col] as each plane computes them (deprecated in roiextractors)."""
        warnings.warn(
            "get_roi_locations is deprecated and will be removed in or after September 2026. "
            "Use get_property('roi_centroids', roi_ids) instead.",
            FutureWarning,
            stacklevel=2,
        )
        located = self._ids.locate(roi_ids, argument="roi_ids")
        # One warning, pointing at the caller, rather than one per plane pointing here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._gather_last_axis("get_roi_locations", located, "roi_ids", (2,))

    def get_background_pixel_masks(self, background_ids: Sequence[str] | None = None) -> list[np.ndarray]:
        located = self._ids.locate(background_ids, argument="background_ids", kinds=("background",))
        return self._gather_lists("get_background_pixel_masks", located, "background_ids")

    def get_background_image_masks(self, background_ids: Sequence[str] | None = None) -> np.ndarray:
        located = self._ids.locate(background_ids, argument="background_ids", kinds=("background",))
        return self._gather_last_axis("get_background_image_masks", located, "background_ids", self._frame_shape)

    # ------------------------------------------------------------------ shape and time

    def get_frame_shape(self) -> tuple[int, int]:
        return self._frame_shape

    def get_num_samples(self) -> int | None:
        """The number of samples every plane shares; None only when the planes have no traces at all."""
        return self._num_samples

    def get_sampling_frequency(self) -> float | None:
        return None if self._sampling_frequency is None else float(self._sampling_frequency)

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        """Plane 0's timestamps, which stand for the volume (as in NWB's single imaging-plane clock)."""
        start, end = checked_window(start_sample, end_sample, self._num_samples, names=("start_sample", "end_sample"))
        return self._segmentations[0].get_native_timestamps(start_sample=start, end_sample=end)

    def has_time_vector(self) -> bool:
        """Whether times were set here, or plane 0 (whose clock stands for the volume) has a time vector."""
        return self._times is not None or self._segmentations[0].has_time_vector()

    def get_timestamps(self, start_sample: int | None = None, end_sample: int | None = None) -> np.ndarray:
        """Times set here, else plane 0's: a sliced view's times start where its planes' do."""
        start, end = checked_window(start_sample, end_sample, self._num_samples, names=("start_sample", "end_sample"))
        if self._times is not None:
            return self._times[start:end]
        return self._segmentations[0].get_timestamps(start_sample=start, end_sample=end)

    # ------------------------------------------------------------------ traces

    def get_traces(
        self,
        roi_ids: Sequence[RoiId] | None = None,
        start_frame: int | None = None,
        end_frame: int | None = None,
        name: str = "raw",
    ) -> np.ndarray | None:
        """Traces (samples, rois) of ROIs across planes, columns in the order asked.

        ``roi_ids`` may mix planes and include background ids (``'background0'``…) for
        background traces. None when no plane has traces called ``name`` (roiextractors'
        convention); refused when only some of the asked planes have them.
        """
        located = self._ids.locate(roi_ids, argument="roi_ids", kinds=("roi", "background"))
        start, end = checked_window(start_frame, end_frame, self._num_samples)
        requests = plan_requests(located)
        pieces: dict[int, np.ndarray] = {}
        missing: list[str] = []
        for plane, request in requests.items():
            traces = self._segmentations[plane].get_traces(
                roi_ids=request.plane_ids, start_frame=start, end_frame=end, name=name
            )
            if traces is None:
                missing.append(self._plane_names[plane])
            else:
                pieces[plane] = np.asarray(traces)
        if missing and not pieces:
            return None
        if missing:
            raise InvalidInputError(
                f"traces {name!r} exist in planes {[self._plane_names[p] for p in pieces]!r} "
                f"but not in {missing!r}; ask those planes' ROIs for a trace type they have"
            )
        window = 0 if end is None else end - start
        return assemble(requests, pieces, len(located), axis=-1, empty_shape=(window, 0))

    def _concatenated_columns(self, name: str, plane_traces: list[dict[str, Any]]) -> list[RoiId] | None:
        """The global ids the columns of an all-plane ``name`` stand for, or None.

        Decided from shapes alone (no reads): one column per ROI in every plane means
        ROI traces, one per background component in every plane means background
        traces. A plane whose counts are equal fits both and leaves the choice to the
        others; if every plane fits both, ``'background'`` traces are taken as
        background components and any other name as ROIs.
        """
        kinds = {"roi", "background"}
        for plane, traces in enumerate(plane_traces):
            data = traces.get(name)
            shape = getattr(data, "shape", None)
            # Without shape and dtype attributes, learning them would mean reading the array.
            if shape is None or len(shape) != 2 or getattr(data, "dtype", None) is None:
                return None
            fits = set()
            if shape[1] == self._ids.plane_num_rois(plane):
                fits.add("roi")
            if shape[1] == self._ids.plane_num_background(plane):
                fits.add("background")
            kinds &= fits
        if not kinds:
            return None
        if len(kinds) == 2:
            kinds = {"background"} if name == "background" else {"roi"}
        return self.get_roi_ids() if kinds == {"roi"} else self.get_background_ids()

    def get_traces_dict(self) -> dict[str, Any]:
        """Every plane's traces, and lazy all-plane windows; nothing is read.

        ``'<name>_<plane name lower-cased>'`` (e.g. ``'raw_plane0'``) is that plane's
        array as the plane gives it (lazy ones stay lazy). ``'<name>'`` is a
        :class:`~segdb.extractors.traces.TraceWindow` whose columns are
        :meth:`get_roi_ids` (or :meth:`get_background_ids` for background traces),
        or None when not every plane has ``name`` with one column per ROI (or every
        plane one per background component), as told by the arrays' ``shape`` alone.
        """
        plane_traces = [dict(plane.get_traces_dict()) for plane in self._segmentations]
        combined: dict[str, Any] = {}
        per_plane: dict[str, Any] = {}
        for plane_name, traces in zip(self._plane_names, plane_traces):
            for trace_name, data in traces.items():
                per_plane[f"{trace_name}_{plane_name.lower()}"] = data
                if trace_name in combined:
                    continue
                columns = self._concatenated_columns(trace_name, plane_traces)
                if columns is None:
                    combined[trace_name] = None
                else:
                    dtype = common_dtype(t[trace_name] for t in plane_traces)
                    combined[trace_name] = TraceWindow(self, trace_name, columns, dtype)
        return {**combined, **per_plane}

    # ------------------------------------------------------------------ images

    def get_images_dict(self) -> dict[str, Any]:
        """``'<image name>_<plane name lower-cased>'`` (e.g. ``'correlation_plane0'``) -> that plane's image."""
        images: dict[str, Any] = {}
        for plane_name, plane in zip(self._plane_names, self._segmentations):
            for image_name, image in plane.get_images_dict().items():
                images[f"{image_name}_{plane_name.lower()}"] = image
        return images

    def get_images(self, name: str = "correlation_plane0") -> Any:
        """One plane's (height, width) image by its plane-suffixed name, e.g. ``'mean_plane1'``."""
        suffixed = sorted(
            ((f"_{plane_name.lower()}", index) for index, plane_name in enumerate(self._plane_names)),
            key=lambda item: -len(item[0]),
        )
        # Longest suffix first: with planes 'a' and 'b_a', 'mean_b_a' belongs to 'b_a'.
        for suffix, index in suffixed:
            if name.endswith(suffix):
                image_name = name[: -len(suffix)]
                plane = self._segmentations[index]
                if image_name in plane.get_images_dict():
                    return plane.get_image(image_name)
        raise InvalidInputError(
            f"no image {name!r}; images are {sorted(self.get_images_dict())!r} "
            "('<image name>_<plane name lower-cased>')"
        )

    def get_image(self, name: str = "correlation_plane0") -> Any:
        """One plane's image by its plane-suffixed name (see :meth:`get_images`)."""
        return self.get_images(name)

    # ------------------------------------------------------------------ channels

    def get_channel_names(self) -> list[str]:
        """The channels of all planes, each once, in first-seen order; roiextractors' default if none names one."""
        names: list[str] = []
        for plane in self._segmentations:
            # roiextractors 0.10's base class has no get_channel_names.
            getter = getattr(plane, "get_channel_names", None)
            for channel in (getter() if callable(getter) else None) or []:
                if channel not in names:
                    names.append(channel)
        return names or [DEFAULT_CHANNEL_NAME]

    def get_num_channels(self) -> int:
        return len(self.get_channel_names())

    # ------------------------------------------------------------------ properties

    def _common_plane_property_keys(self) -> list[str]:
        keys = list(self._segmentations[0].get_property_keys())
        for plane in self._segmentations[1:]:
            present = set(plane.get_property_keys())
            keys = [key for key in keys if key in present]
        return keys

    def get_property_keys(self) -> list[str]:
        """Properties set on this extractor, then those every plane has."""
        own = list(self._properties)
        return own + [key for key in self._common_plane_property_keys() if key not in own]

    def get_property(self, key: str, ids: Sequence[int]) -> np.ndarray:
        """Values for global ROI ids, in the order asked: this extractor's own property, else each plane's."""
        if key in self._properties:
            return super().get_property(key, ids)
        located = self._ids.locate(as_id_list(ids, "ids"), argument="ids")
        requests = plan_requests(located)
        pieces: dict[int, np.ndarray] = {}
        for plane, request in requests.items():
            segmentation = self._segmentations[plane]
            if key not in segmentation.get_property_keys():
                raise NotFoundError(
                    f"property {key!r} is not on plane {self._plane_names[plane]}; "
                    f"properties over all ROIs: {self.get_property_keys()!r}"
                )
            pieces[plane] = np.asarray(segmentation.get_property(key, request.plane_ids))
        return assemble(requests, pieces, len(located), axis=0, empty_shape=(0,))

    def get_property_info(self, key: str) -> Any:
        """Values over :meth:`get_roi_ids` with a description (plane 0's, for a property read from the planes)."""
        if key in self._properties:
            return super().get_property_info(key)
        if key not in self._common_plane_property_keys():
            raise NotFoundError(
                f"property {key!r} is not on every plane; properties over all ROIs: {self.get_property_keys()!r}"
            )
        description_source = self._segmentations[0].get_property_info(key)
        return dataclasses.replace(description_source, data=self.get_property(key, self.get_roi_ids()))

    # ------------------------------------------------------------------ curation (deprecated in roiextractors)

    def _curated_ids(self, accepted: bool) -> list[int]:
        roi_ids = self.get_roi_ids()
        requests = plan_requests(self.get_plane_roi_ids(roi_ids))
        flags = {
            plane: plane_flags(self._segmentations[plane], request.plane_ids, accepted=accepted)
            for plane, request in requests.items()
        }
        chosen = assemble(requests, flags, len(roi_ids), axis=0, empty_shape=(0,))
        return [roi_id for roi_id, flag in zip(roi_ids, chosen) if flag]

    def get_accepted_list(self) -> list[int]:
        """Global ids of accepted ROIs, each plane deciding (see :func:`~segdb.extractors.acceptance.plane_flags`)."""
        warn_curation_list_deprecated("get_accepted_list")
        return self._curated_ids(accepted=True)

    def get_rejected_list(self) -> list[int]:
        """Global ids of rejected ROIs, each plane deciding (see :func:`~segdb.extractors.acceptance.plane_flags`)."""
        warn_curation_list_deprecated("get_rejected_list")
        return self._curated_ids(accepted=False)

    # ------------------------------------------------------------------ narrower views

    def slice_samples(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> MultiSegmentationExtractor:
        """The same planes over samples ``start_sample:end_sample``, each sliced by its own ``slice_samples``.

        Global ids, the ROI selection, properties set here and set times carry over;
        sample indices restart at 0.
        """
        start, end = checked_window(
            start_sample, end_sample, self._num_samples, names=("start_sample", "end_sample"), allow_empty=False
        )
        sliced = copy.copy(self)
        sliced._segmentations = [plane.slice_samples(start_sample=start, end_sample=end) for plane in self._segmentations]
        sliced._num_samples = self._common_value(
            "number of samples", [plane.get_num_samples() for plane in sliced._segmentations], operator.eq
        )
        # Same copy-on-write sharing as roiextractors' slices: set_property rebinds keys.
        sliced._properties = dict(self._properties)
        if self._times is not None:
            sliced._times = self._times[start:end]
        return sliced

    def select_rois(self, roi_ids: Sequence[RoiId]) -> MultiSegmentationExtractor:
        """The same planes restricted to some ROIs, keeping their global ids, in the order given; nothing is read.

        As in roiextractors, background components are kept only if their ids
        (``'background0'``…) are in ``roi_ids``.
        """
        requested = as_id_list(roi_ids, "roi_ids")
        if not requested:
            raise InvalidInputError(f"roi_ids is empty; give some of this extractor's ids ({self._ids.held_rois()})")
        self._ids.locate(requested, argument="roi_ids", kinds=("roi", "background"))
        refuse_repeated(requested, "roi_ids")
        cells = [int(i) for i in requested if not isinstance(i, str)]
        backgrounds = [i for i in requested if isinstance(i, str)]

        selected = copy.copy(self)
        selected._ids = self._ids.select(cells, backgrounds)
        # Properties set here are stored in get_roi_ids() order; keep the chosen rows.
        current_positions = {roi_id: position for position, roi_id in enumerate(self.get_roi_ids())}
        rows = [current_positions[roi_id] for roi_id in cells]
        selected._properties = {
            key: dataclasses.replace(info, data=info.data[rows]) for key, info in self._properties.items()
        }
        return selected

    def __repr__(self) -> str:
        return (
            f"MultiSegmentationExtractor(planes={self._plane_names!r}, num_rois={self.get_num_rois()}, "
            f"num_samples={self._num_samples}, frame_shape={self._frame_shape})"
        )


def _checked_plane_names(plane_names: Sequence[str] | None, num_planes: int) -> list[str]:
    if plane_names is None:
        return [f"Plane{index}" for index in range(num_planes)]
    if isinstance(plane_names, str):
        raise TypeError(f"plane_names must be a list of str, one per plane; got the single str {plane_names!r}")
    names = list(plane_names)
    if len(names) != num_planes:
        raise InvalidInputError(
            f"plane_names has {len(names)} names ({names!r}) but there are {num_planes} planes; "
            "give one name per plane or leave plane_names out"
        )
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"plane names must be non-empty str; got {name!r} in {names!r}")
    suffixes = [name.lower() for name in names]
    clashes = sorted({name for name, suffix in zip(names, suffixes) if suffixes.count(suffix) > 1})
    if clashes:
        raise InvalidInputError(
            f"plane names {clashes!r} are the same once lower-cased; they must differ, because "
            "'_' + the lower-cased name suffixes every image and trace key"
        )
    return names


__all__ = ["MultiSegmentationExtractor"]
