"""NWB ophys segmentations as roiextractors segmentation extractors.

An NWB file keeps a segmentation in its ``ophys`` processing module: an
``ImageSegmentation`` holding ``PlaneSegmentation`` tables (one row per ROI, masks as
``image_mask`` or ``pixel_mask``), ``RoiResponseSeries`` inside ``Fluorescence`` and
``DfOverF`` whose ``rois`` region points at the table, and ``Images`` with summary images.

Axis conventions differ and are converted here, at the boundary:

- NWB's ``pixel_mask`` rows are ``(x, y, weight)`` with x the **column** and y the
  **row**; roiextractors and segdb use ``[row, col, weight]``.
- NWB's ``image_mask`` is ``(n_rois, x, y)`` and images are ``(x, y)``, i.e. transposed
  relative to roiextractors' ``(height, width, n_rois)`` and ``(height, width)``
  (roiextractors' own NWB reader and neuroconv's writer agree on this).

roiextractors 0.10's ``NwbSegmentationExtractor`` reads only an ``image_mask`` column of a
table named ``PlaneSegmentation`` and series named ``RoiResponseSeries``/``Neuropil``/…;
:func:`nwb_extractor` uses it for such files and segdb's
:class:`NwbPlaneSegmentationExtractor` for everything else (pixel masks, other names,
several plane segmentations).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from lazyslice import DatasetView
from pynwb import NWBHDF5IO, NWBFile, read_nwb
from pynwb.base import Images
from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, PlaneSegmentation
from roiextractors import NwbSegmentationExtractor, SegmentationExtractor
from roiextractors.segmentationextractor import _ROIMasks, _RoiResponse

from segdb.errors import InvalidInputError, NotFoundError

# roiextractors' trace names and the NWB series names neuroconv and roiextractors use for
# them; DfOverF's "RoiResponseSeries" is dff, Fluorescence's is raw.
FLUORESCENCE_SERIES = {
    "RoiResponseSeries": "raw",
    "Neuropil": "neuropil",
    "Deconvolved": "deconvolved",
    "Denoised": "denoised",
    "Baseline": "baseline",
    "Background": "background",
}
DFOVERF_SERIES = {"RoiResponseSeries": "dff"}
_MASK_COLUMNS = {"image_mask", "pixel_mask", "voxel_mask"}
# Columns that become the uniform acceptance property rather than properties of their own.
_ACCEPTANCE_COLUMNS = {"Accepted", "accepted", "Rejected", "rejected", "iscell"}


def _acceptance(plane_segmentation: PlaneSegmentation) -> np.ndarray | None:
    """The pipeline's accept decision per ROI from whichever column the writer used.

    ``Accepted``/``accepted`` (neuroconv, roiextractors), else the negation of
    ``Rejected``/``rejected``, else column 0 of suite2p's own ``iscell`` column.
    """
    columns = set(plane_segmentation.colnames)
    for name in ("Accepted", "accepted"):
        if name in columns:
            return np.asarray(plane_segmentation[name].data[:]).astype(bool)
    for name in ("Rejected", "rejected"):
        if name in columns:
            return ~np.asarray(plane_segmentation[name].data[:]).astype(bool)
    if "iscell" in columns:
        iscell = np.asarray(plane_segmentation["iscell"].data[:])
        return (iscell[:, 0] if iscell.ndim == 2 else iscell).astype(bool)
    return None


def _set_table_properties(extractor: SegmentationExtractor, plane_segmentation: PlaneSegmentation) -> None:
    """Set ``accepted`` and every other one-value-per-ROI numeric or bool column as a property."""
    roi_ids = extractor.get_roi_ids()
    accepted = _acceptance(plane_segmentation)
    if accepted is not None:
        extractor.set_property(
            "accepted", accepted, roi_ids, description="Whether the pipeline accepted the ROI (from the NWB table)"
        )
    for name in plane_segmentation.colnames:
        if name in _MASK_COLUMNS or name in _ACCEPTANCE_COLUMNS or name in extractor.get_property_keys():
            continue
        column = plane_segmentation[name]
        # Ragged columns (a VectorIndex) and multi-dimensional ones are not one value per ROI.
        if type(column).__name__ == "VectorIndex":
            continue
        values = np.asarray(column.data[:])
        if values.ndim == 1 and values.dtype.kind in "biuf" and values.shape[0] == len(roi_ids):
            extractor.set_property(name, values, roi_ids, description=getattr(column, "description", "") or "")


def _plane_segmentations(nwbfile: NWBFile, path: Path) -> dict[str, PlaneSegmentation]:
    if "ophys" not in nwbfile.processing:
        raise InvalidInputError(
            f"NWB file '{path}' has no 'ophys' processing module (it has {sorted(nwbfile.processing)}); "
            "a segmentation must be stored in processing/ophys."
        )
    tables: dict[str, PlaneSegmentation] = {}
    for interface in nwbfile.processing["ophys"].data_interfaces.values():
        if isinstance(interface, ImageSegmentation):
            tables.update(interface.plane_segmentations)
    if not tables:
        raise InvalidInputError(
            f"NWB file '{path}' has no ImageSegmentation with a PlaneSegmentation in processing/ophys; "
            "it holds no ROIs to read."
        )
    return tables


class NwbPlaneSegmentationExtractor(NwbSegmentationExtractor):
    """One ``PlaneSegmentation`` of an NWB file, with pixel or image masks.

    Inherits roiextractors' NWB reader's accessors (images, frame shape, timestamps, file
    closing) and replaces its constructor, which in roiextractors 0.10 reads only image
    masks of a table named ``PlaneSegmentation``. Traces are the ``RoiResponseSeries``
    whose ``rois`` point at this table.
    """

    extractor_name = "NwbPlaneSegmentationExtractor"

    def __init__(
        self,
        file_path: str | Path,
        *,
        plane_segmentation_name: str | None = None,
        frame_shape: tuple[int, int] | None = None,
    ):
        """Open one plane segmentation of an NWB file.

        Parameters
        ----------
        file_path : str or Path
            The ``.nwb`` file.
        plane_segmentation_name : str, optional
            Which ``PlaneSegmentation``; required when the file has more than one.
        frame_shape : tuple[int, int], optional
            (height, width). Pixel masks do not record it; without this it is taken from
            the image masks or a summary image, and refused if neither exists.
        """
        SegmentationExtractor.__init__(self)
        file_path = Path(file_path)
        self.file_path = file_path
        self._roi_locs = None
        self._segmentation_images = None
        self._io = None
        self.nwbfile = read_nwb(str(file_path))
        self._io = self.nwbfile.read_io
        try:
            self._load(plane_segmentation_name, frame_shape)
        except BaseException:
            # A refused file must not stay open until garbage collection.
            self._io.close()
            raise

    def _load(self, plane_segmentation_name: str | None, frame_shape: tuple[int, int] | None) -> None:
        file_path = self.file_path
        tables = _plane_segmentations(self.nwbfile, file_path)
        if plane_segmentation_name is None:
            if len(tables) > 1:
                raise InvalidInputError(
                    f"NWB file '{file_path}' has {len(tables)} plane segmentations ({sorted(tables)}); "
                    "pass plane_segmentation_name= to pick one."
                )
            plane_segmentation_name = next(iter(tables))
        if plane_segmentation_name not in tables:
            raise NotFoundError(
                f"Plane segmentation '{plane_segmentation_name}' is not in NWB file '{file_path}' "
                f"(it has {sorted(tables)})."
            )
        table = tables[plane_segmentation_name]
        self.plane_segmentation = table
        self._roi_ids = [int(roi_id) for roi_id in table.id.data[:]]
        ophys = self.nwbfile.processing["ophys"]

        # Summary images, stored (x, y) in NWB: a multi-plane file's plane has its own container
        # (SegmentationImagesPlane0); otherwise every Images container.
        suffix = table.name.removeprefix("PlaneSegmentation") if table.name.startswith("PlaneSegmentation") else ""
        own = [interface for name, interface in ophys.data_interfaces.items()
               if isinstance(interface, Images) and suffix and name.endswith(suffix)]
        for interface in own or ophys.data_interfaces.values():
            if isinstance(interface, Images):
                for name, image in interface.images.items():
                    data = np.asarray(image.data[:])
                    if data.ndim == 2:
                        self._summary_images.setdefault(name, data.T)

        columns = set(table.colnames)
        if "voxel_mask" in columns and not columns & {"pixel_mask", "image_mask"}:
            raise InvalidInputError(
                f"Plane segmentation '{plane_segmentation_name}' in '{file_path}' has only voxel masks; "
                "segdb archives planar (2-D) segmentations."
            )
        if "pixel_mask" in columns:
            mask_data, mask_type, shape_from_masks = self._read_pixel_masks(table), "nwb-pixel_mask", None
        elif "image_mask" in columns:
            mask_data = DatasetView(table["image_mask"].data).lazy_transpose([2, 1, 0])
            mask_type, shape_from_masks = "nwb-image_mask", tuple(int(size) for size in mask_data.shape[:2])
        else:
            raise InvalidInputError(
                f"Plane segmentation '{plane_segmentation_name}' in '{file_path}' has neither pixel_mask "
                "nor image_mask; it stores no ROI masks."
            )
        self._image_shape = self._resolve_frame_shape(frame_shape, shape_from_masks, plane_segmentation_name)
        if mask_type == "nwb-pixel_mask":
            self._check_pixels_in_frame(mask_data)
        self._roi_masks = _ROIMasks(
            data=mask_data,
            mask_tpe=mask_type,
            field_of_view_shape=self._image_shape,
            roi_id_map={roi_id: index for index, roi_id in enumerate(self._roi_ids)},
        )

        self._read_traces(ophys, table)
        channels = [channel.name for channel in table.imaging_plane.optical_channel]
        if channels:
            self._channel_names = channels
        _set_table_properties(self, table)

    def _read_pixel_masks(self, table: PlaneSegmentation) -> list[np.ndarray]:
        """Every ROI's pixel mask as [row, col, weight], read in one pass over the column."""
        column = table["pixel_mask"]
        pixels = np.asarray(column.target.data[:])
        ends = np.asarray(column.data[:], dtype=np.int64)
        starts = np.concatenate([[0], ends[:-1]])
        # The NWB compound is (x, y, weight): x is the column, y the row.
        stacked = (
            np.column_stack(
                [pixels["y"].astype(np.float64), pixels["x"].astype(np.float64), pixels["weight"].astype(np.float64)]
            )
            if pixels.size
            else np.zeros((0, 3))
        )
        return [stacked[start:end] for start, end in zip(starts, ends, strict=True)]

    def _resolve_frame_shape(
        self, frame_shape: tuple[int, int] | None, shape_from_masks: tuple[int, int] | None, table_name: str
    ) -> tuple[int, int]:
        if frame_shape is not None:
            frame_shape = tuple(int(size) for size in frame_shape)
            if shape_from_masks is not None and frame_shape != shape_from_masks:
                raise InvalidInputError(
                    f"frame_shape {frame_shape} disagrees with the image masks of '{table_name}' in "
                    f"'{self.file_path}', which are {shape_from_masks}; leave frame_shape out."
                )
            return frame_shape
        if shape_from_masks is not None:
            return shape_from_masks
        image_shapes = {tuple(image.shape) for image in self._summary_images.values()}
        if len(image_shapes) == 1:
            return image_shapes.pop()
        found = f"images of shapes {sorted(image_shapes)}" if image_shapes else "no summary image"
        raise InvalidInputError(
            f"Cannot tell the frame shape of '{table_name}' in '{self.file_path}': pixel masks do not record "
            f"it and the file has {found}. "
            "Pass frame_shape=(H, W) (Python) or --frame-shape H W (CLI)."
        )

    def _check_pixels_in_frame(self, masks: list[np.ndarray]) -> None:
        height, width = self._image_shape
        for roi_id, mask in zip(self._roi_ids, masks, strict=True):
            if mask.size and (mask[:, 0].max() >= height or mask[:, 1].max() >= width or mask[:, :2].min() < 0):
                raise InvalidInputError(
                    f"ROI {roi_id} in '{self.file_path}' has pixels at rows up to {int(mask[:, 0].max())} and columns "
                    f"up to {int(mask[:, 1].max())}, outside the frame {self._image_shape}; pass the imaged "
                    "field's frame_shape=(H, W)."
                )

    def _read_traces(self, ophys, table: PlaneSegmentation) -> None:
        num_rois = len(self._roi_ids)
        self._roi_response_series = None
        for interface in ophys.data_interfaces.values():
            if isinstance(interface, Fluorescence):
                names, prefix = FLUORESCENCE_SERIES, ""
            elif isinstance(interface, DfOverF):
                names, prefix = DFOVERF_SERIES, "dff_"
            else:
                continue
            # A multi-plane file names each plane's objects with one suffix (NeuroConv and segdb's
            # export: PlaneSegmentationPlane0, RoiResponseSeriesPlane0, NeuropilPlane0).
            suffix = table.name.removeprefix("PlaneSegmentation") if table.name.startswith("PlaneSegmentation") else ""
            for series_name, series in interface.roi_response_series.items():
                if series.rois.table is not table:
                    continue
                base_name = series_name.removesuffix(suffix) if suffix and series_name.endswith(suffix) else series_name
                trace_name = names.get(base_name, prefix + base_name)
                rows = np.asarray(series.rois.data[:], dtype=np.int64)
                data = series.data
                if data.ndim == 1:
                    data = np.asarray(data[:])[:, None]
                elif hasattr(data, "id"):
                    data = DatasetView(data)
                if np.array_equal(rows, np.arange(num_rois)):
                    traces = data
                elif sorted(rows.tolist()) == list(range(num_rois)):
                    # Columns follow the region's row order; put them in table order.
                    traces = np.asarray(data[:])[:, np.argsort(rows)]
                else:
                    raise InvalidInputError(
                        f"Series '{series_name}' in '{self.file_path}' covers {rows.size} of the {num_rois} ROIs of "
                        f"'{table.name}'; segdb needs a trace for every ROI of a plane segmentation."
                    )
                if any(response.response_type == trace_name for response in self._roi_responses):
                    raise InvalidInputError(
                        f"'{self.file_path}' has two series that map to trace '{trace_name}' for '{table.name}'; "
                        "rename one of them."
                    )
                self._roi_responses.append(_RoiResponse(trace_name, traces, list(self._roi_ids)))
                if self._roi_response_series is None:
                    self._roi_response_series = series
                    self._sampling_frequency = series.rate if series.rate is not None else self._rate_from(series)
        if self._roi_response_series is None:
            raise InvalidInputError(
                f"'{self.file_path}' has no RoiResponseSeries (in Fluorescence or DfOverF) for '{table.name}'; "
                "segdb needs the traces along with the masks."
            )

    @staticmethod
    def _rate_from(series) -> float | None:
        timestamps = np.asarray(series.timestamps[:])
        if timestamps.size < 2:
            return None
        return float(1.0 / np.median(np.diff(timestamps)))

    def __del__(self):
        """Close the NWB file (also when the constructor failed before opening it)."""
        if getattr(self, "_io", None) is not None:
            self._io.close()

    def get_frame_shape(self) -> tuple[int, int]:
        return self._image_shape

    def get_image_shape(self) -> tuple[int, int]:
        return self._image_shape


