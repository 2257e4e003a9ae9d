"""`segdb track`: register sessions, match ROIs into tracks, follow a cell across sessions."""

from __future__ import annotations

import argparse
import json
from typing import Any

from segdb.cli.arguments import add_archive_option, add_json_option, catalog_id, count_at_least, open_public_archive
from segdb.cli.output import print_json, print_records


def add_track(commands: Any) -> None:
    track = commands.add_parser("track", help="register sessions, match ROIs into tracks, follow a cell")
    actions = track.add_subparsers(dest="action", required=True, metavar="ACTION", help="what to do")
    register = actions.add_parser("register", help="place every session of a field of view in one frame")
    match = actions.add_parser("match", help="match ROIs across sessions into tracks (a new run)")
    for sub in (register, match):
        sub.add_argument("--subject", required=True, help="the subject whose sessions to use")
        sub.add_argument("--fov", required=True, help="field of view (a plane's name unless ingest named one)")
        add_archive_option(sub)
        add_json_option(sub)
    register.add_argument("--method", default="rigid", choices=["translation", "rigid", "affine"],
                          help="the transform fitted between sessions (default: rigid)")
    register.set_defaults(handler=run_register)
    match.add_argument("--max-distance", type=float, default=None, help="µm (default 8)")
    match.add_argument("--min-iou", type=float, default=None, help="(default 0.1)")
    match.set_defaults(handler=run_match)
    runs = actions.add_parser("runs", help="list matching runs")
    runs.add_argument("--subject", help="only runs of this subject")
    add_archive_option(runs)
    add_json_option(runs)
    runs.set_defaults(handler=run_runs)
    listing = actions.add_parser("list", help="tracks of a matching run")
    listing.add_argument("run", type=catalog_id("matching run"), help="the run's id (see `segdb track runs`)")
    listing.add_argument("--min-sessions", type=count_at_least(1), default=1,
                         help="only tracks through at least this many sessions")
    add_archive_option(listing)
    add_json_option(listing)
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="a track's ROI in each session")
    show.add_argument("track_id", type=catalog_id("track"), help="the track's id (see `segdb track list RUN`)")
    add_archive_option(show)
    add_json_option(show)
    show.set_defaults(handler=run_show)


def run_register(args: argparse.Namespace) -> int:
    with open_public_archive(args) as archive:
        records = archive.register_field_of_view(args.subject, args.fov, method=args.method)
    print_records(records, ["session", "plane", "reference_session", "method", "score", "reliable"], as_json=args.json)
    return 0


def run_match(args: argparse.Namespace) -> int:
    options = {k: v for k, v in (("max_distance_um", args.max_distance), ("min_iou", args.min_iou)) if v is not None}
    with open_public_archive(args) as archive:
        run = archive.match_field_of_view(args.subject, args.fov, **options)
    if args.json:
        print_json(run.to_dict())
    else:
        print(f"matching run {run.matching_run_id}: {run.num_tracks} tracks over {run.num_sessions} sessions")
    return 0


def run_runs(args: argparse.Namespace) -> int:
    with open_public_archive(args) as archive:
        runs = archive.matching_runs(args.subject)
    print_records(runs, ["matching_run_id", "subject", "field_of_view", "num_sessions", "num_tracks", "created_at"],
                  as_json=args.json)
    return 0


def run_list(args: argparse.Namespace) -> int:
    with open_public_archive(args) as archive:
        ids = archive.tracks(args.run, min_sessions=args.min_sessions)
    print(json.dumps(ids) if args.json else " ".join(map(str, ids)) or "(none)")
    return 0


def run_show(args: argparse.Namespace) -> int:
    with open_public_archive(args) as archive:
        record = archive.track(args.track_id)
    if not args.json:
        print(f"track {record.track_id} (matching run {record.matching_run_id}), {len(record.members)} session(s)")
    print_records(record.members, ["session", "session_start", "segmentation_id", "plane", "roi", "roi_id"],
                  as_json=args.json)
    return 0
