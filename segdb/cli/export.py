"""`segdb export nwb`: segmentations as NWB files, in DANDI's layout with --dandi."""

from __future__ import annotations

import argparse
from typing import Any

from segdb.cli.arguments import add_archive_option, add_json_option, open_public_archive, segmentation_ref
from segdb.cli.output import print_json
from segdb.errors import InvalidInputError


def add_export(commands: Any) -> None:
    export = commands.add_parser("export", help="hand segmentations on in a community format")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT", help="the format to write")
    nwb = formats.add_parser(
        "nwb", help="write NWB files (one per session) that DANDI, pynwb, roiextractors and NeuroConv read",
        description="segdb export nwb m12/2026-03-01/suite2p out/   or   segdb export nwb --subject m12 out/ --dandi",
    )
    nwb.add_argument("targets", nargs="+", metavar="[SEGMENTATION] FOLDER",
                     help="a segmentation (id or subject/session/name) and the folder to write into; "
                          "only the folder with --subject")
    add_archive_option(nwb)
    add_json_option(nwb)
    nwb.add_argument("--subject", default=None, help="export every segmentation of this subject")
    nwb.add_argument("--session", default=None, help="with --subject: only this session")
    nwb.add_argument("--name", default=None, help="with --subject: only segmentations with this name")
    nwb.add_argument("--accepted", action="store_true", help="only ROIs accepted under --policy")
    nwb.add_argument("--policy", default="latest",
                     help="curation policy written to the file: latest, majority, unanimous or curator:NAME")
    nwb.add_argument("--dandi", action="store_true",
                     help="DANDI's layout (sub-<id>/sub-<id>_ses-<id>_ophys.nwb); refuse files missing what "
                          "DANDI needs")
    nwb.add_argument("--image-masks", action="store_true",
                     help="also write image masks (roiextractors' NWB reader reads only these)")
    nwb.add_argument("--overwrite", action="store_true", help="replace files that exist")
    nwb.add_argument("--no-progress", action="store_true", help="no progress bar")
    nwb.set_defaults(handler=run_export_nwb)


def run_export_nwb(args: argparse.Namespace) -> int:
    if len(args.targets) > 2:
        raise InvalidInputError(f"give a segmentation and a folder, not {len(args.targets)} arguments")
    if len(args.targets) == 2:
        if args.subject is not None:
            raise InvalidInputError("give either a segmentation or --subject, not both")
        segmentation, folder = segmentation_ref(args.targets[0]), args.targets[1]
    else:
        if args.subject is None:
            raise InvalidInputError(
                "say what to export: `segdb export nwb SEGMENTATION FOLDER` or `segdb export nwb --subject S FOLDER`"
            )
        segmentation, folder = None, args.targets[0]
    with open_public_archive(args) as archive:
        files = archive.export_nwb_files(
            folder, segmentation=segmentation, subject=args.subject, session=args.session, name=args.name,
            dandi=args.dandi, accepted_only=args.accepted, policy=args.policy, image_masks=args.image_masks,
            overwrite=args.overwrite, progress=False if args.no_progress else None,
        )
    if args.json:
        print_json([exported.to_dict() for exported in files])
        return 0
    for exported in files:
        print(f"wrote {exported.path}: {exported.subject}/{exported.session}, {exported.num_rois} ROIs on "
              f"{len(exported.planes)} plane(s)")
    return 0
