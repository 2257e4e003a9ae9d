"""Reading a roiextractors SegmentationExtractor into a validated plane payload.

Everything a plane brings is checked here, before anything is written: a bad
input raises :class:`~segdb.errors.InvalidInputError` naming the ROI, the value
and the fix. Traces stay lazy (memmaps, h5py datasets); the chunk-file writer
copies them in blocks and checks their values as it goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from segdb.archive.values import check_name, check_text, sampling_rate, time_array
from segdb.arrays import PlaneArrays
from segdb.catalog import models as m
from segdb.conventions import ACCEPTANCE_PROPERTIES, DEFAULT_CHANNEL_NAME, REJECTION_PROPERTIES
from segdb.errors import InvalidInputError
from segdb.geometry import CsrMasks, weighted_centroids

if TYPE_CHECKING:
    from roiextractors import SegmentationExtractor

# Names stored inside dataset paths ('traces/NAME', 'background_traces/NAME', 'images/NAME') must leave
# room for the prefix in the catalog's dataset column, as well as fit their own.
_DATASET_LENGTH: int = m.TraceSeries.dataset.type.length


def trace_name_length(group: str) -> int:
    """The longest trace name the catalog holds for a series in ``group`` ('traces' or 'background_traces')."""
    return min(m.TraceSeries.trace_name.type.length, _DATASET_LENGTH - len(group) - 1)



@dataclass(frozen=True)
class RoiGeometry:
    """What the catalog stores about one mask, computed once at ingest."""

    centroid_row: float
    centroid_col: float
    bbox: tuple[int, int, int, int]
    pixel_count: int
    location_row: int
    location_col: int


@dataclass(frozen=True)
class PropertyColumn:
    name: str
    values: np.ndarray
    description: str
    value_type: str
    value_dtype: str
    value_shape: tuple[int, ...]


@dataclass
class PlanePayload:
    """One plane of a segmentation, validated and ready to write."""

    plane_name: str
    frame_shape: tuple[int, int]
    num_samples: int
    sampling_frequency: float | None
    channel_names: list[str]
    roi_keys: list[int | str]
    background_keys: list[int | str]
    roi_geometry: list[RoiGeometry]
    background_geometry: list[RoiGeometry]
    # What goes into the plane's chunk file: masks, traces, images, timestamps.
    arrays: PlaneArrays
    properties: list[PropertyColumn] = field(default_factory=list)
    source_accepted: list[bool | None] = field(default_factory=list)


def payload_from_extractor(extractor: SegmentationExtractor, plane_name: str) -> PlanePayload:
    """Read and validate everything the archive keeps from one plane's extractor."""
    from roiextractors import SegmentationExtractor

    if not isinstance(extractor, SegmentationExtractor):
        raise InvalidInputError(
            f"cannot ingest {type(extractor).__name__!r} for plane {plane_name!r}: segdb ingests roiextractors "
            "SegmentationExtractor objects; wrap your data in roiextractors.NumpySegmentationExtractor"
        )
    where = f"plane {plane_name!r}"
    frame_shape = _frame_shape(extractor, where)
    roi_keys = [_roi_key(key, where) for key in extractor.get_roi_ids()]
    background_keys = [_roi_key(key, where) for key in extractor.get_background_ids()]
    if not roi_keys:
        raise InvalidInputError(
            f"the segmentation of {where} has no ROIs; there is nothing to archive (check the pipeline's output)"
        )
    _check_unique_keys(roi_keys + background_keys, where)

    pixel_masks = list(extractor.get_roi_pixel_masks(roi_ids=extractor.get_roi_ids()))
    if len(pixel_masks) != len(roi_keys):
        raise InvalidInputError(
            f"the extractor of {where} gave {len(pixel_masks)} pixel masks for {len(roi_keys)} ROIs; "
            "every ROI needs exactly one mask"
        )
    masks, geometry = _masks_and_geometry(pixel_masks, roi_keys, frame_shape, where, "ROI")
    background_masks, background_geometry = None, []
    if background_keys:
        bg_pixel_masks = list(extractor.get_background_pixel_masks(background_ids=extractor.get_background_ids()))
        background_masks, background_geometry = _masks_and_geometry(
            bg_pixel_masks, background_keys, frame_shape, where, "background component"
        )

    traces, background_traces, num_samples = _traces(extractor, roi_keys, background_keys, where)
    sampling_frequency = _sampling_frequency(extractor, where)
    timestamps = _timestamps(extractor, num_samples, where)
    images = _images(extractor, frame_shape, where)
    properties = _properties(extractor, roi_keys, where)
    return PlanePayload(
        plane_name=plane_name,
        frame_shape=frame_shape,
        num_samples=num_samples,
        sampling_frequency=sampling_frequency,
        channel_names=_channel_names(extractor),
        roi_keys=roi_keys,
        background_keys=background_keys,
        roi_geometry=geometry,
        background_geometry=background_geometry,
        arrays=PlaneArrays(
            masks=masks,
            background_masks=background_masks,
            traces=traces,
            background_traces=background_traces,
            images=images,
            timestamps=timestamps,
        ),
        properties=properties,
        source_accepted=_source_acceptance(properties, len(roi_keys)),
    )