def _roiextractors_can_open(nwbfile: NWBFile) -> bool:
    """Whether roiextractors 0.10's NWB reader reads this file's segmentation fully."""
    ophys = nwbfile.processing.get("ophys")
    segmentation = ophys.data_interfaces.get("ImageSegmentation") if ophys is not None else None
    if segmentation is None or list(segmentation.plane_segmentations) != ["PlaneSegmentation"]:
        return False
    if "image_mask" not in segmentation.plane_segmentations["PlaneSegmentation"].colnames:
        return False
    containers = [ophys.data_interfaces.get(name) for name in ("Fluorescence", "DfOverF")]
    return any(
        container is not None and "RoiResponseSeries" in container.roi_response_series for container in containers
    )


def nwb_extractor(
    path: str | Path,
    *,
    plane_segmentation_name: str | None = None,
    frame_shape: tuple[int, int] | None = None,
) -> SegmentationExtractor:
    """Open the segmentation in an NWB file as a segmentation extractor.

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file.
    plane_segmentation_name : str, optional
        Which ``PlaneSegmentation``; required when the file has several.
    frame_shape : tuple[int, int], optional
        (height, width) for pixel masks in a file without summary images.

    Returns
    -------
    SegmentationExtractor
        roiextractors' ``NwbSegmentationExtractor`` when it can read the file (one table
        named ``PlaneSegmentation`` with image masks), else
        :class:`NwbPlaneSegmentationExtractor`. Either way with a bool ``accepted``
        property when the table has ``Accepted``/``Rejected`` (or suite2p's ``iscell``).

    Raises
    ------
    NotFoundError
        If the file or the named plane segmentation does not exist.
    InvalidInputError
        If the file holds no usable segmentation.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"NWB file '{path}' does not exist; pass the path of an .nwb file.")
    try:
        io = NWBHDF5IO(str(path), "r")
    except OSError as error:
        raise InvalidInputError(
            f"'{path}' is not an NWB (HDF5) file ({error}); pass the path of an .nwb file."
        ) from None
    with io:
        nwbfile = io.read()
        _plane_segmentations(nwbfile, path)
        use_roiextractors = plane_segmentation_name in (None, "PlaneSegmentation") and _roiextractors_can_open(nwbfile)
    if use_roiextractors and frame_shape is None:
        extractor = NwbSegmentationExtractor(file_path=path)
        _set_table_properties(
            extractor, extractor.nwbfile.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        )
        return extractor
    return NwbPlaneSegmentationExtractor(path, plane_segmentation_name=plane_segmentation_name, frame_shape=frame_shape)


__all__ = [
    "NwbPlaneSegmentationExtractor",
    "nwb_extractor",
]
