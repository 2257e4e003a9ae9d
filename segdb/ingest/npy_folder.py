"""A folder of ``.npy`` files as roiextractors' ``NumpySegmentationExtractor``.

For a pipeline segdb has no reader for: save its arrays with ``numpy.save`` under these
names, in one folder (only ``image_masks.npy`` and one trace file are required):

=====================  ==========================  ==========================================
file                   shape                       holds
=====================  ==========================  ==========================================
``image_masks.npy``    (height, width, n_rois)     each ROI's weights over the frame (0 = outside)
``raw.npy``            (n_samples, n_rois)         fluorescence
``dff.npy``            (n_samples, n_rois)         dF/F
``neuropil.npy``       (n_samples, n_rois)         neuropil fluorescence
``deconvolved.npy``    (n_samples, n_rois)         deconvolved activity
``mean.npy``           (height, width)             mean image
``correlation.npy``    (height, width)             correlation image
``roi_ids.npy``        (n_rois,) int or str        the ROI ids (default 0..n_rois-1)
``accepted.npy``       (n_rois,) bool              the pipeline's accept decision
``timestamps.npy``     (n_samples,) float          each sample's time in seconds
=====================  ==========================  ==========================================

The frame rate is given on the command line (``--rate``); it may be left out when
``timestamps.npy`` is there. Any other ``.npy`` file in the folder is refused, so that a
misnamed trace file is not silently left behind. Files are read memory-mapped and never
unpickled.

roiextractors 0.10's ``NumpySegmentationExtractor`` reports the whole image-mask shape
(height, width, n_rois) as its frame shape unless it is given ``movie_dims``; here it is
always given (height, width).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from roiextractors import NumpySegmentationExtractor

from segdb.errors import InvalidInputError, NotFoundError

MASKS_FILE = "image_masks.npy"
#: Trace files and the roiextractors series each becomes.
TRACE_FILES = {"raw.npy": "raw", "dff.npy": "dff", "neuropil.npy": "neuropil", "deconvolved.npy": "deconvolved"}
IMAGE_FILES = {"mean.npy": "mean_image", "correlation.npy": "correlation_image"}
ROI_IDS_FILE = "roi_ids.npy"
ACCEPTED_FILE = "accepted.npy"
TIMESTAMPS_FILE = "timestamps.npy"
KNOWN_FILES = (MASKS_FILE, *TRACE_FILES, *IMAGE_FILES, ROI_IDS_FILE, ACCEPTED_FILE, TIMESTAMPS_FILE)
_HINT = f"see `segdb ingest numpy --help` for the file names ({', '.join(KNOWN_FILES)})"


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise InvalidInputError(
            f"cannot read '{path}' as a numeric .npy array ({error}); save it with numpy.save from a plain array"
        ) from None
    except OSError as error:
        raise InvalidInputError(f"cannot read '{path}': {error}") from None


def _checked(path: Path, array: np.ndarray, shape: tuple[int | None, ...], meaning: str, kinds: str) -> np.ndarray:
    """``array`` if its shape matches ``shape`` (None: any size) and its dtype kind is one of ``kinds``."""
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        wanted = ", ".join("any" if want is None else str(want) for want in shape)
        raise InvalidInputError(f"'{path}' has shape {array.shape}; it must be {meaning}, here ({wanted})")
    if array.dtype.kind not in kinds:
        raise InvalidInputError(f"'{path}' has dtype {array.dtype}; {meaning} must be of kind {kinds!r}")
    return array


def numpy_folder_extractor(path: str | Path, *, sampling_frequency: float | None = None) -> NumpySegmentationExtractor:
    """Open a folder of ``.npy`` files (named as this module describes) as a segmentation extractor.

    Parameters
    ----------
    path : str or Path
        The folder.
    sampling_frequency : float, optional
        The frame rate in Hz; required unless the folder has ``timestamps.npy``.

    Returns
    -------
    roiextractors.NumpySegmentationExtractor
        With frame shape (height, width), the trace series present, ``mean`` and
        ``correlation`` images, and ``is_accepted`` from ``accepted.npy``.

    Raises
    ------
    NotFoundError
        If the folder does not exist.
    InvalidInputError
        If a file is missing, misnamed, or of the wrong shape, or no rate is known.
    """
    folder = Path(path)
    if not folder.exists():
        raise NotFoundError(f"folder of .npy files '{folder}' does not exist; {_HINT}")
    if not folder.is_dir():
        raise InvalidInputError(f"'{folder}' is a file; pass the folder that holds {MASKS_FILE} and the traces")
    unknown = sorted(p.name for p in folder.glob("*.npy") if p.name not in KNOWN_FILES)
    if unknown:
        raise InvalidInputError(f"'{folder}' holds .npy files segdb does not know: {', '.join(unknown)}; {_HINT}")
    masks_path = folder / MASKS_FILE
    if not masks_path.is_file():
        raise InvalidInputError(f"'{folder}' has no {MASKS_FILE} (height, width, n_rois); {_HINT}")
    masks = _checked(masks_path, _load(masks_path), (None, None, None), "(height, width, n_rois)", "biuf")
    height, width, n_rois = masks.shape
    traces = {}
    for file_name, series in TRACE_FILES.items():
        if (folder / file_name).is_file():
            _checked(folder / file_name, _load(folder / file_name), (None, n_rois), "(n_samples, n_rois)", "biuf")
            traces[series] = folder / file_name
    if not traces:
        raise InvalidInputError(f"'{folder}' has no trace file (one of {', '.join(TRACE_FILES)}); {_HINT}")
    lengths = {series: _load(file).shape[0] for series, file in traces.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(f"the trace files in '{folder}' have different numbers of samples: {lengths}")
    num_samples = next(iter(lengths.values()))
    images = {
        argument: np.asarray(_checked(folder / name, _load(folder / name), (height, width), "(height, width)", "biuf"))
        for name, argument in IMAGE_FILES.items()
        if (folder / name).is_file()
    }
    roi_ids = None
    if (folder / ROI_IDS_FILE).is_file():
        ids = _checked(folder / ROI_IDS_FILE, _load(folder / ROI_IDS_FILE), (n_rois,), "(n_rois,)", "iuU")
        roi_ids = [int(value) if ids.dtype.kind in "iu" else str(value) for value in ids]
        if len(set(roi_ids)) != len(roi_ids):
            raise InvalidInputError(f"'{folder / ROI_IDS_FILE}' repeats ROI ids; every ROI needs its own id")
    accepted_list = None
    if (folder / ACCEPTED_FILE).is_file():
        accepted = _checked(folder / ACCEPTED_FILE, _load(folder / ACCEPTED_FILE), (n_rois,), "(n_rois,)", "b")
        ids = roi_ids if roi_ids is not None else list(range(n_rois))
        accepted_list = [roi_id for roi_id, keep in zip(ids, accepted) if keep]
    timestamps = None
    if (folder / TIMESTAMPS_FILE).is_file():
        timestamps = np.asarray(
            _checked(folder / TIMESTAMPS_FILE, _load(folder / TIMESTAMPS_FILE), (num_samples,), "(n_samples,)", "iuf")
        )
    elif sampling_frequency is None:
        raise InvalidInputError(
            f"'{folder}' does not say when its samples were taken; pass the frame rate with --rate HZ "
            f"(or save each sample's time in {TIMESTAMPS_FILE})"
        )
    extractor = NumpySegmentationExtractor(
        image_masks=masks_path,
        **{series: file for series, file in traces.items()},
        **images,
        roi_ids=roi_ids,
        sampling_frequency=None if sampling_frequency is None else float(sampling_frequency),
        movie_dims=(height, width),
        accepted_list=accepted_list,
    )
    if timestamps is not None:
        extractor.set_times(timestamps)
    return extractor


__all__ = ["KNOWN_FILES", "numpy_folder_extractor"]
