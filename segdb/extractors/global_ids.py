"""Global ROI ids of a multi-plane extractor: which plane holds each one, and what to ask each plane for."""

from __future__ import annotations

import bisect
import copy
import dataclasses
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Literal

import numpy as np

from segdb.errors import InvalidInputError
from segdb.extractors.arguments import (
    IdIndex,
    as_id_list,
    describe_ids,
    is_index,
    locate_ids,
    unknown_ids_error,
)

PlaneRoi = tuple[int, Hashable]
"""(plane index, the ROI id that plane uses) for one global id."""

Kind = Literal["roi", "background"]


class GlobalIds:
    """One id for every ROI and background component of several planes.

    ROI ``j`` (its position in ``planes[p].get_roi_ids()``) of plane ``p`` has global id
    ``sum(num_rois of planes 0..p-1) + j``; background components are numbered the
    same way as ``'background0'``, ``'background1'``, … (roiextractors' naming).
    :meth:`select` keeps some of them, in the order given.
    """

    def __init__(
        self,
        plane_names: Sequence[str],
        plane_roi_ids: Sequence[Sequence[Hashable]],
        plane_background_ids: Sequence[Sequence[Hashable]],
    ) -> None:
        self.plane_names = list(plane_names)
        self._plane_roi_ids = [list(ids) for ids in plane_roi_ids]
        self._plane_background_ids = [list(ids) for ids in plane_background_ids]
        self._roi_offsets: list[int] = np.cumsum([0] + [len(ids) for ids in self._plane_roi_ids]).tolist()
        self._background_offsets: list[int] = np.cumsum(
            [0] + [len(ids) for ids in self._plane_background_ids]
        ).tolist()
        self.roi_ids: list[int] = list(range(self._roi_offsets[-1]))
        self.background_ids: list[str] = [f"background{k}" for k in range(self._background_offsets[-1])]
        self.selected = False
        self._indexes: dict[Kind, IdIndex] = {}

    def select(self, roi_ids: Iterable[int], background_ids: Iterable[str]) -> GlobalIds:
        """The same numbering, keeping only the given ids (known ones), in the order given."""
        selected = copy.copy(self)
        selected.roi_ids = [int(i) for i in roi_ids]
        selected.background_ids = list(background_ids)
        selected.selected = True
        selected._indexes = {}
        return selected

    def _index(self, kind: Kind) -> IdIndex:
        if kind not in self._indexes:
            self._indexes[kind] = IdIndex(self.roi_ids if kind == "roi" else self.background_ids)
        return self._indexes[kind]

    def locate(self, ids: Any, *, argument: str, kinds: tuple[Kind, ...] = ("roi",)) -> list[PlaneRoi]:
        """(plane, that plane's id) of each id, in the order given; all of ``kinds[0]`` when ``ids`` is None."""
        if ids is None:
            ids = self.roi_ids if kinds[0] == "roi" else self.background_ids
        found, unknown = locate_ids(as_id_list(ids, argument), [self._index(kind) for kind in kinds])
        if unknown:
            raise self._unknown(unknown, argument, kinds)
        located: list[PlaneRoi] = []
        for which, position in found:
            if kinds[which] == "roi":
                number, offsets, plane_ids = self.roi_ids[position], self._roi_offsets, self._plane_roi_ids
            else:
                number = int(self.background_ids[position].removeprefix("background"))
                offsets, plane_ids = self._background_offsets, self._plane_background_ids
            plane = bisect.bisect_right(offsets, number) - 1
            located.append((plane, plane_ids[plane][number - offsets[plane]]))
        return located

    def _unknown(self, unknown: list[Any], argument: str, kinds: tuple[Kind, ...]) -> InvalidInputError:
        held = []
        if "roi" in kinds:
            held.append(self.held_rois())
        # Background ids are worth listing where they are the point or where there are some.
        if kinds == ("background",) or ("background" in kinds and self.background_ids):
            held.append(f"it has {len(self.background_ids)} background components: {describe_ids(self.background_ids)}")
        noun = {("roi",): "ROI ids", ("background",): "background ids"}.get(kinds, "ids")
        return unknown_ids_error(noun, unknown, argument, "this MultiSegmentationExtractor", "; ".join(held))

    def held_rois(self) -> str:
        """The ROI ids held, for an error message."""
        if self.selected:
            return f"it has {len(self.roi_ids)} selected ROIs: {describe_ids(self.roi_ids)}"
        total = self._roi_offsets[-1]
        span = f"0..{total - 1}" if total else "none"
        return f"it has {total} ROIs over {len(self.plane_names)} planes: {span}"

    def plane_index(self, plane: int | str) -> int:
        """The index of a plane given by index or by name."""
        if isinstance(plane, str):
            if plane not in self.plane_names:
                raise InvalidInputError(f"no plane named {plane!r}; planes are {self.plane_names!r}")
            return self.plane_names.index(plane)
        if not is_index(plane) or not 0 <= plane < len(self.plane_names):
            raise InvalidInputError(
                f"plane {plane!r} is not a plane index (0..{len(self.plane_names) - 1}) "
                f"or a plane name ({self.plane_names!r})"
            )
        return int(plane)

    def global_roi_id(self, plane: int | str, plane_roi_id: Hashable) -> int:
        """The global id of a plane's ROI, given by that plane's own id."""
        index = self.plane_index(plane)
        own_ids = self._plane_roi_ids[index]
        try:
            global_id = self._roi_offsets[index] + own_ids.index(plane_roi_id)
        except ValueError:
            raise InvalidInputError(
                f"ROI {plane_roi_id!r} is not in plane {self.plane_names[index]} "
                f"(its ROI ids are {describe_ids(own_ids)})"
            ) from None
        if self._index("roi").position(global_id) is None:
            raise InvalidInputError(
                f"ROI {plane_roi_id!r} of plane {self.plane_names[index]} (global id {global_id}) "
                f"is not among this extractor's selected ROIs ({self.held_rois()})"
            )
        return global_id

    def plane_num_rois(self, plane: int) -> int:
        return len(self._plane_roi_ids[plane])

    def plane_num_background(self, plane: int) -> int:
        return len(self._plane_background_ids[plane])


