"""roiextractors-compatible extractors over the archive, and the multi-plane combination.

- :mod:`~segdb.extractors.archive_extractor`: one plane of an archived segmentation;
- :mod:`~segdb.extractors.multiplane`: several planes' extractors as one, with
  :mod:`~segdb.extractors.global_ids` numbering their ROIs;
- :mod:`~segdb.extractors.traces`: the lazy trace window both hand out;
- :mod:`~segdb.extractors.arguments`: the checks of ROI ids and sample windows both share.

This package may import roiextractors, numpy, ``segdb.archive`` (its public names and
``segdb.archive.reader.PlaneHandle``, ``segdb.archive.values``), ``segdb.errors``,
``segdb.conventions`` and ``segdb.geometry``; never ``segdb.api``, ``segdb.arrays``, ``segdb.ingest``,
``segdb.curation`` or ``segdb.tracking``.
"""

from segdb.extractors.archive_extractor import CURATION_PROPERTY, ArchiveSegmentationExtractor
from segdb.extractors.multiplane import MultiSegmentationExtractor
from segdb.extractors.traces import TraceWindow

__all__ = ["CURATION_PROPERTY", "ArchiveSegmentationExtractor", "MultiSegmentationExtractor", "TraceWindow"]
