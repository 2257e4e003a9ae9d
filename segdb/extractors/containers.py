"""roiextractors 0.10's private containers, as an archive view gives them: computed when read.

roiextractors 0.10 keeps an extractor's data in private attributes, and code outside
the extractor reads them directly, not through the public methods:

- NeuroConv 0.10.2 (``neuroconv.tools.roiextractors._add_plane_segmentation_to_nwbfile``)
  reads ``_roi_masks.mask_tpe`` to choose between writing image masks
  (``get_roi_image_masks``) and pixel masks (``get_roi_pixel_masks``);
  ``get_nwb_segmentation_metadata`` reads ``_channel_names``.
- roiextractors' ``SampleSlicedSegmentationExtractor`` (what the base ``slice_samples``
  builds) and ``_RoiSlicedSegmentationExtractor`` (the base ``select_rois``) read from
  their parent ``_roi_masks`` (``data``, ``mask_tpe``, ``field_of_view_shape``,
  ``roi_id_map``), ``_roi_responses`` (``response_type``, ``roi_ids`` and ``data``
  sliced ``[a:b, :]`` or ``[:, columns]``), ``_summary_images``, ``_properties``,
  ``_times``, ``_channel_names``, ``_num_planes`` and ``_sampling_frequency``, and then
  answer through the base class's methods, which read ``_roi_masks.data`` and
  ``_roi_responses``.

:class:`ArchiveRoiMasks`, :class:`ComputedSequence` and :class:`ComputedMapping` stand
where those containers are. Making one costs nothing and reads nothing; every
attribute is computed from the view when it is read, and array data is read only when
an element is indexed. :class:`PerPlaneMasks` stands in a multi-plane extractor's
``_roi_masks``, where no single container can be right, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from roiextractors.segmentationextractor import _ROIMasks

from segdb.errors import InvalidInputError
from segdb.extractors.arguments import is_index

if TYPE_CHECKING:
    from segdb.extractors.archive_extractor import ArchiveSegmentationExtractor

#: The mask kinds a plane can hand out, as NeuroConv names them, and roiextractors' names for them.
MASK_TYPES = {"pixel": "nwb-pixel_mask", "image": "nwb-image_mask"}


def checked_mask_type(mask_type: Any) -> str:
    """``mask_type`` if it is a mask kind a 2-D plane can hand out, else a clear error."""
    if mask_type in MASK_TYPES:
        return mask_type
    if mask_type == "voxel":
        raise InvalidInputError(
            "mask_type='voxel' needs volumetric masks, but segdb archives 2-D planes; use 'pixel' or 'image'"
        )
    raise InvalidInputError(f"mask_type must be 'pixel' or 'image'; got {mask_type!r}")


class PixelMaskList(Sequence):
    """The ``[row, col, weight]`` pixel masks of a view's ROIs, then its background components.

    Element ``i`` is read when it is indexed (one mask, a few small reads); nothing is
    read before.
    """

    def __init__(self, view: ArchiveSegmentationExtractor) -> None:
        self._view = view

    def __len__(self) -> int:
        return self._view.get_num_rois() + self._view.get_num_background_components()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return self._read(range(len(self))[key])
        if not is_index(key):
            raise TypeError(f"pixel masks are indexed by an int or a slice; got {key!r}")
        position = int(key) + len(self) if key < 0 else int(key)
        if not 0 <= position < len(self):
            raise IndexError(f"mask {key} is outside 0..{len(self) - 1}")
        return self._read([position])[0]

    def _read(self, positions: Iterable[int]) -> list[np.ndarray]:
        return self._view._masks_at(list(positions))


class ImageMaskStack:
    """The dense ``(height, width, n)`` masks of a view's ROIs, then its background components.

    Indexing reads only the masks the last axis selects (``stack[:, :, i]``, a slice or
    a list of positions) and makes them dense; ``np.asarray(stack)`` reads every mask.
    """

    ndim = 3
    dtype = np.dtype(np.float64)

    def __init__(self, view: ArchiveSegmentationExtractor) -> None:
        self._view = view

    @property
    def shape(self) -> tuple[int, int, int]:
        height, width = self._view.get_frame_shape()
        return (height, width, self._view.get_num_rois() + self._view.get_num_background_components())

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = self[:, :, :]
        return data if dtype is None else data.astype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(item is Ellipsis for item in key) or len(key) > 3:
            raise IndexError(f"index the (height, width, n) mask stack as stack[rows, cols, masks]; got {key!r}")
        rows, cols, masks = (*key, *(slice(None),) * (3 - len(key)))
        positions = np.arange(self.shape[2])[masks]
        chosen = np.atleast_1d(positions).tolist()
        dense = np.zeros((*self.shape[:2], len(chosen)), dtype=self.dtype)
        for column, mask in enumerate(self._view._masks_at(chosen)):
            dense[mask[:, 0].astype(np.intp), mask[:, 1].astype(np.intp), column] = mask[:, 2]
        picked = dense[rows, cols]
        return picked[..., 0] if np.ndim(positions) == 0 else picked


class ArchiveRoiMasks(_ROIMasks):
    """roiextractors' ``_ROIMasks`` of an archive view: the view's ROIs, then its background components.

    ``mask_tpe`` is what the view was asked to hand out (``"nwb-pixel_mask"`` or
    ``"nwb-image_mask"``); ``data``, ``field_of_view_shape`` and ``roi_id_map`` are
    computed from the view when read, and ``data`` reads masks only when indexed.
    roiextractors' own ``get_roi_pixel_mask`` / ``get_roi_image_mask`` work on it as on
    theirs.
    """

    # _ROIMasks.__init__ is not called: it would store data and ids that are computed here.
    def __init__(self, view: ArchiveSegmentationExtractor, mask_type: str) -> None:
        self._view = view
        self.mask_tpe = MASK_TYPES[mask_type]

    @property
    def data(self) -> PixelMaskList | ImageMaskStack:
        return ImageMaskStack(self._view) if self.mask_tpe == MASK_TYPES["image"] else PixelMaskList(self._view)

    @property
    def field_of_view_shape(self) -> tuple[int, int]:
        return tuple(self._view.get_frame_shape())

    @property
    def roi_id_map(self) -> dict[int | str, int]:
        """ROI id -> position in ``data``; a background id equal to an ROI id is left to the ROI."""
        ids = [*self._view.get_roi_ids(), *self._view.get_background_ids()]
        positions: dict[int | str, int] = {}
        for position, roi_id in enumerate(ids):
            positions.setdefault(roi_id, position)
        return positions


class ComputedSequence(Sequence):
    """A read-only list whose items ``items()`` makes each time it is read."""

    def __init__(self, items: Callable[[], list]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items())

    def __getitem__(self, key: Any) -> Any:
        return self._items()[key]

    def __iter__(self) -> Iterator:
        return iter(self._items())


class ComputedMapping(Mapping):
    """A read-only mapping whose keys ``keys()`` lists and whose values ``value(key)`` computes when read."""

    def __init__(self, keys: Callable[[], Iterable], value: Callable[[Any], Any]) -> None:
        self._keys = keys
        self._value = value

    def __getitem__(self, key: Any) -> Any:
        if key not in list(self._keys()):
            raise KeyError(key)
        return self._value(key)

    def __iter__(self) -> Iterator:
        return iter(list(self._keys()))

    def __len__(self) -> int:
        return len(list(self._keys()))


class PerPlaneMasks:
    """A multi-plane extractor's ``_roi_masks``: each plane holds its own, so reading one is refused.

    NeuroConv writes one extractor as one PlaneSegmentation on one ImagingPlane; the
    planes of a multi-plane acquisition each need their own (as NWB's best practices
    describe), so NeuroConv is pointed at the per-plane extractors.
    """

    def __init__(self, plane_names: Sequence[str]) -> None:
        self._plane_names = list(plane_names)

    def _refuse(self) -> InvalidInputError:
        return InvalidInputError(
            f"this MultiSegmentationExtractor combines {len(self._plane_names)} planes {self._plane_names!r}, and "
            "an NWB PlaneSegmentation (what NeuroConv writes for one extractor) holds the ROIs of one plane; write "
            "each plane's extractor (multi.segmentations[i], or archive.extractor(segmentation, plane=NAME)) with "
            "its own metadata_key, PlaneSegmentation name and ImagingPlane"
        )

    @property
    def mask_tpe(self) -> str:
        raise self._refuse()

    @property
    def data(self) -> Any:
        raise self._refuse()

    @property
    def field_of_view_shape(self) -> tuple[int, int]:
        raise self._refuse()

    @property
    def roi_id_map(self) -> dict:
        raise self._refuse()


__all__ = [
    "MASK_TYPES",
    "ArchiveRoiMasks",
    "ComputedMapping",
    "ComputedSequence",
    "ImageMaskStack",
    "PerPlaneMasks",
    "PixelMaskList",
    "checked_mask_type",
]
