"""`segdb ingest suite2p|caiman|nwb`: archive a pipeline's output."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from segdb.cli.arguments import add_archive_option, open_archive

FORMATS = (("suite2p", "suite2p output folder"), ("caiman", "CaImAn results HDF5 file"), ("nwb", "NWB file"))


def add_ingest(commands: Any) -> None:
    ingest = commands.add_parser("ingest", help="archive a pipeline's output")
    formats = ingest.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for fmt, noun in FORMATS:
        sub = formats.add_parser(fmt, help=f"ingest a {noun}")
        sub.add_argument("path", help=noun)
        add_archive_option(sub)
        sub.add_argument("--subject", required=True)
        sub.add_argument("--session", required=True)
        sub.add_argument("--name", default=None, help="segmentation name (default: the format)")
        sub.add_argument("--session-start", default=None, help="when imaging started, ISO date/time")
        sub.add_argument("--field-of-view", default=None, help="field of view the planes belong to")
        sub.add_argument("--pixel-size", type=float, default=1.0, help="µm per pixel (default 1)")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        if fmt == "suite2p":
            sub.add_argument("--frame-shape", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                             help="frame shape, needed only when ops.npy is missing")
            sub.add_argument("--rate", type=float, default=None, help="frame rate in Hz, needed only without ops.npy")
        else:
            sub.add_argument("--plane", default="plane0", help="plane name (default plane0)")
        if fmt == "nwb":
            sub.add_argument("--frame-shape", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                             help="frame shape, needed only when the file records none (pixel masks alone)")
            sub.add_argument("--plane-segmentation", default=None, metavar="NAME",
                             help="which PlaneSegmentation (NAME or MODULE/NAME), when the file has several")
            sub.add_argument("--pixel-mask-order", choices=("xy", "rowcol"), default=None,
                             help="how pixel_mask is written: xy as NWB says (x = column) or rowcol (as NeuroConv "
                                  "and suite2p write it); needed only when the file cannot tell")
        sub.set_defaults(handler=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    from segdb.ingest.frontends import ingest_path

    with open_archive(args, create=True) as archive:
        records = ingest_path(
            archive,
            args.format,
            Path(args.path),
            subject=args.subject,
            session=args.session,
            name=args.name,
            session_start=args.session_start,
            field_of_view=args.field_of_view,
            pixel_size_um=args.pixel_size,
            plane=getattr(args, "plane", None),
            frame_shape=getattr(args, "frame_shape", None),
            sampling_frequency=getattr(args, "rate", None),
            plane_segmentation=getattr(args, "plane_segmentation", None),
            pixel_mask_order=getattr(args, "pixel_mask_order", None),
            progress=False if args.no_progress else None,
        )
        for record in records:
            print(
                f"ingested segmentation {record.segmentation_id} {record.subject}/{record.session}/{record.name}: "
                f"{record.num_rois} ROIs on {len(record.planes)} plane(s), {record.num_samples} samples"
            )
    return 0
