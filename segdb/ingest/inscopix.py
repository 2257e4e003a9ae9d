"""Inscopix cell sets (``.isxd``, read with Inscopix's ``isx`` package) as segmentation extractors.

A cell set holds, per cell, a name (``C0``, ``C1``, …), a footprint image
``spacing.num_pixels`` = (rows, columns) = (height, width), a trace over
``timing.num_samples`` samples at ``timing.period``, and a status (``accepted``,
``rejected`` or ``undecided``, the status of a cell nobody has reviewed).

roiextractors 0.10's ``InscopixSegmentationExtractor`` has two quirks that
:class:`InscopixCellSetSegmentationExtractor` corrects:

- **Swapped frame shape.** ``get_frame_shape()`` returns (width, height) while the masks
  are (height, width), so on a non-square frame masks fall outside the frame it reports.
  Here the frame shape is (height, width).
- **Traces it does not list.** Its traces are only in its own ``get_traces()`` (shaped
  (cells, samples), the transpose of roiextractors' convention, and the same series for
  every ``name``); ``get_traces_dict()`` is empty. Here they are the ``raw`` series,
  (samples, cells).

The status becomes the pipeline's accept decision (``accepted``) when every cell has been
decided; while some cells are ``undecided`` it stays in the ``cell_status`` property only,
since segdb records a pipeline decision for all ROIs of a plane or for none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from roiextractors import InscopixSegmentationExtractor, SegmentationExtractor
from roiextractors.segmentationextractor import _RoiResponse

from segdb.errors import InvalidInputError, NotFoundError

_HINT = "pass a cell set (.isxd) exported by Inscopix's software or written with isx.CellSet"


class InscopixCellSetSegmentationExtractor(InscopixSegmentationExtractor):
    """roiextractors' Inscopix reader with a (height, width) frame and its traces as ``raw``."""

    extractor_name = "InscopixCellSetSegmentation"

    def __init__(self, file_path: str | Path):
        super().__init__(file_path=file_path)
        traces = np.stack(
            [self.cell_set.get_cell_trace_data(index) for index in range(self.cell_set.num_cells)], axis=1
        ) if self.cell_set.num_cells else np.zeros((self.get_num_samples(), 0), dtype=np.float32)
        self._roi_responses.append(_RoiResponse("raw", traces, list(self._roi_ids)))
        if self.cell_set.num_cells:
            status = self.get_property("cell_status", self._roi_ids)
            if "undecided" not in set(status):
                self.set_property(
                    "accepted", status == "accepted", self._roi_ids,
                    description="Whether the cell's status in the Inscopix cell set is 'accepted'",
                )

    def get_frame_shape(self) -> tuple[int, int]:
        rows, columns = self.cell_set.spacing.num_pixels
        return int(rows), int(columns)

    def get_traces(self, roi_ids=None, start_frame=None, end_frame=None, name="raw") -> np.ndarray | None:
        return SegmentationExtractor.get_traces(self, roi_ids, start_frame, end_frame, name)


def inscopix_extractor(path: str | Path) -> InscopixCellSetSegmentationExtractor:
    """Open an Inscopix cell set as a segmentation extractor.

    Parameters
    ----------
    path : str or Path
        The cell set ``.isxd`` file.

    Returns
    -------
    InscopixCellSetSegmentationExtractor
        ROI ids the cell names; trace ``raw``; rate from the cell set's sample period;
        properties ``cell_status`` and (when every cell is decided) ``accepted``.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InvalidInputError
        If ``isx`` is not installed, cannot run here, or the file is not a cell set.
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"'{path}' is a folder, not an Inscopix cell set; {_HINT}")
    if not path.is_file():
        raise NotFoundError(f"Inscopix cell set '{path}' does not exist; {_HINT}")
    try:
        import isx
    except ModuleNotFoundError:
        raise InvalidInputError(
            "reading Inscopix cell sets needs Inscopix's isx package; install it with "
            "pip install 'segdb[inscopix]' (or pip install isx)"
        ) from None
    except (ImportError, OSError) as error:
        raise InvalidInputError(f"Inscopix's isx package does not load on this machine: {error}") from None

    try:
        isx.CellSet.read(str(path), read_only=True)
    except Exception as error:  # noqa: BLE001 - isx raises a bare Exception for every file it cannot read
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise InvalidInputError(f"'{path}' is not an Inscopix cell set isx can read ({reason}); {_HINT}") from None
    try:
        return InscopixCellSetSegmentationExtractor(path)
    except ImportError as error:
        # roiextractors refuses Python 3.13+ and Apple-silicon macOS, where isx does not run.
        raise InvalidInputError(f"cannot read Inscopix cell sets on this machine: {error}") from None


__all__ = ["InscopixCellSetSegmentationExtractor", "inscopix_extractor"]
