"""Pictures of what an archive holds: ROI outlines over summary images, tracked cells across sessions.

* :mod:`~segdb.figures.outlines`: outlines of pixel masks and the colours of labels, values and
  tracks (numpy only), for image files and web pages alike.
* :mod:`~segdb.figures.drawing`: :func:`draw_segmentation` and :func:`draw_track` write PNG, SVG or
  PDF files with matplotlib.
"""

from __future__ import annotations

from segdb.figures.drawing import COLOUR_SCHEMES, PictureRecord, draw_segmentation, draw_track

__all__ = ["COLOUR_SCHEMES", "PictureRecord", "draw_segmentation", "draw_track"]