def _frame_shape(extractor: SegmentationExtractor, where: str) -> tuple[int, int]:
    shape = tuple(int(v) for v in np.asarray(extractor.get_frame_shape()).ravel())
    if len(shape) == 3 and _is_mask_stack_shape(extractor, shape):
        # roiextractors' NumpySegmentationExtractor built as its docs show (no movie_dims)
        # reports its image masks' (height, width, num_rois); the frame is their first two.
        shape = shape[:2]
    if len(shape) != 2 or min(shape) <= 0:
        raise InvalidInputError(
            f"the frame shape of {where} is {shape}; segdb needs (height, width) with both positive"
            + (
                " (segdb archives planes: ingest a volume as one extractor per plane, a mapping of plane "
                "name to extractor)"
                if len(shape) == 3
                else ""
            )
        )
    return shape  # type: ignore[return-value]


def _is_mask_stack_shape(extractor: SegmentationExtractor, shape: tuple[int, ...]) -> bool:
    """Whether a 3-D ``shape`` is the extractor's (height, width, num_rois) image-mask stack.

    It is when its last extent is the number of ROIs and one ROI's image mask is
    ``(height, width, 1)``; a volume's masks have a depth axis and are not.
    """
    roi_ids = list(extractor.get_roi_ids())
    if shape[2] != len(roi_ids):
        return False
    if not roi_ids:
        # Nothing to compare; the plane is refused next for having no ROIs.
        return True
    one = np.shape(extractor.get_roi_image_masks(roi_ids=roi_ids[:1]))
    return one == (shape[0], shape[1], 1)


def _roi_key(key: Any, where: str) -> int | str:
    if isinstance(key, (bool, np.bool_)):
        raise InvalidInputError(f"ROI key {key!r} in {where} is a boolean; ROI keys must be integers or strings")
    if isinstance(key, (int, np.integer)):
        check_text(f"ROI key of {where}", str(int(key)), max_length=m.Roi.roi_key.type.length)
        return int(key)
    if isinstance(key, (str, np.str_)):
        if not str(key):
            raise InvalidInputError(f"an ROI key in {where} is the empty string; give every ROI a name")
        check_text(f"ROI key of {where}", str(key), max_length=m.Roi.roi_key.type.length)
        return str(key)
    raise InvalidInputError(
        f"ROI key {key!r} in {where} is a {type(key).__name__}; ROI keys must be integers or strings"
    )


