"""Synthetic pipeline output and simulated fields of view, for tests, ``segdb demo`` and benchmarks.

Nothing that reads real data imports this package: the readers (:mod:`segdb.ingest`) and
the algorithms (:mod:`segdb.tracking`) stand on their own, and the simulators here use them
only as a lab's own scripts would.

* :mod:`~segdb.synthetic.cells`: cells, traces and summary images; an in-memory
  roiextractors extractor of them (:func:`synthetic_segmentation`).
* :mod:`~segdb.synthetic.suite2p`, :mod:`~segdb.synthetic.caiman`, :mod:`~segdb.synthetic.nwb`:
  the same written as each pipeline writes its output.
* :mod:`~segdb.synthetic.fov`: a field of view imaged over many sessions with known cell
  identities.
* :mod:`~segdb.synthetic.groundtruth`: tracks scored against that truth (:func:`evaluate`),
  and such a field of view ingested into an archive with a stored run scored against it.

May import: everything below the command line (ingest, tracking, archive, errors).
"""

from __future__ import annotations

from segdb.synthetic.caiman import write_synthetic_caiman_hdf5
from segdb.synthetic.cells import SyntheticCell, generate_cells, generate_traces, synthetic_segmentation
from segdb.synthetic.fov import SimulatedFov, SimulatedSession, session_segmentation_dict, simulate_fov
from segdb.synthetic.groundtruth import PairAccuracy, evaluate
from segdb.synthetic.nwb import write_segmentation_nwb, write_synthetic_nwb
from segdb.synthetic.suite2p import write_suite2p_folder

__all__ = [
    "PairAccuracy",
    "SimulatedFov",
    "SimulatedSession",
    "SyntheticCell",
    "evaluate",
    "generate_cells",
    "generate_traces",
    "session_segmentation_dict",
    "simulate_fov",
    "synthetic_segmentation",
    "write_segmentation_nwb",
    "write_suite2p_folder",
    "write_synthetic_caiman_hdf5",
    "write_synthetic_nwb",
]
