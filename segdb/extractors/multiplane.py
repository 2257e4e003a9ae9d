"""One segmentation extractor over the planes of a multi-plane acquisition.

A two-photon rig that scans several planes in turn yields one segmentation per
plane: same session, same clock, same field of view size. Analysis and NWB writers
want them as a single ``SegmentationExtractor``; :class:`MultiSegmentationExtractor`
is that view. It holds the per-plane extractors, numbers every ROI with one global
id, and forwards each request to the planes that hold the asked-for ROIs, using
only their public methods, so it works over roiextractors' own extractors and
segdb's archive extractors alike.

roiextractors 0.9 shipped a class of this name that could not be instantiated and
0.10 dropped it; this one keeps its intended behaviour and is segdb's reference.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import math
import numbers
import operator
import re
import warnings
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
from roiextractors import SegmentationExtractor

from segdb.errors import InvalidInputError, NotFoundError

RoiId = int | str
PlaneRoi = tuple[int, Hashable]
"""(plane index, the ROI id that plane uses) for one global id."""

# Where a plane has no get_accepted_list / get_rejected_list (roiextractors 0.10's
# base class has neither), these boolean properties carry the same decision: CaImAn
# and the Numpy extractor write "is_accepted" / "is_rejected", Suite2p writes "iscell".
ACCEPTED_PROPERTY_KEYS: tuple[str, ...] = ("is_accepted", "accepted", "iscell")
REJECTED_PROPERTY_KEYS: tuple[str, ...] = ("is_rejected", "rejected")

# roiextractors' base class names the channel of an extractor that says nothing else.
DEFAULT_CHANNEL_NAME = "OpticalChannel"

_BACKGROUND_ID = re.compile(r"background(\d+)")
_SHOWN_IDS = 10


def _show_ids(ids: Sequence[Any]) -> str:
    """Render a list of ids for an error message without flooding it."""
    # numpy scalars print as np.int64(3); a reader wants 3.
    ids = [i.item() if isinstance(i, np.generic) else i for i in ids]
    if len(ids) <= _SHOWN_IDS:
        return repr(list(ids))
    head = ", ".join(repr(i) for i in ids[:_SHOWN_IDS])
    return f"[{head}, … and {len(ids) - _SHOWN_IDS} more]"


def _is_index(value: Any) -> bool:
    # bool is an Integral, but True as a ROI id or a frame index is always a mistake.
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _common_dtype(arrays: Iterable[Any]) -> np.dtype:
    """The dtype that holds every piece; object when numpy cannot promote (str with int)."""
    dtypes = [np.dtype(a.dtype) for a in arrays]
    if not dtypes:
        return np.dtype(float)
    try:
        return np.result_type(*dtypes)
    except TypeError:
        return np.dtype(object)


@dataclasses.dataclass(frozen=True)
class _PlaneRequest:
    """What one plane must be asked for, and where its answers go in the output.

    ``plane_ids`` are that plane's own ids, each once; answer ``columns[k]`` of the
    plane goes to output position ``positions[k]``.
    """

    plane_ids: list[Hashable]
    positions: np.ndarray
    columns: np.ndarray


def _plan_requests(located: Sequence[PlaneRoi]) -> dict[int, _PlaneRequest]:
    """Group located ids by plane, keeping each plane's ids unique and in first-seen order.

    Asking each plane once, for each id once, is what keeps reads proportional to the
    request even when the caller interleaves planes or repeats ids.
    """
    plane_ids: dict[int, list[Hashable]] = {}
    index_in_plane: dict[int, dict[Hashable, int]] = {}
    positions: dict[int, list[int]] = {}
    columns: dict[int, list[int]] = {}
    for position, (plane, plane_id) in enumerate(located):
        seen = index_in_plane.setdefault(plane, {})
        if plane_id not in seen:
            seen[plane_id] = len(seen)
            plane_ids.setdefault(plane, []).append(plane_id)
        positions.setdefault(plane, []).append(position)
        columns.setdefault(plane, []).append(seen[plane_id])
    return {
        plane: _PlaneRequest(
            plane_ids=plane_ids[plane],
            positions=np.asarray(positions[plane], dtype=np.intp),
            columns=np.asarray(columns[plane], dtype=np.intp),
        )
        for plane in plane_ids
    }


class ConcatenatedTraces:
    """A lazy (num_samples, num_rois) array of one trace type across all planes.

    Column ``k`` is global id ``roi_ids[k]`` of the :class:`MultiSegmentationExtractor`
    that made it. Nothing is read when it is made; indexing reads only the asked-for
    samples of the asked-for ROIs, through :meth:`MultiSegmentationExtractor.get_traces`.
    Supports ``view[rows, cols]`` with ints, slices and integer lists, ``len``, ``shape``,
    ``dtype`` and ``np.asarray(view)`` (which reads everything).

    Parameters
    ----------
    extractor : MultiSegmentationExtractor
        The extractor whose planes hold the traces.
    name : str
        Trace type, e.g. ``"raw"``.
    roi_ids : list of int or str
        Global ids, one per column.
    dtype : numpy.dtype
        Dtype of the assembled array.
    """

    def __init__(
        self,
        extractor: MultiSegmentationExtractor,
        name: str,
        roi_ids: Sequence[RoiId],
        dtype: np.dtype,
    ) -> None:
        self._extractor = extractor
        self.name = name
        self.roi_ids = list(roi_ids)
        self.dtype = np.dtype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        """(num_samples, num_rois)."""
        return (self._extractor.get_num_samples() or 0, len(self.roi_ids))

    @property
    def ndim(self) -> int:
        """Always 2."""
        return 2

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"ConcatenatedTraces(name={self.name!r}, shape={self.shape}, dtype={self.dtype})"

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = self[:, :]
        return data if dtype is None else data.astype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple) and len(key) != 2:
            raise IndexError(f"ConcatenatedTraces is 2-D; got {len(key)} indices")
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        num_samples, num_columns = self.shape

        column_positions = np.arange(num_columns)[cols]
        wanted_ids = [self.roi_ids[int(c)] for c in np.atleast_1d(column_positions)]

        if _is_index(rows):
            row = int(rows) + num_samples if rows < 0 else int(rows)
            if not 0 <= row < num_samples:
                raise IndexError(f"sample {rows} is out of range for {num_samples} samples")
            data = self._read(wanted_ids, row, row + 1)[0]
        else:
            row_indices = np.arange(num_samples)[rows]
            if row_indices.size == 0:
                data = np.empty((0, len(wanted_ids)), dtype=self.dtype)
            else:
                # Read the smallest window that covers the rows, then pick: one read
                # per plane, whatever the stride.
                first, last = int(row_indices.min()), int(row_indices.max()) + 1
                block = self._read(wanted_ids, first, last)
                contiguous = np.array_equal(row_indices, np.arange(first, last))
                data = block if contiguous else block[row_indices - first]
        if np.ndim(column_positions) == 0:
            data = data[..., 0]
        return data

    def _read(self, roi_ids: list[RoiId], start: int, end: int) -> np.ndarray:
        data = self._extractor.get_traces(roi_ids=roi_ids, start_frame=start, end_frame=end, name=self.name)
        return np.asarray(data, dtype=self.dtype)


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
        otherwise construction raises ``ValueError`` naming the planes and values.

    Every method that takes ROI ids returns results in the order asked, mixing
    planes freely, and raises ``ValueError`` listing any id it does not know.

    Parameters
    ----------
    segmentation_extractors_list : sequence of SegmentationExtractor
        One extractor per plane, in plane order.
    plane_names : sequence of str, optional
        One name per plane; defaults to ``'Plane0'``, ``'Plane1'``, …. Names must
        stay distinct once lower-cased, since they become key suffixes.

    Raises
    ------
    ValueError
        No planes; ``plane_names`` of the wrong length or with clashing names;
        planes that disagree on samples, sampling frequency or frame shape.
    TypeError
        An element that is not a ``SegmentationExtractor``.

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
        self._plane_names: list[str] = self._checked_plane_names(plane_names, len(planes))
        self._num_planes = len(planes)

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
        self._plane_roi_ids: list[list[Hashable]] = [list(plane.get_roi_ids()) for plane in planes]
        self._plane_background_ids: list[list[Hashable]] = [list(plane.get_background_ids()) for plane in planes]
        self._roi_offsets: list[int] = np.cumsum([0] + [len(ids) for ids in self._plane_roi_ids]).tolist()
        self._background_offsets: list[int] = np.cumsum([0] + [len(ids) for ids in self._plane_background_ids]).tolist()

        # None means "all of them"; select_rois() narrows these (order kept).
        self._selected_roi_ids: list[int] | None = None
        self._selected_roi_set: frozenset[int] | None = None
        self._selected_background_ids: list[str] | None = None
        self._selected_background_set: frozenset[str] | None = None

    # ------------------------------------------------------------------ construction checks

    @staticmethod
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
        """Get the number of planes.

        Returns
        -------
        int
            Number of per-plane extractors combined.
        """
        return len(self._segmentations)

    def _plane_index(self, plane: int | str) -> int:
        if isinstance(plane, str):
            if plane not in self._plane_names:
                raise InvalidInputError(f"no plane named {plane!r}; planes are {self._plane_names!r}")
            return self._plane_names.index(plane)
        if not _is_index(plane) or not 0 <= plane < len(self._segmentations):
            raise InvalidInputError(
                f"plane {plane!r} is not a plane index (0..{len(self._segmentations) - 1}) "
                f"or a plane name ({self._plane_names!r})"
            )
        return int(plane)

    # ------------------------------------------------------------------ id mapping

    def _is_known_roi(self, roi_id: Any) -> bool:
        if not _is_index(roi_id) or not 0 <= roi_id < self._roi_offsets[-1]:
            return False
        return self._selected_roi_set is None or int(roi_id) in self._selected_roi_set

    def _background_number(self, background_id: Any) -> int | None:
        """The k of a known 'background<k>', or None."""
        if not isinstance(background_id, str):
            return None
        match = _BACKGROUND_ID.fullmatch(background_id)
        if match is None or int(match.group(1)) >= self._background_offsets[-1]:
            return None
        if self._selected_background_set is not None and background_id not in self._selected_background_set:
            return None
        return int(match.group(1))

    def _locate_roi(self, roi_id: int) -> PlaneRoi:
        global_index = int(roi_id)
        plane = bisect.bisect_right(self._roi_offsets, global_index) - 1
        return plane, self._plane_roi_ids[plane][global_index - self._roi_offsets[plane]]

    def _locate_background(self, number: int) -> PlaneRoi:
        plane = bisect.bisect_right(self._background_offsets, number) - 1
        return plane, self._plane_background_ids[plane][number - self._background_offsets[plane]]

    def _valid_roi_ids_text(self) -> str:
        total = self._roi_offsets[-1]
        if self._selected_roi_ids is None:
            span = f"0..{total - 1}" if total else "none"
            return f"it has {total} ROIs over {self.get_num_planes()} planes: {span}"
        return f"it has {len(self._selected_roi_ids)} selected ROIs: {_show_ids(self._selected_roi_ids)}"

    def _valid_background_ids_text(self) -> str:
        ids = self.get_background_ids()
        return f"it has {len(ids)} background components: {_show_ids(ids)}"

    @staticmethod
    def _as_id_list(ids: Any, argument: str) -> list[Any]:
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise TypeError(f"{argument} must be a list or 1-D array of ids; got {ids!r}")
        return list(ids)

    def _resolve(
        self,
        ids: Any,
        *,
        argument: str,
        kinds: tuple[Literal["roi", "background"], ...],
    ) -> list[PlaneRoi]:
        """Map global ids to (plane, plane's id), refusing unknown ids by name."""
        if ids is None:
            ids = self.get_roi_ids() if kinds[0] == "roi" else self.get_background_ids()
        ids = self._as_id_list(ids, argument)
        located: list[PlaneRoi] = []
        unknown: list[Any] = []
        for roi_id in ids:
            if "roi" in kinds and self._is_known_roi(roi_id):
                located.append(self._locate_roi(roi_id))
                continue
            number = self._background_number(roi_id) if "background" in kinds else None
            if number is not None:
                located.append(self._locate_background(number))
            else:
                unknown.append(roi_id)
        if unknown:
            valid = []
            if "roi" in kinds:
                valid.append(self._valid_roi_ids_text())
            # Background ids are worth listing where they are the point or where there are some.
            if kinds == ("background",) or ("background" in kinds and self.get_num_background_components()):
                valid.append(self._valid_background_ids_text())
            noun = "ROI ids" if kinds == ("roi",) else ("background ids" if kinds == ("background",) else "ids")
            raise InvalidInputError(
                f"{noun} {_show_ids(unknown)} in {argument} are not in this MultiSegmentationExtractor "
                f"({'; '.join(valid)})"
            )
        return located

    def get_plane_roi_ids(self, roi_ids: Sequence[int] | None = None) -> list[PlaneRoi]:
        """Get the (plane index, plane's own ROI id) behind global ROI ids.

        Parameters
        ----------
        roi_ids : sequence of int, optional
            Global ROI ids; all of them (in :meth:`get_roi_ids` order) when omitted.

        Returns
        -------
        list of tuple
            ``(plane_index, plane_roi_id)`` per requested id, in the order asked.
        """
        return self._resolve(roi_ids, argument="roi_ids", kinds=("roi",))

    def get_roi_id_map(self) -> dict[int, PlaneRoi]:
        """Get the whole global id -> (plane index, plane's own ROI id) map.

        Returns
        -------
        dict
            One entry per ROI of :meth:`get_roi_ids`, in that order.
        """
        roi_ids = self.get_roi_ids()
        return dict(zip(roi_ids, self.get_plane_roi_ids(roi_ids)))

    def get_global_roi_id(self, plane: int | str, plane_roi_id: Hashable) -> int:
        """Get the global id of a plane's ROI.

        Parameters
        ----------
        plane : int or str
            Plane index or plane name.
        plane_roi_id : int or str
            The id that plane's own extractor uses for the ROI.

        Returns
        -------
        int
            Its global id.
        """
        index = self._plane_index(plane)
        own_ids = self._plane_roi_ids[index]
        try:
            global_id = self._roi_offsets[index] + own_ids.index(plane_roi_id)
        except ValueError:
            raise InvalidInputError(
                f"ROI {plane_roi_id!r} is not in plane {self._plane_names[index]} "
                f"(its ROI ids are {_show_ids(own_ids)})"
            ) from None
        if not self._is_known_roi(global_id):
            raise InvalidInputError(
                f"ROI {plane_roi_id!r} of plane {self._plane_names[index]} (global id {global_id}) "
                f"is not among this extractor's selected ROIs ({self._valid_roi_ids_text()})"
            )
        return global_id

    # ------------------------------------------------------------------ ROIs

    def get_roi_ids(self) -> list[int]:
        """Get the global ROI ids.

        Returns
        -------
        list of int
            ``0..N-1`` across planes in plane order, or the ids kept by :meth:`select_rois`
            in the order given there.
        """
        if self._selected_roi_ids is not None:
            return list(self._selected_roi_ids)
        return list(range(self._roi_offsets[-1]))

    def get_num_rois(self) -> int:
        """Get the number of ROIs over all planes.

        Returns
        -------
        int
            Length of :meth:`get_roi_ids`.
        """
        if self._selected_roi_ids is not None:
            return len(self._selected_roi_ids)
        return self._roi_offsets[-1]

    def get_background_ids(self) -> list[str]:
        """Get the global background component ids.

        Returns
        -------
        list of str
            ``'background0'``… across planes in plane order (plane 0's components
            first), or those kept by :meth:`select_rois`.
        """
        if self._selected_background_ids is not None:
            return list(self._selected_background_ids)
        return [f"background{number}" for number in range(self._background_offsets[-1])]

    def get_num_background_components(self) -> int:
        """Get the number of background components over all planes.

        Returns
        -------
        int
            Length of :meth:`get_background_ids`.
        """
        return len(self.get_background_ids())

    def _gather_lists(self, method: str, located: list[PlaneRoi], argument: str) -> list[np.ndarray]:
        out: list[Any] = [None] * len(located)
        for plane, request in _plan_requests(located).items():
            answers = getattr(self._segmentations[plane], method)(**{argument: request.plane_ids})
            for position, column in zip(request.positions, request.columns):
                out[position] = answers[column]
        return out

    def _gather_last_axis(
        self, method: str, located: list[PlaneRoi], argument: str, leading: tuple[int, ...]
    ) -> np.ndarray:
        requests = _plan_requests(located)
        pieces = {
            plane: np.asarray(getattr(self._segmentations[plane], method)(**{argument: request.plane_ids}))
            for plane, request in requests.items()
        }
        out = np.zeros((*leading, len(located)), dtype=_common_dtype(pieces.values()))
        for plane, request in requests.items():
            out[..., request.positions] = pieces[plane][..., request.columns]
        return out

    def get_roi_pixel_masks(self, roi_ids: Sequence[int] | None = None) -> list[np.ndarray]:
        """Get the pixel masks of ROIs, each plane's mask as that plane gives it.

        Parameters
        ----------
        roi_ids : sequence of int, optional
            Global ROI ids; all when omitted.

        Returns
        -------
        list of numpy.ndarray
            One (num_pixels, 3) array of ``[row, col, weight]`` per requested id, in order.
        """
        located = self._resolve(roi_ids, argument="roi_ids", kinds=("roi",))
        return self._gather_lists("get_roi_pixel_masks", located, "roi_ids")

    def get_roi_image_masks(self, roi_ids: Sequence[int] | None = None) -> np.ndarray:
        """Get the image masks of ROIs.

        Parameters
        ----------
        roi_ids : sequence of int, optional
            Global ROI ids; all when omitted.

        Returns
        -------
        numpy.ndarray
            (height, width, len(roi_ids)), masks in the order asked.
        """
        located = self._resolve(roi_ids, argument="roi_ids", kinds=("roi",))
        return self._gather_last_axis("get_roi_image_masks", located, "roi_ids", self._frame_shape)

    def get_roi_locations(self, roi_ids: Sequence[int] | None = None) -> np.ndarray:
        """Get the ROI centroids as each plane computes them.

        .. deprecated::
            As in roiextractors, ``get_roi_locations`` is deprecated and will be removed
            in or after September 2026; use ``get_property("roi_centroids", roi_ids)``.

        Parameters
        ----------
        roi_ids : sequence of int, optional
            Global ROI ids; all when omitted.

        Returns
        -------
        numpy.ndarray
            (2, len(roi_ids)): row 0 the pixel row, row 1 the pixel column, in the order asked.
        """
        warnings.warn(
            "get_roi_locations is deprecated and will be removed in or after September 2026. "
            "Use get_property('roi_centroids', roi_ids) instead.",
            FutureWarning,
            stacklevel=2,
        )
        located = self._resolve(roi_ids, argument="roi_ids", kinds=("roi",))
        # One warning, pointing at the caller, rather than one per plane pointing here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._gather_last_axis("get_roi_locations", located, "roi_ids", (2,))

    def get_background_pixel_masks(self, background_ids: Sequence[str] | None = None) -> list[np.ndarray]:
        """Get the pixel masks of background components.

        Parameters
        ----------
        background_ids : sequence of str, optional
            Global background ids (``'background0'``…); all when omitted.

        Returns
        -------
        list of numpy.ndarray
            One (num_pixels, 3) ``[row, col, weight]`` array per requested id, in order.
        """
        located = self._resolve(background_ids, argument="background_ids", kinds=("background",))
        return self._gather_lists("get_background_pixel_masks", located, "background_ids")

    def get_background_image_masks(self, background_ids: Sequence[str] | None = None) -> np.ndarray:
        """Get the image masks of background components.

        Parameters
        ----------
        background_ids : sequence of str, optional
            Global background ids (``'background0'``…); all when omitted.

        Returns
        -------
        numpy.ndarray
            (height, width, len(background_ids)), in the order asked.
        """
        located = self._resolve(background_ids, argument="background_ids", kinds=("background",))
        return self._gather_last_axis("get_background_image_masks", located, "background_ids", self._frame_shape)

    # ------------------------------------------------------------------ time

    def get_frame_shape(self) -> tuple[int, int]:
        """Get the frame shape every plane shares.

        Returns
        -------
        tuple of int
            (height, width).
        """
        return self._frame_shape

    def get_num_samples(self) -> int | None:
        """Get the number of samples every plane shares.

        Returns
        -------
        int or None
            None only when the planes have no traces at all.
        """
        return self._num_samples

    def get_sampling_frequency(self) -> float | None:
        """Get the sampling frequency every plane shares.

        Returns
        -------
        float or None
            In Hz; None when the planes do not know it.
        """
        return None if self._sampling_frequency is None else float(self._sampling_frequency)

    def get_native_timestamps(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> np.ndarray | None:
        """Get the timestamps of plane 0, which stand for the volume.

        Planes of one volume are scanned a fraction of a frame apart; the first
        plane's times are the volume's, as in NWB's single imaging-plane clock.

        Parameters
        ----------
        start_sample, end_sample : int, optional
            Sample window, end exclusive.

        Returns
        -------
        numpy.ndarray or None
            Seconds, or None when plane 0 has no native timestamps.
        """
        start_sample, end_sample = self._checked_window(start_sample, end_sample, "start_sample", "end_sample")
        return self._segmentations[0].get_native_timestamps(start_sample=start_sample, end_sample=end_sample)

    def _checked_window(
        self, start: int | None, end: int | None, start_name: str, end_name: str
    ) -> tuple[int | None, int | None]:
        for value, argument in ((start, start_name), (end, end_name)):
            if value is not None and not _is_index(value):
                raise TypeError(f"{argument} must be an int or None; got {value!r}")
        num_samples = self._num_samples
        if num_samples is None:
            return start, end
        for value, argument in ((start, start_name), (end, end_name)):
            if value is not None and not 0 <= value <= num_samples:
                raise InvalidInputError(
                    f"{argument}={value} is outside 0..{num_samples} (the planes have {num_samples} samples)"
                )
        if start is not None and end is not None and start > end:
            raise InvalidInputError(f"{start_name}={start} is after {end_name}={end}")
        return (None if start is None else int(start)), (None if end is None else int(end))

    # ------------------------------------------------------------------ traces

    def get_traces(
        self,
        roi_ids: Sequence[RoiId] | None = None,
        start_frame: int | None = None,
        end_frame: int | None = None,
        name: str = "raw",
    ) -> np.ndarray | None:
        """Get traces of ROIs across planes.

        Parameters
        ----------
        roi_ids : sequence of int or str, optional
            Global ROI ids, in any order and mixing planes; background ids
            (``'background0'``…) are accepted for background traces. All ROIs when omitted.
        start_frame, end_frame : int, optional
            Sample window, end exclusive; the whole recording when omitted.
        name : str
            Trace type: ``'raw'``, ``'dff'``, ``'neuropil'``, ``'deconvolved'``, ….

        Returns
        -------
        numpy.ndarray or None
            (num_samples in window, len(roi_ids)), columns in the order asked. None when
            no plane has traces called ``name`` (roiextractors' convention).

        Raises
        ------
        ValueError
            Unknown ids; a window outside the recording; ``name`` present in some
            of the asked planes but not in others.
        """
        located = self._resolve(roi_ids, argument="roi_ids", kinds=("roi", "background"))
        start_frame, end_frame = self._checked_window(start_frame, end_frame, "start_frame", "end_frame")
        window = len(range(self._num_samples or 0)[start_frame:end_frame])
        requests = _plan_requests(located)
        pieces: dict[int, np.ndarray] = {}
        missing: list[str] = []
        for plane, request in requests.items():
            traces = self._segmentations[plane].get_traces(
                roi_ids=request.plane_ids, start_frame=start_frame, end_frame=end_frame, name=name
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
        if pieces:
            window = next(iter(pieces.values())).shape[0]
        out = np.empty((window, len(located)), dtype=_common_dtype(pieces.values()))
        for plane, request in requests.items():
            out[:, request.positions] = pieces[plane][:, request.columns]
        return out

    def _concatenated_columns(self, name: str, plane_traces: list[dict[str, Any]]) -> list[RoiId] | None:
        """The global ids the columns of a concatenated ``name`` stand for, or None.

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
            if shape[1] == len(self._plane_roi_ids[plane]):
                fits.add("roi")
            if shape[1] == len(self._plane_background_ids[plane]):
                fits.add("background")
            kinds &= fits
        if not kinds:
            return None
        if len(kinds) == 2:
            kinds = {"background"} if name == "background" else {"roi"}
        return self.get_roi_ids() if kinds == {"roi"} else self.get_background_ids()

    def get_traces_dict(self) -> dict[str, Any]:
        """Get every plane's traces, plus lazy all-plane views.

        Nothing is read: plane arrays are handed on as the planes give them (lazy
        ones stay lazy) and the all-plane entries are :class:`ConcatenatedTraces` views.

        Returns
        -------
        dict
            ``'<name>_<plane name lower-cased>'`` (e.g. ``'raw_plane0'``) -> that plane's
            array (or None, as the plane reports it), for every plane; and ``'<name>'``
            -> a :class:`ConcatenatedTraces` whose columns are :meth:`get_roi_ids` (or
            :meth:`get_background_ids` for background traces), or None when not every
            plane has ``name`` with one column per ROI (or every plane one column per
            background component), as told by the arrays' ``shape`` alone.
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
                    dtype = _common_dtype(t[trace_name] for t in plane_traces)
                    combined[trace_name] = ConcatenatedTraces(self, trace_name, columns, dtype)
        return {**combined, **per_plane}

    # ------------------------------------------------------------------ images

    def get_images_dict(self) -> dict[str, Any]:
        """Get every plane's summary images under plane-suffixed names.

        Returns
        -------
        dict
            ``'<image name>_<plane name lower-cased>'`` (e.g. ``'correlation_plane0'``)
            -> that plane's (height, width) image, as the plane gives it.
        """
        images: dict[str, Any] = {}
        for plane_name, plane in zip(self._plane_names, self._segmentations):
            for image_name, image in plane.get_images_dict().items():
                images[f"{image_name}_{plane_name.lower()}"] = image
        return images

    def get_images(self, name: str = "correlation_plane0") -> Any:
        """Get one plane's summary image by its plane-suffixed name.

        Parameters
        ----------
        name : str
            ``'<image name>_<plane name lower-cased>'``, e.g. ``'mean_plane1'``.

        Returns
        -------
        numpy.ndarray
            (height, width).

        Raises
        ------
        ValueError
            ``name`` is not one of :meth:`get_images_dict`'s keys (they are listed).
        """
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
        """Get one plane's summary image by its plane-suffixed name (see :meth:`get_images`).

        Parameters
        ----------
        name : str
            ``'<image name>_<plane name lower-cased>'``, e.g. ``'correlation_plane0'``.

        Returns
        -------
        numpy.ndarray
            (height, width).
        """
        return self.get_images(name)

    # ------------------------------------------------------------------ channels

    def get_channel_names(self) -> list[str]:
        """Get the channel names of all planes, each once, in first-seen order.

        Planes without ``get_channel_names`` (roiextractors 0.10's base class has
        none) contribute nothing; if no plane names a channel, roiextractors'
        default ``['OpticalChannel']`` is returned.

        Returns
        -------
        list of str
        """
        names: list[str] = []
        for plane in self._segmentations:
            getter = getattr(plane, "get_channel_names", None)
            for channel in (getter() if callable(getter) else None) or []:
                if channel not in names:
                    names.append(channel)
        return names or [DEFAULT_CHANNEL_NAME]

    def get_num_channels(self) -> int:
        """Get the number of distinct channels over all planes.

        Returns
        -------
        int
            Length of :meth:`get_channel_names`.
        """
        return len(self.get_channel_names())

    # ------------------------------------------------------------------ properties

    def _common_plane_property_keys(self) -> list[str]:
        keys = list(self._segmentations[0].get_property_keys())
        for plane in self._segmentations[1:]:
            present = set(plane.get_property_keys())
            keys = [key for key in keys if key in present]
        return keys

    def get_property_keys(self) -> list[str]:
        """Get the property names available over all ROIs.

        Returns
        -------
        list of str
            Properties set on this extractor with :meth:`set_property`, then those
            every plane has (read through from the planes).
        """
        own = list(self._properties)
        return own + [key for key in self._common_plane_property_keys() if key not in own]

    def get_property(self, key: str, ids: Sequence[int]) -> np.ndarray:
        """Get property values of ROIs.

        A property set on this extractor wins; otherwise each plane's own property
        of that name is read for its ROIs.

        Parameters
        ----------
        key : str
            Property name.
        ids : sequence of int
            Global ROI ids, in any order.

        Returns
        -------
        numpy.ndarray
            One value (or row) per id, in the order asked.

        Raises
        ------
        KeyError
            A plane holding an asked ROI has no property ``key``.
        ValueError
            Unknown ids.
        """
        if key in self._properties:
            return super().get_property(key, ids)
        located = self._resolve(self._as_id_list(ids, "ids"), argument="ids", kinds=("roi",))
        requests = _plan_requests(located)
        pieces: dict[int, np.ndarray] = {}
        for plane, request in requests.items():
            segmentation = self._segmentations[plane]
            if key not in segmentation.get_property_keys():
                raise NotFoundError(
                    f"property {key!r} is not on plane {self._plane_names[plane]}; "
                    f"properties over all ROIs: {self.get_property_keys()!r}"
                )
            pieces[plane] = np.asarray(segmentation.get_property(key, request.plane_ids))
        trailing = next(iter(pieces.values())).shape[1:] if pieces else ()
        out = np.empty((len(located), *trailing), dtype=_common_dtype(pieces.values()))
        for plane, request in requests.items():
            out[request.positions] = pieces[plane][request.columns]
        return out

    def get_property_info(self, key: str) -> Any:
        """Get a property's values over all ROIs with its description.

        Parameters
        ----------
        key : str
            Property name.

        Returns
        -------
        roiextractors' property info
            ``data`` over :meth:`get_roi_ids`; for a property read from the planes,
            ``description`` is plane 0's.
        """
        if key in self._properties:
            return super().get_property_info(key)
        if key not in self._common_plane_property_keys():
            raise NotFoundError(
                f"property {key!r} is not on every plane; properties over all ROIs: {self.get_property_keys()!r}"
            )
        description_source = self._segmentations[0].get_property_info(key)
        return dataclasses.replace(description_source, data=self.get_property(key, self.get_roi_ids()))

    # ------------------------------------------------------------------ curation

    @staticmethod
    def _plane_flags(
        plane: SegmentationExtractor,
        plane_ids: list[Hashable],
        list_method: str,
        same_keys: tuple[str, ...],
        opposite_keys: tuple[str, ...],
        default: bool,
    ) -> np.ndarray:
        method = getattr(plane, list_method, None)
        if callable(method):
            # The caller already warned once for the whole extractor.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                listed = set(method())
            return np.array([plane_id in listed for plane_id in plane_ids], dtype=bool)
        keys = set(plane.get_property_keys())
        for flag_keys, invert in ((same_keys, False), (opposite_keys, True)):
            for key in flag_keys:
                if key in keys:
                    values = np.asarray(plane.get_property(key, plane_ids))
                    # Suite2p's iscell.npy is (n, 2): the decision, then the classifier probability.
                    flags = (values if values.ndim == 1 else values[:, 0]).astype(bool)
                    return ~flags if invert else flags
        return np.full(len(plane_ids), default, dtype=bool)

    def _curated_ids(self, accepted: bool) -> list[int]:
        roi_ids = self.get_roi_ids()
        flags = np.zeros(len(roi_ids), dtype=bool)
        for plane, request in _plan_requests(self.get_plane_roi_ids(roi_ids)).items():
            if accepted:
                plane_flags = self._plane_flags(
                    self._segmentations[plane],
                    request.plane_ids,
                    "get_accepted_list",
                    ACCEPTED_PROPERTY_KEYS,
                    REJECTED_PROPERTY_KEYS,
                    default=True,
                )
            else:
                plane_flags = self._plane_flags(
                    self._segmentations[plane],
                    request.plane_ids,
                    "get_rejected_list",
                    REJECTED_PROPERTY_KEYS,
                    ACCEPTED_PROPERTY_KEYS,
                    default=False,
                )
            flags[request.positions] = plane_flags[request.columns]
        return [roi_id for roi_id, flag in zip(roi_ids, flags) if flag]

    def get_accepted_list(self) -> list[int]:
        """Get the global ids of accepted ROIs.

        .. deprecated::
            As in roiextractors, ``get_accepted_list`` is deprecated and will be removed
            in May 2026; use :meth:`get_property` with the planes' acceptance property.

        For each plane, in this order: its own ``get_accepted_list()`` if it has one;
        else a bool property ``'is_accepted'``, ``'accepted'`` or ``'iscell'`` (True =
        accepted); else the negation of ``'is_rejected'`` or ``'rejected'``; else every
        ROI of the plane counts as accepted.

        Returns
        -------
        list of int
            In :meth:`get_roi_ids` order.
        """
        warnings.warn(
            "get_accepted_list is deprecated and will be removed in May 2026; "
            "use get_property() with the planes' acceptance property (e.g. 'is_accepted', 'iscell').",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._curated_ids(accepted=True)

    def get_rejected_list(self) -> list[int]:
        """Get the global ids of rejected ROIs.

        .. deprecated::
            As in roiextractors, ``get_rejected_list`` is deprecated and will be removed
            in May 2026; use :meth:`get_property` with the planes' acceptance property.

        For each plane, in this order: its own ``get_rejected_list()`` if it has one;
        else a bool property ``'is_rejected'`` or ``'rejected'`` (True = rejected); else
        the negation of ``'is_accepted'``, ``'accepted'`` or ``'iscell'``; else no ROI of
        the plane counts as rejected.

        Returns
        -------
        list of int
            In :meth:`get_roi_ids` order.
        """
        warnings.warn(
            "get_rejected_list is deprecated and will be removed in May 2026; "
            "use get_property() with the planes' acceptance property (e.g. 'is_accepted', 'iscell').",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._curated_ids(accepted=False)

    # ------------------------------------------------------------------ narrower views

    def slice_samples(
        self, start_sample: int | None = None, end_sample: int | None = None
    ) -> MultiSegmentationExtractor:
        """Get the same planes over a window of samples.

        Each plane is sliced with its own ``slice_samples`` (lazy where the plane is),
        so global ids, the ROI selection and properties set here carry over.

        Parameters
        ----------
        start_sample : int, optional
            First sample (inclusive); 0 when omitted.
        end_sample : int, optional
            Last sample (exclusive); the end when omitted.

        Returns
        -------
        MultiSegmentationExtractor
            Sample indices restart at 0.
        """
        start_sample, end_sample = self._checked_window(start_sample, end_sample, "start_sample", "end_sample")
        num_samples = self._num_samples or 0
        if (start_sample or 0) >= (num_samples if end_sample is None else end_sample):
            raise InvalidInputError(
                f"the window start_sample={start_sample}, end_sample={end_sample} holds no samples "
                f"(the planes have {num_samples}); start_sample must be before end_sample"
            )
        sliced = MultiSegmentationExtractor(
            [plane.slice_samples(start_sample=start_sample, end_sample=end_sample) for plane in self._segmentations],
            plane_names=self._plane_names,
        )
        sliced._selected_roi_ids = self._selected_roi_ids
        sliced._selected_roi_set = self._selected_roi_set
        sliced._selected_background_ids = self._selected_background_ids
        sliced._selected_background_set = self._selected_background_set
        # Same copy-on-write sharing as roiextractors' slices: set_property rebinds keys.
        sliced._properties = dict(self._properties)
        if self._times is not None:
            sliced._times = self._times[start_sample:end_sample]
        return sliced

    def select_rois(self, roi_ids: Sequence[RoiId]) -> MultiSegmentationExtractor:
        """Get the same planes restricted to some ROIs, keeping their global ids.

        As in roiextractors, background components are kept only if their ids
        (``'background0'``…) are in ``roi_ids``. Nothing is read.

        Parameters
        ----------
        roi_ids : sequence of int or str
            Global ROI and background ids to keep, in the order the new extractor reports them.

        Returns
        -------
        MultiSegmentationExtractor
            Its :meth:`get_roi_ids` is the ROI ids given, in that order.

        Raises
        ------
        ValueError
            Empty, unknown or repeated ids.
        """
        requested = self._as_id_list(roi_ids, "roi_ids")
        if not requested:
            raise InvalidInputError(
                f"roi_ids is empty; give some of this extractor's ids ({self._valid_roi_ids_text()})"
            )
        self._resolve(requested, argument="roi_ids", kinds=("roi", "background"))
        repeated = sorted(str(i) for i, count in Counter(requested).items() if count > 1)
        if repeated:
            raise InvalidInputError(f"roi_ids repeats {repeated!r}; give each id once")
        cells = [int(i) for i in requested if not isinstance(i, str)]
        backgrounds = [i for i in requested if isinstance(i, str)]

        selected = copy.copy(self)
        selected._selected_roi_ids = cells
        selected._selected_roi_set = frozenset(cells)
        selected._selected_background_ids = backgrounds
        selected._selected_background_set = frozenset(backgrounds)
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


__all__ = ["ACCEPTED_PROPERTY_KEYS", "REJECTED_PROPERTY_KEYS", "ConcatenatedTraces", "MultiSegmentationExtractor"]
