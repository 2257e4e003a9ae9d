"""EXTRACT results (a MATLAB v7.3 .mat file) as roiextractors segmentation extractors.

EXTRACT 1.0 and later returns a struct (``output`` in its tutorials) with
``spatial_weights`` (MATLAB ``(height, width, n)``), ``temporal_weights`` (MATLAB
``(samples, n)``), ``config`` (the settings; ``config.preprocess`` 1 means the traces are
dF/F) and ``info`` (``version``, ``summary_image``, ``max_image``, ``F_per_pixel``). It
does not record the frame rate, so one must be given (``--rate``). roiextractors'
``NewExtractSegmentationExtractor`` reads these in the right orientation.

Older EXTRACT output saved by CIAtah (``extractAnalysisOutput``, before version 1.0) has
``filters`` (MATLAB ``(height, width, n)``), ``traces`` (MATLAB ``(n, samples)``),
``time.totalTime`` and ``info.summary_image``. roiextractors'
``LegacyExtractSegmentationExtractor`` reads ``filters`` and ``summary_image`` transposed
(frame ``(width, height)``; it reverses only two of h5py's axes), so on a non-square frame
every mask would be stored transposed; :class:`LegacyExtractMatSegmentationExtractor`
reads them as ``(height, width)``. Which reader applies is decided as roiextractors does,
by ``info.version`` (1.0.0 or later is the new layout).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from lazyslice import DatasetView
from packaging.version import InvalidVersion, Version
from roiextractors import SegmentationExtractor
from roiextractors.extractors.schnitzerextractor import (
    LegacyExtractSegmentationExtractor,
    NewExtractSegmentationExtractor,
)

from segdb.errors import InvalidInputError
from segdb.ingest.matlab import mat_file_path, mat_string, mat_variables, missing_fields

#: The struct names EXTRACT's tutorials (``output``) and CIAtah (``extractAnalysisOutput``) use.
STRUCT_NAMES = ("output", "extractAnalysisOutput")
_HINT = "pass the .mat file holding EXTRACT's output struct"
_NEW_FIELDS = ("spatial_weights", "temporal_weights", "config/preprocess", "info/version")
_LEGACY_FIELDS = ("filters", "traces")


class LegacyExtractMatSegmentationExtractor(LegacyExtractSegmentationExtractor):
    """roiextractors' reader of pre-1.0 EXTRACT output with masks and image in (height, width)."""

    extractor_name = "LegacyExtractMatSegmentation"

    def __init__(
        self,
        file_path: str | Path,
        output_struct_name: str = "extractAnalysisOutput",
        sampling_frequency: float | None = None,
    ):
        self._given_rate = sampling_frequency
        super().__init__(file_path=file_path, output_struct_name=output_struct_name)
        if sampling_frequency is not None:
            self._sampling_frequency = float(sampling_frequency)

    def _image_mask_extractor_read(self) -> DatasetView:
        # h5py's (n, width, height) reversed is MATLAB's (height, width, n).
        return DatasetView(self._dataset_file[self.output_struct_name]["filters"]).lazy_transpose([2, 1, 0])

    def _summary_image_read(self) -> np.ndarray | None:
        group = self._dataset_file[self.output_struct_name]
        return np.asarray(group["info/summary_image"]).T if "info/summary_image" in group else None

    def _tot_exptime_extractor_read(self) -> float:
        if self._given_rate is not None:
            return self.get_num_samples() / self._given_rate
        return super()._tot_exptime_extractor_read()


def _output_struct(path: Path, output_struct_name: str | None) -> str:
    variables = mat_variables(path)
    if output_struct_name is not None:
        if output_struct_name not in variables:
            raise InvalidInputError(
                f"'{path}' has no variable {output_struct_name!r} (its variables: {', '.join(variables) or 'none'}); "
                "pass the name of EXTRACT's output struct with --output-struct"
            )
        return output_struct_name
    for name in STRUCT_NAMES:
        if name in variables:
            return name
    raise InvalidInputError(
        f"'{path}' has neither of EXTRACT's usual structs {' or '.join(STRUCT_NAMES)} (its variables: "
        f"{', '.join(variables) or 'none'}); pass the name of EXTRACT's output struct with --output-struct"
    )


