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

__all__ = ["ACCEPTANCE_PROPERTIES", "DEFAULT_CHANNEL_NAME", "REJECTION_PROPERTIES"]