@dataclasses.dataclass(frozen=True)
class PlaneRequest:
    """What one plane must be asked for, and where its answers go in the output.

    ``plane_ids`` are that plane's own ids, each once; answer ``columns[k]`` of the
    plane goes to output position ``positions[k]``.
    """

    plane_ids: list[Hashable]
    positions: np.ndarray
    columns: np.ndarray


def plan_requests(located: Sequence[PlaneRoi]) -> dict[int, PlaneRequest]:
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
        plane: PlaneRequest(
            plane_ids=plane_ids[plane],
            positions=np.asarray(positions[plane], dtype=np.intp),
            columns=np.asarray(columns[plane], dtype=np.intp),
        )
        for plane in plane_ids
    }


def common_dtype(arrays: Iterable[Any]) -> np.dtype:
    """The dtype that holds every piece; object when numpy cannot promote (str with int)."""
    dtypes = [np.dtype(a.dtype) for a in arrays]
    if not dtypes:
        return np.dtype(float)
    try:
        return np.result_type(*dtypes)
    except TypeError:
        return np.dtype(object)


def assemble(
    requests: dict[int, PlaneRequest],
    answers: dict[int, np.ndarray],
    count: int,
    *,
    axis: Literal[0, -1],
    empty_shape: tuple[int, ...],
) -> np.ndarray:
    """Put each plane's answers, one per entry along ``axis``, at the output positions they answer.

    ``empty_shape`` is the output's shape when no plane was asked (``count`` is then 0).
    """
    if answers:
        shape = list(next(iter(answers.values())).shape)
        shape[axis] = count
    else:
        shape = list(empty_shape)
    out = np.empty(shape, dtype=common_dtype(answers.values()))
    for plane, request in requests.items():
        if axis == 0:
            out[request.positions] = answers[plane][request.columns]
        else:
            out[..., request.positions] = answers[plane][..., request.columns]
    return out
