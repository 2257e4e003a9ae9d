"""Make this folder's helper modules importable by the mask tests.

The suite runs with ``--import-mode=importlib``, which does not put test folders on
``sys.path``; the literal AllenSDK re-statement (allensdk_reference.py) and the random
ROI layouts (roi_cases.py) are plain modules next to the tests, so this folder is
added once here.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
