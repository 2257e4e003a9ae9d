"""roiextractors-compatible extractors over the archive, and the multi-plane combination."""

from segdb.extractors.archive_extractor import ArchiveSegmentationExtractor, TraceWindow
from segdb.extractors.multiplane import MultiSegmentationExtractor

__all__ = ["ArchiveSegmentationExtractor", "MultiSegmentationExtractor", "TraceWindow"]
