"""`segdb show`: a segmentation's ROI outlines over a summary image, or one tracked cell across sessions, as a picture."""

from __future__ import annotations

import argparse
from typing import Any

from segdb.cli.arguments import add_archive_option, add_json_option, open_public_archive, segmentation_ref
from segdb.cli.output import print_json
from segdb.errors import InvalidInputError


def add_show(commands: Any) -> None:
    show = commands.add_parser(
        "show", help="draw ROI outlines over a summary image, or a tracked cell across sessions, to a PNG",
        description="segdb show SEGMENTATION -o rois.png   or   segdb show track ID -o track.png",
    )
    show.add_argument("target", metavar="SEGMENTATION | track", help="a segmentation (id or subject/session/name), "
                                                                      "or the word 'track' followed by a track id")
    show.add_argument("track_id", nargs="?", metavar="ID", help="with 'track': the track to draw")
    add_archive_option(show)
    add_json_option(show)
    show.add_argument("-o", "--output", default=None,
                      help="the picture to write (.png, .svg or .pdf; default segmentation-ID-PLANE.png or "
                           "track-ID.png here)")
    show.add_argument("--plane", default=None, help="the plane to draw (needed when there are several)")
    show.add_argument("--image", default=None,
                      help="the summary image under the outlines: correlation, mean, max_projection, … (default: "
                           "correlation where there is one, else mean; mean for a track)")
    show.add_argument("--color-by", default="label",
                      help="label (each ROI's curation label under --policy), track, or a numeric property's name")
    show.add_argument("--policy", default="latest",
                      help="what a ROI's label is: latest, majority, unanimous or curator:NAME")
    show.add_argument("--where", default=None, help="draw only the ROIs this filter selects, e.g. 'skew > 1'")
    show.add_argument("--run", type=int, default=None,
                      help="with --color-by track: the matching run (default: the newest that holds the plane)")
    show.add_argument("--trace", default="raw", help="with track: the trace drawn for each session")
    show.set_defaults(handler=run_show)


def run_show(args: argparse.Namespace) -> int:
    from segdb.figures import draw_segmentation, draw_track

    with open_public_archive(args) as archive:
        if args.target == "track":
            if args.track_id is None or not args.track_id.isdigit():
                raise InvalidInputError(
                    f"`segdb show track` needs a track id, e.g. `segdb show track 1`; got {args.track_id!r} "
                    "(`segdb track list RUN` lists them)"
                )
            picture = draw_track(archive, int(args.track_id), args.output or f"track-{args.track_id}.png",
                                 image=args.image or "mean", trace=args.trace)
        else:
            if args.track_id is not None:
                raise InvalidInputError(
                    f"give one segmentation, not {args.target!r} and {args.track_id!r}; to draw a track, "
                    f"write `segdb show track {args.track_id}`"
                )
            segmentation = segmentation_ref(args.target)
            output = args.output
            if output is None:
                plane = archive.plane_handle(segmentation, args.plane)
                output = f"segmentation-{plane.segmentation_id}-{plane.plane_name}.png"
            picture = draw_segmentation(
                archive, segmentation, output, plane=args.plane, image=args.image,
                color_by=args.color_by, policy=args.policy, where=args.where, matching_run=args.run,
            )
    if args.json:
        print_json(picture.to_dict())
        return 0
    shown = ", ".join(f"{count} {label}" for label, count in picture.counts.items())
    print(f"wrote {picture.path}: {picture.num_rois} ROIs{f' ({shown})' if shown else ''}")
    return 0