def _is_new_layout(path: Path, struct: str) -> bool:
    """Whether ``struct`` is EXTRACT 1.0+ output (by ``info.version``, as roiextractors decides)."""
    with h5py.File(path, "r") as file:
        group = file[struct]
        if "info/version" not in group:
            return False
        text = mat_string(group["info/version"])
    try:
        return Version(text) >= Version("1.0.0")
    except InvalidVersion:
        raise InvalidInputError(
            f"'{path}' gives EXTRACT version {text!r} in {struct}.info.version, which is not a version number; "
            "the file is damaged or was edited by hand"
        ) from None


def _check_shapes(path: Path, struct: str, masks: str, traces: str, traces_rois_axis: int) -> None:
    with h5py.File(path, "r") as file:
        mask_data, trace_data = file[struct][masks], file[struct][traces]
        if mask_data.ndim != 3 or trace_data.ndim != 2 or mask_data.shape[0] != trace_data.shape[traces_rois_axis]:
            raise InvalidInputError(
                f"'{path}' holds {struct}.{masks} of MATLAB shape {tuple(reversed(mask_data.shape))} and "
                f"{struct}.{traces} of {tuple(reversed(trace_data.shape))}; EXTRACT writes masks as "
                "(height, width, n) and one trace per ROI"
            )


def extract_extractor(
    path: str | Path, *, sampling_frequency: float | None = None, output_struct_name: str | None = None
) -> SegmentationExtractor:
    """Open EXTRACT's results file as a segmentation extractor.

    Parameters
    ----------
    path : str or Path
        The MATLAB v7.3 .mat file.
    sampling_frequency : float, optional
        The frame rate in Hz. Required for EXTRACT 1.0+ output, which does not record it;
        for older output it replaces the rate derived from ``time.totalTime``.
    output_struct_name : str, optional
        The struct holding the results; default ``output``, else ``extractAnalysisOutput``.

    Returns
    -------
    roiextractors.SegmentationExtractor
        ROI ids 0..n-1; one trace series, ``dff`` when EXTRACT's ``config.preprocess`` was
        on and ``raw`` otherwise (roiextractors' naming); EXTRACT's summary images.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InvalidInputError
        If it is not a v7.3 .mat file holding EXTRACT output, or no rate is known.
    """
    path = mat_file_path(path, "EXTRACT results file", _HINT)
    struct = _output_struct(path, output_struct_name)
    if _is_new_layout(path, struct):
        missing = missing_fields(path, struct, _NEW_FIELDS)
        if missing:
            raise InvalidInputError(
                f"'{path}' is not EXTRACT output: {struct} has no {', '.join(missing)}; {_HINT}"
            )
        _check_shapes(path, struct, "spatial_weights", "temporal_weights", traces_rois_axis=0)
        if sampling_frequency is None:
            raise InvalidInputError(
                f"EXTRACT output '{path}' does not record the frame rate; pass it with --rate HZ"
            )
        return NewExtractSegmentationExtractor(
            file_path=path, sampling_frequency=float(sampling_frequency), output_struct_name=struct
        )
    missing = missing_fields(path, struct, _LEGACY_FIELDS)
    if missing:
        raise InvalidInputError(
            f"'{path}' is not EXTRACT output: {struct} has neither EXTRACT 1.0's "
            f"{', '.join(_NEW_FIELDS)} nor the older {', '.join(_LEGACY_FIELDS)}; {_HINT}"
        )
    _check_shapes(path, struct, "filters", "traces", traces_rois_axis=1)
    if sampling_frequency is None and missing_fields(path, struct, ("time/totalTime",)):
        raise InvalidInputError(
            f"'{path}' does not say how long the recording was ({struct}.time.totalTime is missing); "
            "pass the frame rate with --rate HZ"
        )
    return LegacyExtractMatSegmentationExtractor(
        path, output_struct_name=struct, sampling_frequency=sampling_frequency
    )


__all__ = ["LegacyExtractMatSegmentationExtractor", "extract_extractor"]
