"""Synthetic NWB files: a segmentation extractor written with pynwb, as a lab's NWB file holds one.

NWB's ``pixel_mask`` rows are ``(x, y, weight)`` with x the column; ``image_mask`` is
``(n_rois, x, y)``: the writer converts from roiextractors' ``[row, col, weight]`` and
``(height, width, n_rois)``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile
from pynwb.base import Images
from pynwb.image import GrayscaleImage
from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel
from roiextractors import SegmentationExtractor

from segdb.conventions import DEFAULT_CHANNEL_NAME
from segdb.errors import InvalidInputError
from segdb.ingest.nwb import FLUORESCENCE_SERIES
from segdb.synthetic.cells import synthetic_segmentation


def write_segmentation_nwb(
    extractor: SegmentationExtractor,
    path: str | Path,
    *,
    mask_type: str = "pixel",
    plane_segmentation_name: str = "PlaneSegmentation",
) -> Path:
    """Write a segmentation extractor's ROIs, traces and images to a new NWB file.

    Parameters
    ----------
    extractor : SegmentationExtractor
        Integer ROI ids (NWB table ids are integers).
    path : str or Path
        File to write (overwritten).
    mask_type : {"pixel", "image"}
        Store ``pixel_mask`` (x=col, y=row, weight) or ``image_mask`` (n_rois, x, y).
    plane_segmentation_name : str
        Name of the ``PlaneSegmentation`` table.

    Returns
    -------
    Path
        The file written.
    """
    if mask_type not in ("pixel", "image"):
        raise InvalidInputError(f"mask_type must be 'pixel' or 'image', got {mask_type!r}.")
    roi_ids = extractor.get_roi_ids()
    not_integers = [roi_id for roi_id in roi_ids if not isinstance(roi_id, (int, np.integer))]
    if not_integers:
        raise InvalidInputError(
            f"NWB table ids are integers, but the ROI ids include {not_integers[:3]}; map them to integers first."
        )
    path = Path(path)
    rate = float(extractor.get_sampling_frequency())
    nwbfile = NWBFile(
        session_description="segmentation written by segdb",
        identifier=str(uuid.uuid4()),
        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
    )
    device = nwbfile.create_device(name="Microscope")
    imaging_plane = nwbfile.create_imaging_plane(
        name="ImagingPlane",
        optical_channel=OpticalChannel(name=DEFAULT_CHANNEL_NAME, description="green", emission_lambda=510.0),
        imaging_rate=rate,
        description="imaged plane",
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP6s",
        location="unknown",
    )
    ophys = nwbfile.create_processing_module(name="ophys", description="optical physiology processed data")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    ophys.add(segmentation)
    table = segmentation.create_plane_segmentation(
        name=plane_segmentation_name, description="ROIs", imaging_plane=imaging_plane
    )
    properties = {key: extractor.get_property(key, roi_ids) for key in extractor.get_property_keys()}
    accepted = properties.pop("accepted", None)
    if accepted is not None:
        table.add_column(name="Accepted", description="Whether the pipeline accepted the ROI")
        table.add_column(name="Rejected", description="Whether the pipeline rejected the ROI")
    scalar_properties = {
        key: values for key, values in properties.items() if values.ndim == 1 and values.dtype.kind in "biuf"
    }
    for key in scalar_properties:
        table.add_column(name=key, description=extractor.get_property_info(key).description or key)

    if mask_type == "pixel":
        masks = extractor.get_roi_pixel_masks()
    else:
        image_masks = extractor.get_roi_image_masks()
    for index, roi_id in enumerate(roi_ids):
        row: dict = {"id": int(roi_id)}
        if mask_type == "pixel":
            # segdb's [row, col, weight] becomes NWB's (x=col, y=row, weight).
            row["pixel_mask"] = [(int(col), int(r), float(w)) for r, col, w in masks[index]]
        else:
            row["image_mask"] = np.asarray(image_masks[:, :, index]).T
        if accepted is not None:
            row["Accepted"] = bool(accepted[index])
            row["Rejected"] = not bool(accepted[index])
        for key, values in scalar_properties.items():
            row[key] = values[index].item()
        table.add_roi(**row)

    region = table.create_roi_table_region(region=list(range(len(roi_ids))), description="all ROIs")
    traces_by_container: dict[str, list[tuple[str, np.ndarray]]] = {"Fluorescence": [], "DfOverF": []}
    for trace_name, traces in extractor.get_traces_dict().items():
        if traces is None:
            continue
        if trace_name == "dff":
            traces_by_container["DfOverF"].append(("RoiResponseSeries", np.asarray(traces)))
        else:
            series_name = next(
                (name for name, known in FLUORESCENCE_SERIES.items() if known == trace_name), trace_name
            )
            traces_by_container["Fluorescence"].append((series_name, np.asarray(traces)))
    for container_type, series_list in (
        (Fluorescence, traces_by_container["Fluorescence"]),
        (DfOverF, traces_by_container["DfOverF"]),
    ):
        if not series_list:
            continue
        # The container joins the module before its series exist, so each series' region
        # and the table it points at share the module as ancestor (hdmf checks this).
        container = container_type(name=container_type.__name__)
        ophys.add(container)
        for series_name, data in series_list:
            container.create_roi_response_series(name=series_name, data=data, rois=region, unit="a.u.", rate=rate)
    images = [
        GrayscaleImage(name=name, data=np.asarray(image).T) for name, image in extractor.get_images_dict().items()
    ]
    if images:
        ophys.add(Images(name="SegmentationImages", images=images, description="summary images"))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def write_synthetic_nwb(
    path: str | Path,
    *,
    n_rois: int = 8,
    n_frames: int = 100,
    frame_shape: tuple[int, int] = (48, 56),
    sampling_frequency: float = 30.0,
    seed: int = 0,
    mask_type: str = "pixel",
) -> Path:
    """Write :func:`~segdb.synthetic.synthetic_segmentation` with the same arguments to NWB.

    Parameters
    ----------
    path : str or Path
        File to write (overwritten).
    n_rois, n_frames, frame_shape, sampling_frequency, seed
        As for :func:`~segdb.synthetic.synthetic_segmentation`; reading the file
        back gives that extractor's ROIs, traces, images and ``accepted`` property.
    mask_type : {"pixel", "image"}
        Store ``pixel_mask`` or ``image_mask``.

    Returns
    -------
    Path
        The file written: an ``ophys`` module with ImageSegmentation/PlaneSegmentation,
        Fluorescence (``RoiResponseSeries``, ``Neuropil``, ``Deconvolved``), DfOverF
        (``RoiResponseSeries``) and Images ``SegmentationImages`` (``mean``, ``correlation``).
    """
    extractor = synthetic_segmentation(
        n_rois=n_rois, n_frames=n_frames, frame_shape=frame_shape, sampling_frequency=sampling_frequency, seed=seed
    )
    return write_segmentation_nwb(extractor, path, mask_type=mask_type)


__all__ = ["write_segmentation_nwb", "write_synthetic_nwb"]