def _check_unique_keys(keys: Sequence[int | str], where: str) -> None:
    # The catalog keeps a key as text (with its type beside it), so 3 and "3" are one key there.
    seen: dict[str, int | str] = {}
    clashes = []
    for key in keys:
        text = str(key)
        if text in seen:
            first = seen[text]
            clashes.append(repr(key) if first == key and type(first) is type(key) else f"{first!r} and {key!r}")
        seen.setdefault(text, key)
    if clashes:
        raise InvalidInputError(
            f"duplicate ROI keys in {where}: {', '.join(sorted(set(clashes)))}; every ROI and background "
            "component of a plane needs its own key, and segdb tells keys apart by their text (3 and '3' are "
            "the same key)"
        )


def _masks_and_geometry(
    pixel_masks: Sequence[Any],
    keys: Sequence[int | str],
    frame_shape: tuple[int, int],
    where: str,
    noun: str,
) -> tuple[CsrMasks, list[RoiGeometry]]:
    if len(pixel_masks) != len(keys):
        raise InvalidInputError(
            f"{where} has {len(keys)} {noun} keys but {len(pixel_masks)} masks; every {noun} needs one mask"
        )
    height, width = frame_shape
    cleaned = []
    for key, raw in zip(keys, pixel_masks):
        mask = np.asarray(raw, dtype=np.float64)
        if mask.ndim != 2 or mask.shape[1] != 3:
            raise InvalidInputError(
                f"the pixel mask of {noun} {key!r} in {where} has shape {mask.shape}; "
                "pixel masks are (n_pixels, 3) arrays of [row, col, weight]"
            )
        if mask.shape[0] == 0:
            raise InvalidInputError(
                f"{noun} {key!r} in {where} has an empty mask; remove it from the segmentation before ingest"
            )
        if not np.all(np.isfinite(mask)):
            raise InvalidInputError(
                f"the pixel mask of {noun} {key!r} in {where} holds NaN or infinite values; "
                "rows, columns and weights must be finite"
            )
        rows, cols, weights = mask[:, 0], mask[:, 1], mask[:, 2]
        if np.any(rows != np.round(rows)) or np.any(cols != np.round(cols)):
            raise InvalidInputError(
                f"the pixel mask of {noun} {key!r} in {where} has non-integer pixel coordinates; "
                "rows and columns must be whole pixel indices"
            )
        outside = (rows < 0) | (rows >= height) | (cols < 0) | (cols >= width)
        if np.any(outside):
            first = int(np.argmax(outside))
            raise InvalidInputError(
                f"{noun} {key!r} in {where} has {int(outside.sum())} pixel(s) outside the {height} x {width} frame "
                f"(first at row {int(rows[first])}, col {int(cols[first])}); check the frame shape and the "
                "[row, col, weight] order of the masks"
            )
        cleaned.append(mask)
    # Each mask was checked above with its key in the message; CsrMasks only packs them.
    stacked = np.concatenate(cleaned) if cleaned else np.zeros((0, 3))
    indptr = np.concatenate([[0], np.cumsum([mask.shape[0] for mask in cleaned], dtype=np.int64)])
    masks = CsrMasks(indptr, stacked[:, 0].astype(np.int64), stacked[:, 1].astype(np.int64), stacked[:, 2])
    centroids = weighted_centroids(masks)
    geometry = [_geometry(mask, centroid) for mask, centroid in zip(cleaned, centroids)]
    return masks, geometry


def _geometry(mask: np.ndarray, centroid: np.ndarray) -> RoiGeometry:
    rows, cols, weights = mask[:, 0], mask[:, 1], mask[:, 2]
    brightest = weights == weights.max()
    return RoiGeometry(
        centroid_row=float(centroid[0]),
        centroid_col=float(centroid[1]),
        bbox=(int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())),
        pixel_count=int(rows.size),
        location_row=int(np.median(rows[brightest])),
        location_col=int(np.median(cols[brightest])),
    )


