"""The `segdb` command."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segdb.errors import SegDBError


def _archive_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive",
        "-a",
        default=None,
        help="archive folder or database URL (default: $SEGDB_URL, else ./segdb-archive)",
    )
    parser.add_argument("--storage-root", default=None, help="where array files live (overrides the catalog's)")


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segdb", description="A lab archive for calcium-imaging segmentations."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="create a new, empty archive")
    init.add_argument("target", help="archive folder or database URL")
    init.add_argument("--storage-root", default=None, help="array folder (required for a database URL)")

    ingest = commands.add_parser("ingest", help="archive a pipeline's output")
    formats = ingest.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for fmt, noun in (("suite2p", "suite2p output folder"), ("caiman", "CaImAn results HDF5 file"),
                      ("nwb", "NWB file")):
        sub = formats.add_parser(fmt, help=f"ingest a {noun}")
        sub.add_argument("path", help=noun)
        _archive_option(sub)
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

    ls = commands.add_parser("ls", help="list what the archive holds")
    ls.add_argument("what", choices=["subjects", "sessions", "segmentations", "rois"])
    _archive_option(ls)
    _json_option(ls)
    ls.add_argument("--subject", default=None)
    ls.add_argument("--session", default=None)
    ls.add_argument("--segmentation", "-s", default=None, help="id or subject/session/name (for rois)")
    ls.add_argument("--plane", default=None, help="only this plane (for rois)")
    ls.add_argument("--kind", choices=["cell", "background", "all"], default="cell", help="for rois")
    ls.add_argument("--all", action="store_true", help="include unfinished ingests (for segmentations)")

    delete = commands.add_parser("delete", help="delete a segmentation and its array files")
    delete.add_argument("segmentation", help="id or subject/session/name")
    delete.add_argument("--force", action="store_true", help="delete even if people have curated it")
    _archive_option(delete)

    _curate_parser(commands)
    _query_parser(commands)
    _track_parser(commands)

    verify = commands.add_parser("verify", help="recompute every array file's sha256 and name damaged files")
    _archive_option(verify)
    _json_option(verify)

    gc = commands.add_parser("gc", help="list (and with --apply delete) orphan files and unfinished ingests")
    _archive_option(gc)
    _json_option(gc)
    gc.add_argument("--apply", action="store_true", help="delete what is listed")
    gc.add_argument("--older-than-hours", type=float, default=6.0,
                    help="treat another machine's unfinished ingest as crashed after this long (default 6)")

    db = commands.add_parser("db", help="catalog schema: upgrade, current, check; roles for a shared catalog")
    db.add_argument("action", choices=["upgrade", "current", "check", "roles"])
    _archive_option(db)
    db.add_argument("--apply", action="store_true", help="with roles: run the SQL instead of printing it")

    extract = commands.add_parser(
        "extract-traces", help="compute ROI and neuropil traces from a motion-corrected movie (AllenSDK masks)"
    )
    extract.add_argument("segmentation", help="id or subject/session/name")
    extract.add_argument("movie", help="HDF5, .npy or TIFF movie, (frames, height, width)")
    _archive_option(extract)
    extract.add_argument("--plane", default=None, help="plane name (needed for multi-plane segmentations)")
    extract.add_argument("--dataset", default=None, help="movie dataset inside an HDF5 file")
    extract.add_argument("--border", type=float, nargs=4, default=(0.0, 0.0, 0.0, 0.0),
                         metavar=("RIGHT", "LEFT", "DOWN", "UP"), help="motion border shifts in pixels")
    extract.add_argument("--names", nargs=2, default=("raw", "neuropil"), metavar=("ROI", "NEUROPIL"),
                         help="names of the new trace series (default: raw neuropil)")
    extract.add_argument("--replace", action="store_true", help="replace existing series of those names")
    extract.add_argument("--no-progress", action="store_true")

    demo = commands.add_parser("demo", help="build a small synthetic lab archive and show what it holds")
    demo.add_argument("folder", nargs="?", default="./demo-archive")
    demo.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(_dispatch(args) or 0)
    except SegDBError as exc:
        print(f"segdb: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as other Unix tools do.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("segdb: interrupted; nothing half-written is visible (`segdb gc` lists leftovers)", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int | None:
    handler = {
        "init": _cmd_init, "ingest": _cmd_ingest, "ls": _cmd_ls, "delete": _cmd_delete, "verify": _cmd_verify,
        "gc": _cmd_gc, "db": _cmd_db, "demo": _cmd_demo, "extract-traces": _cmd_extract_traces,
        "curate": _cmd_curate, "query": _cmd_query, "track": _cmd_track,
    }[args.command]
    return handler(args)


def _open(args: argparse.Namespace, *, create: bool = False):
    import segdb

    return segdb.open(args.archive, storage_root=args.storage_root, create=create)


def _cmd_init(args: argparse.Namespace) -> int:
    from segdb.archive import Archive

    archive = Archive.create(args.target, storage_root=args.storage_root)
    print(f"created an empty archive at {archive.location} (arrays in {archive.storage_root})")
    archive.close()
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from segdb.ingest.frontends import ingest_path

    with _open(args, create=True) as archive:
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
            progress=False if args.no_progress else None,
        )
        for record in records:
            print(
                f"ingested segmentation {record.segmentation_id} {record.subject}/{record.session}/{record.name}: "
                f"{record.num_rois} ROIs on {len(record.planes)} plane(s), {record.num_samples} samples"
            )
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    with _open(args) as archive:
        if args.what == "subjects":
            records = archive.subjects()
            columns = ["name", "species", "num_sessions"]
        elif args.what == "sessions":
            records = archive.sessions(subject=args.subject)
            columns = ["session_id", "subject", "name", "session_start", "num_segmentations"]
        elif args.what == "segmentations":
            records = archive.segmentations(subject=args.subject, session=args.session, include_unfinished=args.all)
            columns = ["segmentation_id", "subject", "session", "name", "source_format", "planes", "num_rois",
                       "num_samples", "status"]
        else:
            if args.segmentation is None:
                raise SystemExit("segdb ls rois: give --segmentation ID (or subject/session/name)")
            kind = None if args.kind == "all" else args.kind
            records = archive.rois(_segmentation_arg(args.segmentation), plane=args.plane, kind=kind)
            columns = ["roi_id", "plane", "key", "kind", "centroid_px", "centroid_um", "pixel_count",
                       "source_accepted"]
        rows = [record.to_dict() for record in records]
        _print_rows(rows, columns, as_json=args.json)
    return 0


def _segmentation_arg(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _cmd_delete(args: argparse.Namespace) -> int:
    with _open(args) as archive:
        record = archive.delete_segmentation(_segmentation_arg(args.segmentation), force=args.force)
    print(f"deleted segmentation {record.segmentation_id} {record.subject}/{record.session}/{record.name}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    with _open(args) as archive:
        report = archive.verify()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"checked {report.files_checked} array file(s), {report.bytes_checked / 1e6:.1f} MB")
        for problem in report.problems:
            print(f"  {problem.relative_path}: {problem.problem}")
        print("all files intact" if report.ok else f"{len(report.problems)} file(s) missing or damaged")
    return 0 if report.ok else 1


def _cmd_gc(args: argparse.Namespace) -> int:
    with _open(args) as archive:
        report = archive.gc(apply=args.apply, older_than=dt.timedelta(hours=args.older_than_hours))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    verb = "deleted" if report.applied else "would delete"
    print(f"{len(report.orphan_files)} orphan file(s), {report.orphan_bytes / 1e6:.1f} MB; "
          f"{len(report.stale_segmentations)} unfinished ingest(s)")
    for path in report.orphan_files:
        print(f"  {verb}: {path}")
    for seg_id in report.stale_segmentations:
        print(f"  {verb}: unfinished segmentation {seg_id}")
    if not report.applied and (report.orphan_files or report.stale_segmentations):
        print("run `segdb gc --apply` to delete them")
    return 0


def _cmd_db(args: argparse.Namespace) -> int:
    from segdb.archive import resolve_target
    from segdb.catalog.engine import Catalog
    from segdb.catalog.schema import (
        SCHEMA_REVISION,
        current_revision,
        schema_drift,
        upgrade,
    )

    where = resolve_target(args.archive, args.storage_root)
    if args.action == "roles":
        return _db_roles(where, apply=args.apply)
    if where.is_folder and not (Path(where.location) / "catalog.sqlite").exists():
        raise SystemExit(f"segdb db: there is no archive at {where.location}; create one with `segdb init`")
    catalog = Catalog(where.url)
    try:
        before = current_revision(catalog.engine)
        if args.action == "upgrade":
            upgrade(catalog.engine, SCHEMA_REVISION)
            print(f"catalog at {where.location}: schema {before or 'empty'} -> {SCHEMA_REVISION}")
            return 0
        if args.action == "current":
            print(f"catalog at {where.location}: schema {before or 'none'} (this segdb expects {SCHEMA_REVISION})")
            return 0
        drift = schema_drift(catalog.engine)
        if before != SCHEMA_REVISION:
            print(f"schema {before or 'none'} is not {SCHEMA_REVISION}: run `segdb db upgrade`")
            return 1
        if drift:
            print("the catalog's tables differ from segdb's models:")
            for item in drift:
                print(f"  {item}")
            return 1
        print(f"catalog at {where.location}: schema {SCHEMA_REVISION}, tables match the models")
        return 0
    finally:
        catalog.dispose()


def _cmd_extract_traces(args: argparse.Namespace) -> int:
    with _open(args) as archive:
        report = archive.extract_traces(
            _segmentation_arg(args.segmentation),
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


def _db_roles(where: Any, *, apply: bool) -> int:
    from sqlalchemy import text

    from segdb.catalog.engine import Catalog
    from segdb.curation import roles_sql

    if where.is_folder or where.url.startswith("sqlite"):
        raise SystemExit("segdb db roles: roles exist only in a PostgreSQL catalog; an embedded archive has none")
    catalog = Catalog(where.url)
    try:
        with catalog.engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar()
        sql = roles_sql(schema)
        if not apply:
            print(sql)
            return 0
        with catalog.engine.begin() as conn:
            conn.exec_driver_sql(sql)
        print(f"created roles segdb_reader and segdb_curator for schema {schema}")
        return 0
    finally:
        catalog.dispose()


def _curate_parser(commands: Any) -> None:
    curate = commands.add_parser("curate", help="label ROIs, see curation status and history")
    actions = curate.add_subparsers(dest="action", required=True, metavar="ACTION")
    for label, verb in (("accepted", "accept"), ("rejected", "reject"), ("unsure", "unsure")):
        sub = actions.add_parser(verb, help=f"label ROIs {label}")
        sub.add_argument("rois", nargs="+", help="ROI keys as the source named them")
        sub.add_argument("--segmentation", "-s", required=True, help="id or subject/session/name")
        sub.add_argument("--plane", default=None)
        sub.add_argument("--note", default=None)
        sub.add_argument("--expect-revision", type=int, default=None,
                         help="refuse if any ROI was labelled since this revision")
        sub.set_defaults(label=label)
        _archive_option(sub)
        _json_option(sub)
    undo = actions.add_parser("undo", help="take back your last labelling")
    undo.add_argument("--segmentation", "-s", required=True)
    _archive_option(undo)
    _json_option(undo)
    status = actions.add_parser("status", help="consensus label of every ROI")
    status.add_argument("segmentation")
    status.add_argument("--policy", default="latest", help="latest, majority, unanimous or curator:NAME")
    status.add_argument("--plane", default=None)
    _archive_option(status)
    _json_option(status)
    history = actions.add_parser("history", help="every decision on one ROI")
    history.add_argument("roi")
    history.add_argument("--segmentation", "-s", required=True)
    history.add_argument("--plane", default=None)
    _archive_option(history)
    _json_option(history)
    export = actions.add_parser("export", help="write the curation state as CSV")
    export.add_argument("segmentation")
    export.add_argument("csv")
    export.add_argument("--policy", default="latest")
    _archive_option(export)
    imported = actions.add_parser("import", help="label ROIs from a CSV (plane, roi, label) as you")
    imported.add_argument("segmentation")
    imported.add_argument("csv")
    _archive_option(imported)
    iscell = actions.add_parser("import-iscell", help="a suite2p GUI session's iscell.npy as your labels")
    iscell.add_argument("segmentation")
    iscell.add_argument("iscell")
    iscell.add_argument("--plane", default=None)
    _archive_option(iscell)
    freeze = actions.add_parser("freeze", help="close a segmentation's curation")
    freeze.add_argument("segmentation")
    freeze.add_argument("--reason", default="")
    _archive_option(freeze)
    roles = actions.add_parser("require-roles", help="PostgreSQL: curators must write as their own database role")
    roles.add_argument("--off", action="store_true")
    _archive_option(roles)


def _cmd_curate(args: argparse.Namespace) -> int:
    from segdb import curation

    with _open(args) as archive:
        action = args.action
        if action in ("accept", "reject", "unsure"):
            records = archive.curate(_segmentation_arg(args.segmentation), args.rois, args.label, plane=args.plane,
                                     note=args.note, expected_revision=args.expect_revision)
            return _print_events(records, args.json, f"labelled {len(records)} ROI(s) {args.label}")
        if action == "undo":
            records = archive.undo_curation(_segmentation_arg(args.segmentation))
            return _print_events(records, args.json, f"undid your last labelling of {len(records)} ROI(s)")
        if action == "status":
            status = archive.curation_status(_segmentation_arg(args.segmentation), policy=args.policy, plane=args.plane)
            rows = [s.to_dict() for s in status]
            if not args.json:
                counts: dict[str, int] = {}
                for s in status:
                    counts[s.label or "undecided"] = counts.get(s.label or "undecided", 0) + 1
                print(f"policy {args.policy}: " + ", ".join(f"{n} {label}" for label, n in sorted(counts.items())))
            _print_rows(rows, ["plane", "roi", "label", "revision", "by_curator"], as_json=args.json)
            return 0
        if action == "history":
            records = archive.curation_history(_segmentation_arg(args.segmentation), args.roi, plane=args.plane)
            return _print_events(records, args.json, None)
        if action == "export":
            count = curation.export_curation_csv(archive, _segmentation_arg(args.segmentation), args.csv,
                                                 policy=args.policy)
            print(f"wrote {count} ROI(s) to {args.csv}")
            return 0
        if action == "import":
            records = curation.import_curation_csv(archive, _segmentation_arg(args.segmentation), args.csv)
            print(f"labelled {len(records)} ROI(s) from {args.csv}")
            return 0
        if action == "import-iscell":
            records = curation.import_iscell(archive, _segmentation_arg(args.segmentation), args.iscell,
                                             plane=args.plane)
            print(f"labelled {len(records)} ROI(s) from {args.iscell}")
            return 0
        if action == "freeze":
            archive.freeze_curation(_segmentation_arg(args.segmentation), reason=args.reason)
            print("curation frozen")
            return 0
        curation.require_curator_roles(archive, not args.off)
        print("curators must now write as their own database role" if not args.off else "role check off")
        return 0


def _print_events(records: list, as_json: bool, summary: str | None) -> int:
    rows = [r.to_dict() for r in records]
    if summary and not as_json:
        print(summary)
    _print_rows(rows, ["event_id", "plane", "roi", "curator", "label", "revision", "created_at", "note"],
                as_json=as_json)
    return 0


def _query_parser(commands: Any) -> None:
    query = commands.add_parser("query", help="find ROIs across sessions (filters evaluated in SQL)")
    _archive_option(query)
    _json_option(query)
    query.add_argument("--subject")
    query.add_argument("--session", action="append", help="session name (repeatable)")
    query.add_argument("--after", help="sessions that started on or after this date")
    query.add_argument("--before", help="sessions that started on or before this date")
    query.add_argument("--fov", help="field of view (needed for --near / --box)")
    query.add_argument("--plane")
    query.add_argument("--segmentation", help="segmentation name")
    query.add_argument("--kind", choices=["cell", "background", "all"], default="cell")
    query.add_argument("--where", help="e.g. \"snr > 5 and pixel_count >= 40\"")
    query.add_argument("--accepted", action="store_true", help="only accepted ROIs (under --policy)")
    query.add_argument("--rejected", action="store_true", help="only ROIs not accepted (under --policy)")
    query.add_argument("--policy", default="latest", help="curation policy: latest, majority, unanimous, curator:NAME")
    query.add_argument("--near", type=float, nargs=3, metavar=("X_UM", "Y_UM", "RADIUS_UM"))
    query.add_argument("--box", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"))
    query.add_argument("--limit", type=int)
    query.add_argument("--count", action="store_true", help="print only how many ROIs match (counted in SQL)")
    query.add_argument("--explain", action="store_true", help="print the database's query plan instead")


def _cmd_query(args: argparse.Namespace) -> int:
    if args.accepted and args.rejected:
        raise SystemExit("segdb query: --accepted and --rejected exclude each other")
    filters = dict(
        subject=args.subject, session=args.session, date_from=args.after, date_to=args.before,
        field_of_view=args.fov, plane=args.plane, segmentation=args.segmentation,
        kind=None if args.kind == "all" else args.kind, where=args.where,
        accepted=True if args.accepted else (False if args.rejected else None), curation=args.policy,
        near=tuple(args.near) if args.near else None, box=tuple(args.box) if args.box else None, limit=args.limit,
    )
    with _open(args) as archive:
        if args.explain:
            print(archive.explain_query(count=args.count, **filters))
            return 0
        if args.count:
            count = archive.count_rois(**filters)
            print(json.dumps({"count": count}) if args.json else count)
            return 0
        hits = archive.query(**filters)
    _print_rows([h.to_dict() for h in hits],
                ["roi_id", "subject", "session", "segmentation", "plane", "key", "fov_um", "pixel_count"],
                as_json=args.json)
    if not args.json:
        print(f"{len(hits)} ROI(s)")
    return 0


def _track_parser(commands: Any) -> None:
    track = commands.add_parser("track", help="register sessions, match ROIs into tracks, follow a cell")
    actions = track.add_subparsers(dest="action", required=True, metavar="ACTION")
    register = actions.add_parser("register", help="place every session of a field of view in one frame")
    match = actions.add_parser("match", help="match ROIs across sessions into tracks (a new run)")
    for sub in (register, match):
        sub.add_argument("--subject", required=True)
        sub.add_argument("--fov", required=True, help="field of view (a plane's name unless ingest named one)")
        _archive_option(sub)
        _json_option(sub)
    register.add_argument("--method", default="rigid", choices=["translation", "rigid", "affine"])
    match.add_argument("--max-distance", type=float, default=None, help="µm (default 8)")
    match.add_argument("--min-iou", type=float, default=None, help="(default 0.1)")
    runs = actions.add_parser("runs", help="list matching runs")
    runs.add_argument("--subject")
    _archive_option(runs)
    _json_option(runs)
    listing = actions.add_parser("list", help="tracks of a matching run")
    listing.add_argument("run", type=int)
    listing.add_argument("--min-sessions", type=int, default=1)
    _archive_option(listing)
    _json_option(listing)
    show = actions.add_parser("show", help="a track's ROI in each session")
    show.add_argument("track_id", type=int)
    _archive_option(show)
    _json_option(show)


def _cmd_track(args: argparse.Namespace) -> int:
    with _open(args) as archive:
        if args.action == "register":
            records = archive.register_field_of_view(args.subject, args.fov, method=args.method)
            _print_rows([r.to_dict() for r in records],
                        ["session", "plane", "reference_session", "method", "score", "reliable"], as_json=args.json)
        elif args.action == "match":
            options = {k: v for k, v in (("max_distance_um", args.max_distance), ("min_iou", args.min_iou))
                       if v is not None}
            run = archive.match_field_of_view(args.subject, args.fov, **options)
            if args.json:
                print(json.dumps(run.to_dict(), indent=2, default=str))
            else:
                print(f"matching run {run.matching_run_id}: {run.num_tracks} tracks over {run.num_sessions} sessions")
        elif args.action == "runs":
            _print_rows([r.to_dict() for r in archive.matching_runs(args.subject)],
                        ["matching_run_id", "subject", "field_of_view", "num_sessions", "num_tracks", "created_at"],
                        as_json=args.json)
        elif args.action == "list":
            ids = archive.tracks(args.run, min_sessions=args.min_sessions)
            print(json.dumps(ids) if args.json else " ".join(map(str, ids)) or "(none)")
        else:
            record = archive.track(args.track_id)
            if not args.json:
                print(f"track {record.track_id} (matching run {record.matching_run_id}), "
                      f"{len(record.members)} session(s)")
            _print_rows([mbr.to_dict() for mbr in record.members],
                        ["session", "session_start", "segmentation_id", "plane", "roi", "roi_id"], as_json=args.json)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from segdb.demo import build_demo_archive

    build_demo_archive(Path(args.folder), seed=args.seed, out=sys.stdout)
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_cell(v) for v in value) + ")"
    return str(value)


def _print_rows(rows: list[dict[str, Any]], columns: list[str], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        print("(none)")
        return
    table = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in table:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
