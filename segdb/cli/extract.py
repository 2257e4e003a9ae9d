"""`segdb extract-traces`: ROI and neuropil traces from a motion-corrected movie (AllenSDK masks)."""

from __future__ import annotations

import argparse
from typing import Any

from segdb.cli.arguments import add_archive_option, open_public_archive, segmentation_ref


def add_extract_traces(commands: Any) -> None:
    extract = commands.add_parser(
        "extract-traces", help="compute ROI and neuropil traces from a motion-corrected movie (AllenSDK masks)"
    )
    extract.add_argument("segmentation", help="id or subject/session/name")
    extract.add_argument("movie", help="HDF5, .npy or TIFF movie, (frames, height, width)")
    add_archive_option(extract)
    extract.add_argument("--plane", default=None, help="plane name (needed for multi-plane segmentations)")
    extract.add_argument("--dataset", default=None, help="movie dataset inside an HDF5 file")
    extract.add_argument("--border", type=float, nargs=4, default=(0.0, 0.0, 0.0, 0.0),
                         metavar=("RIGHT", "LEFT", "DOWN", "UP"), help="motion border shifts in pixels")
    extract.add_argument("--names", nargs=2, default=("raw", "neuropil"), metavar=("ROI", "NEUROPIL"),
                         help="names of the new trace series (default: raw neuropil)")
    extract.add_argument("--replace", action="store_true", help="replace existing series of those names")
    extract.add_argument("--no-progress", action="store_true", help="no progress bar")
    extract.set_defaults(handler=run_extract_traces)


def run_extract_traces(args: argparse.Namespace) -> int:
    with open_public_archive(args) as archive:
        report = archive.extract_traces(
            segmentation_ref(args.segmentation),
            args.movie,
            plane=args.plane,
            motion_border=args.border,
            names=tuple(args.names),
            dataset=args.dataset,
            replace=args.replace,
            progress=False if args.no_progress else None,
        )
    print(
        f"stored {report.names[0]!r} and {report.names[1]!r} traces of {report.num_rois} ROIs x "
        f"{report.num_samples} samples for segmentation {report.segmentation_id} plane {report.plane!r}"
    )
    for label, reason in report.excluded:
        print(f"  {label}: NaN trace ({reason.replace('_', ' ')})")
    return 0