def _response_roi_ids(extractor: SegmentationExtractor) -> dict[str, list]:
    """ROI ids of each trace series, where the extractor keeps them (roiextractors 0.10)."""
    responses = getattr(extractor, "_roi_responses", None) or []
    return {r.response_type: list(r.roi_ids) for r in responses if getattr(r, "roi_ids", None) is not None}


def _traces(
    extractor: SegmentationExtractor,
    roi_keys: list[int | str],
    background_keys: list[int | str],
    where: str,
) -> tuple[dict[str, Any], dict[str, Any], int]:
    response_ids = _response_roi_ids(extractor)
    cells: dict[str, Any] = {}
    background: dict[str, Any] = {}
    for name, data in extractor.get_traces_dict().items():
        if data is None:
            continue
        if not hasattr(data, "shape") or not hasattr(data, "__getitem__"):
            data = np.asarray(data)
        if len(data.shape) != 2:
            raise InvalidInputError(
                f"trace series {name!r} of {where} has shape {tuple(data.shape)}; traces are (samples, rois)"
            )
        ids = response_ids.get(name)
        if ids is not None:
            ids = [_roi_key(key, where) for key in ids]
        is_background = (ids is not None and ids and set(ids) <= set(background_keys) and background_keys) or (
            ids is None and name == "background" and data.shape[1] == len(background_keys)
        )
        keys = background_keys if is_background else roi_keys
        group = "background_traces" if is_background else "traces"
        check_name(f"trace name of {where}", name, max_length=trace_name_length(group))
        if data.shape[1] != len(keys):
            raise InvalidInputError(
                f"trace series {name!r} of {where} has {data.shape[1]} columns but the plane has {len(keys)} "
                f"{'background components' if is_background else 'ROIs'}; traces must be (samples, rois) "
                "with one column per ROI"
            )
        if ids is not None and ids != list(keys):
            if sorted(map(repr, ids)) != sorted(map(repr, keys)):
                raise InvalidInputError(
                    f"trace series {name!r} of {where} is for ROIs {ids[:10]}… which are not the plane's ROIs"
                )
            position = {key: i for i, key in enumerate(ids)}
            data = TraceView(data, name, where, [position[key] for key in keys])
        else:
            data = TraceView(data, name, where)
        (background if is_background else cells)[name] = data
    lengths = {name: int(d.shape[0]) for name, d in {**cells, **background}.items()}
    if not lengths:
        raise InvalidInputError(
            f"{where} has no traces; segdb archives a segmentation with at least one trace series (e.g. 'raw')"
        )
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(
            f"the trace series of {where} disagree on their length: {lengths}; every series must cover "
            "the same samples"
        )
    num_samples = next(iter(lengths.values()))
    declared = _declared_num_samples(extractor)
    if declared is not None and declared != num_samples:
        raise InvalidInputError(
            f"the extractor of {where} says it has {declared} samples but its traces have {num_samples}; "
            "fix the extractor's get_num_samples or its traces"
        )
    return cells, background, num_samples


def _declared_num_samples(extractor: SegmentationExtractor) -> int | None:
    try:
        value = extractor.get_num_samples()
    except Exception:  # noqa: BLE001 - a source without a sample count is fine; traces decide
        return None
    return None if value is None else int(value)


class TraceView:
    """A lazy (samples, rois) view of a source's traces, read block by block by the writer.

    It puts the columns in the plane's ROI order and refuses infinite values as
    each block is read, so a bad series stops the write before its file lands.
    """

    def __init__(self, data: Any, name: str, where: str, order: Sequence[int] | None = None):
        self._data = data
        self._name = name
        self._where = where
        self._order = None if order is None else np.asarray(order, dtype=np.intp)
        columns = int(data.shape[1]) if self._order is None else len(self._order)
        self.shape = (int(data.shape[0]), columns)
        self.dtype = np.dtype(data.dtype)
        if self.dtype.kind not in "biuf":
            raise InvalidInputError(
                f"trace series {name!r} of {where} has dtype {self.dtype}; traces must be numeric"
            )

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, columns = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        block = np.asarray(self._data[rows])
        if self._order is not None:
            block = block[..., self._order]
        if columns:
            block = block[(slice(None), *columns)] if block.ndim == 2 else block[columns]
        if self.dtype.kind == "f" and np.isinf(block).any():
            raise InvalidInputError(
                f"trace series {self._name!r} of {self._where} holds infinite values; fix the source "
                "(NaN may mark missing samples, infinity may not)"
            )
        return block

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        block = self[:]
        return block if dtype is None else block.astype(dtype)


