"""Format front ends: a pipeline's output on disk as roiextractors segmentation extractors.

Each front end returns a plain ``roiextractors.SegmentationExtractor`` that
``Archive.ingest`` takes like any other, with the pipeline's own accept/reject decision
as a bool ``accepted`` property so it is imported the same way whatever the format.
Synthetic outputs for tests and ``segdb demo`` are written by :mod:`segdb.synthetic`.

May import: the archive's records and errors; never :mod:`segdb.synthetic`.
"""

from segdb.ingest.caiman import caiman_extractor
from segdb.ingest.cnmfe import cnmfe_extractor
from segdb.ingest.extract import extract_extractor
from segdb.ingest.inscopix import inscopix_extractor
from segdb.ingest.minian import minian_extractor
from segdb.ingest.npy_folder import numpy_folder_extractor
from segdb.ingest.nwb import NwbPlaneSegmentationExtractor, nwb_extractor
from segdb.ingest.sima import sima_extractor
from segdb.ingest.suite2p import (
    STAT_PROPERTIES,
    Suite2pFilesSegmentationExtractor,
    Suite2pPlane,
    Suite2pPlaneSegmentationExtractor,
    find_suite2p_planes,
    suite2p_extractor,
)

__all__ = [
    "STAT_PROPERTIES",
    "NwbPlaneSegmentationExtractor",
    "Suite2pFilesSegmentationExtractor",
    "Suite2pPlane",
    "Suite2pPlaneSegmentationExtractor",
    "caiman_extractor",
    "cnmfe_extractor",
    "extract_extractor",
    "find_suite2p_planes",
    "inscopix_extractor",
    "minian_extractor",
    "numpy_folder_extractor",
    "nwb_extractor",
    "sima_extractor",
    "suite2p_extractor",
]
