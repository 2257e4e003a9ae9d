"""Handing an archive on: segmentations as NWB files, in DANDI's layout when asked.

May import: the archive, the curation store (for the state it writes), arrays, conventions,
progress, errors and version; pynwb and hdmf. Never the command line, the facade or the
synthetic data.
"""

from segdb.export.nwb import (
    ExportedFile,
    ccf_location,
    dandi_id,
    export_nwb,
    export_nwb_files,
    missing_metadata,
    nwb_file_name,
)

__all__ = [
    "ExportedFile",
    "ccf_location",
    "dandi_id",
    "export_nwb",
    "export_nwb_files",
    "missing_metadata",
    "nwb_file_name",
]
