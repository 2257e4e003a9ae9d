"""CNMF-E results as CIAtah saves them (``cnmfeAnalysisOutput`` in a MATLAB v7.3 .mat file).

CIAtah's CNMF-E wrapper saves a struct ``cnmfeAnalysisOutput`` with ``extractedImages``
(MATLAB ``(height, width, n)``, the footprints ``reshape(A, [d1 d2 n])``),
``extractedSignals`` (MATLAB ``(n, samples)``, CNMF-E's ``C``), ``Cn`` (the correlation
image, MATLAB ``(height, width)``) and ``time.totalTime`` (seconds; the rate is
samples / totalTime).

roiextractors 0.10's ``CnmfeSegmentationExtractor`` has two quirks that this front end
corrects:

- **Transposed frame.** It turns h5py's ``(n, width, height)`` into ``(width, height, n)``
  and reads ``Cn`` as ``(width, height)``, so on a non-square frame every mask and the
  correlation image come out transposed and the frame shape is ``(width, height)``.
  Here both are read as ``(height, width)``.
- **First variable wins.** It reads the first top-level variable in name order, whatever
  its name; here ``cnmfeAnalysisOutput`` is used when present.

It also requires ``time/totalTime`` and ``Cn``; here a ``--rate`` stands in for the first
and a file without the second simply has no correlation image.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from lazyslice import DatasetView
from roiextractors import CnmfeSegmentationExtractor

from segdb.errors import InvalidInputError
from segdb.ingest.matlab import mat_file_path, mat_variables, missing_fields

STRUCT_NAME = "cnmfeAnalysisOutput"
_HINT = "pass the .mat file CIAtah's CNMF-E wrapper saved (it holds cnmfeAnalysisOutput)"


class CnmfeMatSegmentationExtractor(CnmfeSegmentationExtractor):
    """roiextractors' CNMF-E reader with masks and image in (height, width) and a chosen struct."""

    extractor_name = "CnmfeMatSegmentation"

    def __init__(self, file_path: str | Path, struct_name: str = STRUCT_NAME, sampling_frequency: float | None = None):
        self._struct_name = struct_name
        self._given_rate = sampling_frequency
        super().__init__(file_path=file_path)
        if sampling_frequency is not None:
            self._sampling_frequency = float(sampling_frequency)

    def _file_extractor_read(self):
        file, _ = super()._file_extractor_read()
        return file, [self._struct_name]

    def _image_mask_extractor_read(self) -> DatasetView:
        # h5py's (n, width, height) reversed is MATLAB's (height, width, n).
        return DatasetView(self._dataset_file[self._struct_name]["extractedImages"]).lazy_transpose([2, 1, 0])

    def _summary_image_read(self) -> np.ndarray | None:
        group = self._dataset_file[self._struct_name]
        return np.asarray(group["Cn"]).T if "Cn" in group else None

    def _tot_exptime_extractor_read(self) -> float:
        if self._given_rate is not None:
            return self.get_num_samples() / self._given_rate
        return super()._tot_exptime_extractor_read()


def cnmfe_extractor(path: str | Path, *, sampling_frequency: float | None = None) -> CnmfeMatSegmentationExtractor:
    """Open CIAtah's CNMF-E results file as a segmentation extractor.

    Parameters
    ----------
    path : str or Path
        The MATLAB v7.3 .mat file holding ``cnmfeAnalysisOutput``.
    sampling_frequency : float, optional
        The frame rate in Hz; needed only when the file has no ``time.totalTime``, and
        used instead of it when given.

    Returns
    -------
    CnmfeMatSegmentationExtractor
        ROI ids 0..n-1, trace ``raw`` (CNMF-E's ``C``), image ``correlation`` (``Cn``).

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InvalidInputError
        If it is not a v7.3 .mat file holding CNMF-E results, or gives no rate.
    """
    path = mat_file_path(path, "CNMF-E results file", _HINT)
    variables = mat_variables(path)
    if STRUCT_NAME in variables:
        struct = STRUCT_NAME
    elif len(variables) == 1:
        struct = variables[0]
    else:
        raise InvalidInputError(
            f"'{path}' is not a CNMF-E results file: it has no {STRUCT_NAME} (its variables: "
            f"{', '.join(variables) or 'none'}); {_HINT}"
        )
    missing = missing_fields(path, struct, ("extractedImages", "extractedSignals"))
    if missing:
        raise InvalidInputError(
            f"'{path}' is not a CNMF-E results file: {struct} has no {', '.join(missing)}; {_HINT}"
        )
    with h5py.File(path, "r") as file:
        images, signals = file[struct]["extractedImages"], file[struct]["extractedSignals"]
        if images.ndim != 3 or signals.ndim != 2 or images.shape[0] != signals.shape[1]:
            raise InvalidInputError(
                f"'{path}' holds extractedImages of MATLAB shape {tuple(reversed(images.shape))} and "
                f"extractedSignals of {tuple(reversed(signals.shape))}; CNMF-E results are (height, width, n) "
                "and (n, samples) with the same n"
            )
    if sampling_frequency is None and missing_fields(path, struct, ("time/totalTime",)):
        raise InvalidInputError(
            f"'{path}' does not say how long the recording was ({struct}.time.totalTime is missing); "
            "pass the frame rate with --rate HZ"
        )
    return CnmfeMatSegmentationExtractor(path, struct_name=struct, sampling_frequency=sampling_frequency)


__all__ = ["CnmfeMatSegmentationExtractor", "cnmfe_extractor"]