def _sampling_frequency(extractor: SegmentationExtractor, where: str) -> float | None:
    try:
        rate = extractor.get_sampling_frequency()
    except (TypeError, ValueError) as exc:
        # roiextractors converts the rate it was given with float() only when asked for it.
        raise InvalidInputError(
            f"the sampling frequency of {where} is not a number ({exc}); it must be a positive number of Hz"
        ) from exc
    return sampling_rate(where, rate)


def _timestamps(extractor: SegmentationExtractor, num_samples: int, where: str) -> np.ndarray | None:
    stamps = extractor.get_native_timestamps()
    if stamps is None and extractor.has_time_vector():
        stamps = extractor.get_timestamps()
    if stamps is None:
        return None
    stamps = time_array(where, stamps)
    if stamps.shape != (num_samples,):
        raise InvalidInputError(
            f"the timestamps of {where} have shape {stamps.shape} but the traces have {num_samples} samples; "
            "give one timestamp per sample"
        )
    if not np.all(np.isfinite(stamps)):
        raise InvalidInputError(f"the timestamps of {where} hold NaN or infinite values; every sample needs a time")
    if np.any(np.diff(stamps) < 0):
        raise InvalidInputError(f"the timestamps of {where} go backwards; they must not decrease")
    return stamps


def _images(extractor: SegmentationExtractor, frame_shape: tuple[int, int], where: str) -> dict[str, np.ndarray]:
    images = {}
    for name, image in extractor.get_images_dict().items():
        if image is None:
            continue
        image = np.asarray(image)
        if image.shape != frame_shape:
            raise InvalidInputError(
                f"summary image {name!r} of {where} is {image.shape} but the frame is {frame_shape}; "
                "images must be (height, width) of the frame"
            )
        if image.dtype.kind not in "biuf":
            raise InvalidInputError(f"summary image {name!r} of {where} has dtype {image.dtype}; images must be numeric")
        check_name(
            f"summary image name of {where}", str(name),
            max_length=min(m.SummaryImage.image_name.type.length, _DATASET_LENGTH - len("images/")),
        )
        images[str(name)] = image
    return images


def _channel_names(extractor: SegmentationExtractor) -> list[str]:
    getter = getattr(extractor, "get_channel_names", None)
    names = getter() if callable(getter) else getattr(extractor, "_channel_names", None)
    return [str(name) for name in (names or [DEFAULT_CHANNEL_NAME])]


def _properties(extractor: SegmentationExtractor, roi_keys: list[int | str], where: str) -> list[PropertyColumn]:
    columns = []
    source_ids = extractor.get_roi_ids()
    info = getattr(extractor, "get_property_info", None)
    for name in extractor.get_property_keys():
        if callable(info):
            # Already in get_roi_ids() order; get_property(name, ids) would pass the ids
            # through np.asarray, which turns mixed int/str keys into strings and fails.
            values = np.asarray(info(name).data)
            description = info(name).description
        else:
            values = np.asarray(extractor.get_property(name, source_ids))
            description = ""
        if values.shape[:1] != (len(roi_keys),):
            raise InvalidInputError(
                f"property {name!r} of {where} has {values.shape[:1]} values for {len(roi_keys)} ROIs; "
                "give one value per ROI"
            )
        columns.append(property_column(str(name), values, description or "", where))
    return columns


