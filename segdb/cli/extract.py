"""`segdb extract-traces`: ROI and neuropil traces from a motion-corrected movie (AllenSDK masks)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from segdb.cli.arguments import add_archive_option, open_public_archive, segmentation_ref
from segdb.errors import InvalidInputError


def add_extract_traces(commands: Any) -> None:
    extract = commands.add_parser(
        "extract-traces", help="compute ROI and neuropil traces from a motion-corrected movie (AllenSDK masks)"
    )
    extract.add_argument("segmentation", help="id or subject/session/name")
    extract.add_argument("movie", help="HDF5, .npy or TIFF movie, (frames, height, width), or suite2p's registered "
                         "data.bin (sized by the ops.npy beside it)")
    add_archive_option(extract)
    extract.add_argument("--plane", default=None, help="plane name (needed for multi-plane segmentations)")
    extract.add_argument("--dataset", default=None, help="movie dataset inside an HDF5 file")
    extract.add_argument("--border", type=float, nargs=4, default=(0.0, 0.0, 0.0, 0.0),
                         metavar=("RIGHT", "LEFT", "DOWN", "UP"), help="motion border shifts in pixels")
    extract.add_argument("--border-from-ops", nargs="?", const="", default=None, metavar="OPS_NPY",
                         help="take the motion border from suite2p's registration (ops.npy's xrange/yrange): "
                         "the ops.npy beside the movie, or the one named")
    extract.add_argument("--names", nargs=2, default=("raw", "neuropil"), metavar=("ROI", "NEUROPIL"),
                         help="names of the new trace series (default: raw neuropil)")
    extract.add_argument("--replace", action="store_true", help="replace existing series of those names")
    extract.add_argument("--no-progress", action="store_true", help="no progress bar")
    extract.set_defaults(handler=run_extract_traces)


def run_extract_traces(args: argparse.Namespace) -> int:
    border = tuple(args.border)
    if args.border_from_ops is not None:
        from segdb.masks.movie import motion_border_from_ops

        if any(border):
            raise InvalidInputError("give --border or --border-from-ops, not both")
        ops = Path(args.border_from_ops) if args.border_from_ops else Path(args.movie).with_name("ops.npy")
        border = motion_border_from_ops(ops)
        print(f"motion border from {ops}: right {border[0]:g}, left {border[1]:g}, down {border[2]:g}, "
              f"up {border[3]:g} pixels")
    with open_public_archive(args) as archive:
        report = archive.extract_traces(
            segmentation_ref(args.segmentation),
            args.movie,
            plane=args.plane,
            motion_border=border,
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
