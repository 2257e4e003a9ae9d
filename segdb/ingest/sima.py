"""SIMA datasets (a ``.sima`` folder of pickles, read with the ``sima`` package) as extractors.

A SIMA dataset keeps its ROI sets in ``rois.pkl`` (by label), the extracted signals per
channel in ``signals_<channel>.pkl`` (by extraction label; ``raw`` is a list with one
(rois, frames) array per sequence) and the mean image in ``time_averages.pkl``. It does
not record the frame rate.

roiextractors 0.10's ``SimaSegmentationExtractor`` has three quirks that
:class:`SimaDatasetSegmentationExtractor` corrects:

- **It cannot open any dataset.** Its constructor asks ``get_frame_shape()`` for the shape
  of masks it has not read yet (``None.field_of_view_shape``); here the shape is the
  dataset's own frame shape.
- **Transposed traces.** It keeps SIMA's (rois, frames) array as if it were
  (frames, rois); here the traces are (frames, rois).
- **It rewrites the dataset.** It re-pickles every ``.pkl`` in place (keeping copies as
  ``*_p2.pkl``) to convert Python 2 pickles; segdb never writes into what it ingests, so a
  dataset pickled by Python 2 must be converted first, and the error says how.

The ``sima`` package (1.3.2, 2016) is an optional dependency (``segdb[sima]``); it does not
build on Python 3.11 or later (its C sources include ``longintrepr.h``), nor import with
numpy 1.25 or later (it imports ``numpy.testing.Tester``).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
from roiextractors import SimaSegmentationExtractor

from segdb.errors import InvalidInputError, NotFoundError

_HINT = "pass the .sima folder a SIMA ImagingDataset was saved to"
_INSTALL = (
    "reading SIMA datasets needs the sima package (and dill): pip install 'segdb[sima]'; "
    "sima 1.3.2 does not build on Python 3.11 or later and imports only with numpy older than 1.25"
)


class SimaDatasetSegmentationExtractor(SimaSegmentationExtractor):
    """roiextractors' SIMA reader, able to open a dataset, with (frames, rois) traces, read-only."""

    extractor_name = "SimaDatasetSegmentation"

    def __init__(self, file_path: str | Path, sima_segmentation_label: str = "auto_ROIs",
                 sampling_frequency: float | None = None):
        # roiextractors prints which channel and label it read; the command line shows its own summary.
        with contextlib.redirect_stdout(io.StringIO()):
            super().__init__(file_path=str(file_path), sima_segmentation_label=sima_segmentation_label)
        if sampling_frequency is not None:
            self._sampling_frequency = float(sampling_frequency)

    @staticmethod
    def _convert_sima(old_pkl_loc):
        """Leave the dataset as it is (roiextractors would re-pickle it in place)."""

    def _trace_extractor_read(self) -> np.ndarray:
        return np.asarray(super()._trace_extractor_read()).T

    def get_frame_shape(self) -> tuple[int, int]:
        # SIMA's frame shape is (planes, rows, columns, channels).
        height, width = self._dataset_file.frame_shape[1:3]
        return int(height), int(width)


def sima_extractor(
    path: str | Path, *, segmentation_label: str | None = None, sampling_frequency: float | None = None
) -> SimaDatasetSegmentationExtractor:
    """Open a SIMA dataset as a segmentation extractor.

    Parameters
    ----------
    path : str or Path
        The ``.sima`` folder.
    segmentation_label : str, optional
        Which ROI set to read when the dataset has several (roiextractors' default ``auto_ROIs``).
    sampling_frequency : float, optional
        The frame rate in Hz (SIMA does not record it).

    Raises
    ------
    NotFoundError
        If the folder does not exist.
    InvalidInputError
        If sima is not installed, or the folder is not a single-plane SIMA dataset with ROIs
        and extracted signals.
    """
    folder = Path(path)
    if not folder.exists():
        raise NotFoundError(f"SIMA dataset '{folder}' does not exist; {_HINT}")
    if not (folder / "dataset.pkl").is_file():
        raise InvalidInputError(f"'{folder}' is not a SIMA dataset: it has no dataset.pkl; {_HINT}")
    try:
        import dill  # noqa: F401 - roiextractors' SIMA reader needs it
        import sima
    except ImportError as error:
        raise InvalidInputError(f"{_INSTALL} ({type(error).__name__}: {error})") from None
    try:
        dataset = sima.ImagingDataset.load(str(folder))
        rois, frame_shape = dataset.ROIs, dataset.frame_shape
        signals = dataset.signals(channel=0)
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"the SIMA dataset '{folder}' was pickled by Python 2; convert it once by opening it with "
            "roiextractors' SimaSegmentationExtractor (it re-pickles the folder in place, keeping the "
            "originals as *_p2.pkl), then ingest it"
        ) from None
    if frame_shape[0] != 1:
        raise InvalidInputError(
            f"the SIMA dataset '{folder}' has {frame_shape[0]} planes; segdb reads SIMA datasets of one plane"
        )
    if not rois:
        raise InvalidInputError(f"the SIMA dataset '{folder}' has no ROIs; segment it (dataset.segment) first")
    if len(rois) > 1:
        label = segmentation_label or "auto_ROIs"
        if label not in rois:
            raise InvalidInputError(
                f"the SIMA dataset '{folder}' has the ROI sets {', '.join(sorted(rois))} and none is {label!r}; "
                "choose one with --label"
            )
    if not signals:
        raise InvalidInputError(
            f"the SIMA dataset '{folder}' has no extracted signals; run dataset.extract(rois) first"
        )
    return SimaDatasetSegmentationExtractor(
        folder, sima_segmentation_label=segmentation_label or "auto_ROIs", sampling_frequency=sampling_frequency
    )


__all__ = ["SimaDatasetSegmentationExtractor", "sima_extractor"]
