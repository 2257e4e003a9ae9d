"""Format front ends: a pipeline's output on disk as roiextractors segmentation extractors.

Each front end returns a plain ``roiextractors.SegmentationExtractor`` that
``Archive.ingest`` takes like any other, with the pipeline's own accept/reject decision
as a bool ``accepted`` property so it is imported the same way whatever the format.
The synthetic writers produce small, valid outputs for tests and ``segdb demo``.
"""

from segdb.ingest.caiman import caiman_extractor, write_synthetic_caiman_hdf5
from segdb.ingest.nwb import (
    NwbPlaneSegmentationExtractor,
    nwb_extractor,
    write_segmentation_nwb,
    write_synthetic_nwb,
)
from segdb.ingest.suite2p import (
    STAT_PROPERTIES,
    Suite2pFilesSegmentationExtractor,
    Suite2pPlane,
    Suite2pPlaneSegmentationExtractor,
    find_suite2p_planes,
    suite2p_extractor,
)
from segdb.ingest.synthetic import synthetic_segmentation, write_suite2p_folder

__all__ = [
    "STAT_PROPERTIES",
    "NwbPlaneSegmentationExtractor",
    "Suite2pFilesSegmentationExtractor",
    "Suite2pPlane",
    "Suite2pPlaneSegmentationExtractor",
    "caiman_extractor",
    "find_suite2p_planes",
    "nwb_extractor",
    "suite2p_extractor",
    "synthetic_segmentation",
    "write_segmentation_nwb",
    "write_suite2p_folder",
    "write_synthetic_caiman_hdf5",
    "write_synthetic_nwb",
]