# Property numbers sit in a float64 column so SQL can compare them: integers beyond this are not exact there.
_LARGEST_EXACT_INTEGER = 2**53


def property_column(name: str, values: np.ndarray, description: str, where: str) -> PropertyColumn:
    """A property's values checked by one rule for every per-ROI shape: what is stored reads back as given.

    Numbers are checked in the type they arrive in (a uint64 is never cast to int64 first); infinity is
    refused in any shape (NaN marks a missing number); an array of Python objects must hold strings, since
    anything else would be stored as its text and come back as another value.
    """
    check_name("property name", name, max_length=m.RoiProperty.property_name.type.length)
    if description and "\x00" in description:
        raise InvalidInputError(
            f"property {name!r} of {where} has a description holding a NUL character, which PostgreSQL "
            "cannot store; remove it"
        )
    element_shape = tuple(int(n) for n in values.shape[1:])
    kind = values.dtype.kind
    if kind in "iu":
        _check_exact_integers(name, values, where)
        value_type = "int"
    elif kind == "f":
        if np.isinf(values).any():
            raise InvalidInputError(
                f"property {name!r} of {where} holds infinite values; use NaN for a missing value"
            )
        value_type = "float"
    elif kind == "b":
        value_type = "bool"
    elif kind in "USO":
        _check_strings(name, values, where)
        value_type = "str"
    else:
        raise InvalidInputError(
            f"property {name!r} of {where} has dtype {values.dtype}; properties are numbers, booleans or strings"
        )
    return PropertyColumn(
        name=name,
        values=values,
        description=description,
        value_type="json" if element_shape else value_type,
        value_dtype=values.dtype.str if kind != "O" else "object",
        value_shape=element_shape,
    )


def _check_exact_integers(name: str, values: np.ndarray, where: str) -> None:
    """Refuse integers a float64 cannot hold exactly, compared as Python ints (no cast can wrap them)."""
    if not values.size:
        return
    for extreme in (int(values.min()), int(values.max())):
        if abs(extreme) > _LARGEST_EXACT_INTEGER:
            raise InvalidInputError(
                f"property {name!r} of {where} holds {extreme}, beyond ±2**53, which segdb cannot store and "
                "compare exactly; store such values as strings"
            )


def _check_strings(name: str, values: np.ndarray, where: str) -> None:
    """Refuse string values that would not come back as given: non-strings, bytes that are not ASCII, NUL."""
    for value in values.reshape(-1).tolist():
        if isinstance(value, bytes):
            try:
                value = value.decode("ascii")
            except UnicodeDecodeError:
                raise InvalidInputError(
                    f"property {name!r} of {where} holds the bytes {value!r:.60}, which are not ASCII text; "
                    "give the values as str"
                ) from None
        if not isinstance(value, str):
            raise InvalidInputError(
                f"property {name!r} of {where} holds {value!r:.60} ({type(value).__name__}) among Python objects; "
                "a property holds numbers, booleans or strings: give a numeric or boolean array, or strings "
                "(NaN or '' for a missing value)"
            )
        if "\x00" in value:
            raise InvalidInputError(
                f"property {name!r} of {where} holds {value!r:.60}, which contains a NUL character that "
                "PostgreSQL cannot store; remove it"
            )


def _source_acceptance(properties: list[PropertyColumn], num_rois: int) -> list[bool | None]:
    by_name = {column.name: column for column in properties if not column.value_shape}
    for name in ACCEPTANCE_PROPERTIES:
        column = by_name.get(name)
        if column is not None and column.value_type in ("bool", "int", "float"):
            return [bool(v > 0.5) for v in column.values.astype(np.float64)]
    for name in REJECTION_PROPERTIES:
        column = by_name.get(name)
        if column is not None and column.value_type in ("bool", "int", "float"):
            return [not bool(v > 0.5) for v in column.values.astype(np.float64)]
    return [None] * num_rois
