"""Names the calcium-imaging ecosystem agrees on, written once for every layer.

Pure constants; imports nothing.
"""

#: Boolean properties that carry a pipeline's own accept decision, best first: CaImAn and
#: roiextractors' Numpy extractor write "is_accepted", segdb's front ends "accepted",
#: suite2p "iscell".
ACCEPTANCE_PROPERTIES: tuple[str, ...] = ("is_accepted", "accepted", "iscell")

#: Boolean properties that carry the opposite decision.
REJECTION_PROPERTIES: tuple[str, ...] = ("is_rejected", "rejected")

#: roiextractors' name for the channel of an extractor that says nothing else.
DEFAULT_CHANNEL_NAME = "OpticalChannel"

#: NWB series names in ``Fluorescence`` that roiextractors and NeuroConv read and write, and the
#: roiextractors trace each one holds.
NWB_FLUORESCENCE_SERIES: dict[str, str] = {
    "RoiResponseSeries": "raw",
    "Neuropil": "neuropil",
    "Deconvolved": "deconvolved",
    "Denoised": "denoised",
    "Baseline": "baseline",
    "Background": "background",
}

#: The same for ``DfOverF``: its ``RoiResponseSeries`` is dF/F.
NWB_DFOVERF_SERIES: dict[str, str] = {"RoiResponseSeries": "dff"}

__all__ = [
    "ACCEPTANCE_PROPERTIES",
    "DEFAULT_CHANNEL_NAME",
    "NWB_DFOVERF_SERIES",
    "NWB_FLUORESCENCE_SERIES",
    "REJECTION_PROPERTIES",
]
