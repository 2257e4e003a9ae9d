"""Growth curves: how answers, the catalog's size and its build grow from 10^5 to 10^7 ROIs.

    python benchmarks/bench_growth.py                      # 10^5 and 10^6 ROIs, SQLite and PostgreSQL
    python benchmarks/bench_growth.py --sizes 1e5,1e6,1e7
    python benchmarks/bench_growth.py --small              # 10^4 ROIs (CI)
    python benchmarks/bench_growth.py --postgres URL       # (or SEGDB_TEST_POSTGRES_URL)
    python benchmarks/bench_growth.py --compare-ingest     # also: archive.ingest vs the bulk path, per session

Each size is an archive of N/1,000 sessions x 1,000 ROIs (10 subjects, one session a day each, 5 x 5
pixel masks, 2 samples of traces, iscell and snr, the pipeline's labels as curation events), built by
the bulk builder (benchmarks/_bulk.py: real chunk files and rows, many sessions per transaction), plus a
matching run per subject whose tracks follow 100 ROIs over each 10 consecutive sessions. Measured, each
with the plans of the statements it sends (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN; a scan
of a whole table is marked):

- build time (by table), the catalog's size on disk per ROI (SQLite's file; PostgreSQL's pg_total_relation_size
  summed over the schema's tables) and the chunk files' size;
- queries A and B of bench_queries.py as defined there (their answers grow with the archive), count
  and every row as columns; and the same with a fixed-size answer (A over the subject's last 10
  sessions, B over the last 2 days);
- `archive.extractor(seg)` open (with its ROI ids), `segdb ls segmentations` (the whole listing, and
  `--limit 20`: the 20 ingested last) and one session's segmentations through the listing API;
- consensus over one segmentation (`archive.curation_status(seg, policy="majority")`, 1,000 ROIs);
- a track lookup (`archive.track(id)`, 10 members) and a plane's tracks (`archive.tracks_of_plane`).

Target: a fixed-size answer grows within 2x from 10^6 to 10^7 ROIs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from _bulk import BulkSession, TrackPlan, bulk_build
from _common import MemorySegmentation, postgres_archive
from bench_queries import COLUMNS_B, FRAME, N_ROIS, SUBJECTS, query_filters
from sqlalchemy import Engine, event, text

import segdb
import segdb.arrays
import segdb.cli
from segdb.geometry import CsrMasks

TRACKS = TrackPlan(sessions=10, rois=100)
_SIDE = 5
_DR, _DC = (a.ravel() for a in np.mgrid[-2:3, -2:3])


def bench_sessions(n_sessions: int, seed: int = 0, first: int = 0) -> Iterator[BulkSession]:
    """bench_queries.py's sessions (subject m<i % 10>, one day each, 1,000 ROIs of 5 x 5 pixels, iscell, snr)."""
    rng = np.random.default_rng(seed)
    indptr = np.arange(0, N_ROIS * _SIDE * _SIDE + 1, _SIDE * _SIDE)
    for index in range(first, first + n_sessions):
        day = dt.date(2025, 1, 1) + dt.timedelta(days=index // SUBJECTS)
        centres = rng.integers(8, FRAME[0] - 8, size=(N_ROIS, 2))
        masks = CsrMasks(indptr, (centres[:, :1] + _DR).ravel(), (centres[:, 1:] + _DC).ravel(),
                         np.ones(N_ROIS * _SIDE * _SIDE))
        iscell = rng.random(N_ROIS) < 0.8
        yield BulkSession(
            subject=f"m{index % SUBJECTS:02d}", session=day.isoformat(), field_of_view="site1", frame_shape=FRAME,
            session_start=dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc), masks=masks,
            traces={"raw": np.zeros((2, N_ROIS), np.float32)},
            properties={"iscell": iscell.astype(float), "snr": rng.gamma(2.0, 2.5, N_ROIS)},
        )


def _pixel_masks(masks: CsrMasks) -> list[np.ndarray]:
    return [np.column_stack([masks.row[a:b], masks.col[a:b], masks.weight[a:b]])
            for a, b in zip(masks.indptr[:-1], masks.indptr[1:])]


# -- measuring --------------------------------------------------------------------------------------

_GROWING_TABLES = ("rois", "roi_properties", "curation_events", "track_members", "roi_matches", "tracks",
                   "sessions", "segmentations", "imaging_planes", "segmentation_planes", "array_files",
                   "trace_series", "property_descriptions")


@contextlib.contextmanager
def _captured() -> Iterator[list[tuple[str, object]]]:
    """Every SELECT the block sends through any engine (the CLI opens its own), with its parameters."""
    sent: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, *_args) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _plans(archive, statements: list[tuple[str, object]]) -> str:
    """Each statement's plan, a scan of a whole growing table marked."""
    postgres = archive.catalog.dialect == "postgresql"
    out = []
    with archive.catalog.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        for number, (statement, parameters) in enumerate(statements, 1):
            cursor.execute(("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + statement, parameters)
            lines = [str(row[0] if postgres else row[-1]) for row in cursor.fetchall()]
            marked = [line + ("   <-- whole table" if _scans_whole_table(line, postgres) else "") for line in lines]
            head = " ".join(statement.split())[:110]
            out.append(f"      [{number}] {head}…\n" + "\n".join(f"          {line}" for line in marked))
    return "\n".join(out)


def _scans_whole_table(line: str, postgres: bool) -> bool:
    words = line.replace("(", " ").split()
    if postgres:
        return "Seq" in words and any(f"Seq Scan on {t}" in line for t in _GROWING_TABLES)
    return any(line.strip().startswith(f"SCAN {t}") and "USING" not in line for t in _GROWING_TABLES)


def _measure(archive, label: str, fn: Callable[[], object], size_of: Callable[[object], int], results: dict,
             repeats: int = 5, plans: bool = True) -> None:
    with _captured() as sent:
        answer = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    took = statistics.median(times)
    results[label] = (took, size_of(answer))
    print(f"  {label}: {took * 1e3:.1f} ms ({size_of(answer)} in the answer, {len(sent)} statements)")
    if plans and sent:
        print(_plans(archive, sent))


def measure(archive, n_sessions: int, target: str) -> dict:
    """Every figure of one archive: {label: (seconds, answer size)}."""
    results: dict = {}
    query_a, query_b = query_filters(n_sessions)
    last = dt.date(2025, 1, 1) + dt.timedelta(days=n_sessions // SUBJECTS - 1)
    fixed_a = dict(query_a, date_from=last - dt.timedelta(days=9))
    fixed_b = dict(query_b, date_from=last - dt.timedelta(days=1))
    for name, filters in (("A", query_a), ("B", query_b), ("A fixed", fixed_a), ("B fixed", fixed_b)):
        _measure(archive, f"{name} count", lambda f=filters: archive.count_rois(**f), int, results)
        _measure(archive, f"{name} columns", lambda f=filters: archive.query(**f).columns(COLUMNS_B),
                 lambda t: len(t["key"]), results)
    middle_day = dt.date(2025, 1, 1) + dt.timedelta(days=n_sessions // SUBJECTS // 2)
    middle = archive.segmentations(subject="m05", session=middle_day.isoformat())[0]
    segdb.arrays.close_all()
    _measure(archive, "extractor open + ROI ids",
             lambda: archive.extractor(middle.segmentation_id).get_roi_ids(), len, results)

    def ls(*options: str) -> int:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            segdb.cli.main(["ls", "segmentations", "-a", target, *options])
        return out.getvalue().count("\n")

    _measure(archive, "segdb ls segmentations (all)", ls, int, results, repeats=3)
    _measure(archive, "segdb ls segmentations --limit 20", lambda: ls("--limit", "20"), int, results)
    _measure(archive, "one session's segmentations (API)",
             lambda: archive.segmentations(subject=middle.subject, session=middle.session), len, results)
    _measure(archive, "consensus of one segmentation (majority)",
             lambda: archive.curation_status(middle.segmentation_id, policy="majority"), len, results)
    run = next(r for r in archive.matching_runs() if r.subject == "m05")
    track_id = archive.tracks(run.matching_run_id)[len(archive.tracks(run.matching_run_id)) // 2]
    _measure(archive, "track lookup", lambda: archive.track(track_id).members, len, results)
    _measure(archive, "tracks of a plane", lambda: archive.tracks_of_plane(middle.segmentation_id, "plane0")[1],
             len, results)
    return results


# -- building ---------------------------------------------------------------------------------------

def _build(archive, n_sessions: int) -> float:
    start = time.perf_counter()
    done = 0
    seconds: dict[str, float] = {}
    # Batches of 100 sessions hold 10 consecutive sessions of each subject: one group of tracks each.
    step = min(n_sessions, 100 * max(1, n_sessions // 1000))
    tracks = TrackPlan(sessions=max(1, min(TRACKS.sessions, n_sessions // SUBJECTS)), rois=TRACKS.rois)
    for first in range(0, n_sessions, step):
        count = min(step, n_sessions - first)
        done += bulk_build(archive, bench_sessions(count, seed=first, first=first), batch_size=100, tracks=tracks,
                           seconds=seconds, label_checks_per_batch=True)
        print(f"    ... {done:,} ROIs ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    took = time.perf_counter() - start
    print("  build time by table: " + ", ".join(f"{name} {t:.1f} s" for name, t in
                                               sorted(seconds.items(), key=lambda item: -item[1]) if t >= 0.05))
    return took


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def sqlite_size(archive) -> int:
    with archive.catalog.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database = Path(archive.catalog.engine.url.database)
    return sum(p.stat().st_size for p in database.parent.glob(database.name + "*"))


def postgres_size(archive) -> int:
    with archive.catalog.engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)) "
            "FROM pg_tables WHERE schemaname = current_schema()")).scalar())


def run_size(kind: str, n_rois: int, postgres_url: str | None, work: Path) -> dict:
    n_sessions = n_rois // N_ROIS
    folder = Path(tempfile.mkdtemp(dir=work, prefix=f"growth-{kind}-"))
    try:
        with contextlib.ExitStack() as stack:
            if kind == "sqlite":
                archive = stack.enter_context(contextlib.closing(segdb.open(folder / "archive")))
                target = str(folder / "archive")
            else:
                archive = stack.enter_context(postgres_archive(postgres_url, folder))
                target = str(archive.catalog.engine.url.render_as_string(hide_password=False))
            print(f"== {kind}: {n_sessions:,} sessions x {N_ROIS:,} ROIs = {n_rois:,} ROIs", flush=True)
            built = _build(archive, n_sessions)
            start = time.perf_counter()
            if kind == "sqlite":
                with archive.catalog.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
            else:
                with archive.catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
            analyzed = time.perf_counter() - start
            size = sqlite_size(archive) if kind == "sqlite" else postgres_size(archive)
            files = _folder_bytes(Path(archive.storage_root))
            print(f"  build {built:.0f} s ({built / n_sessions * 1e3:.1f} ms a session), then "
                  f"{'ANALYZE' if kind == 'sqlite' else 'VACUUM ANALYZE'} {analyzed:.0f} s; catalog {size / 1e6:.0f} MB "
                  f"= {size / n_rois:.0f} B per ROI; chunk files {files / 1e6:.0f} MB ({files / n_sessions / 1e3:.0f} kB "
                  "a session)")
            results = measure(archive, n_sessions, target)
            results["build"] = (built, n_rois)
            results["catalog bytes per ROI"] = (size / n_rois, n_rois)
            return results
    finally:
        segdb.arrays.close_all()
        shutil.rmtree(folder, ignore_errors=True)


def compare_ingest(kind: str, postgres_url: str | None, work: Path, n_sessions: int = 20) -> None:
    """archive.ingest against the bulk path, per session of 1,000 ROIs, into a new archive each."""
    sessions = list(bench_sessions(n_sessions, seed=99))
    timings = {}
    paths = [("archive.ingest", None, False), ("bulk, one session per transaction", 1, False),
             (f"bulk, {n_sessions} sessions per transaction", n_sessions, False)]
    if kind == "postgresql":
        paths.append((f"bulk, {n_sessions} per transaction, labels checked per batch", n_sessions, True))
    for path, batch, batch_checks in paths:
        folder = Path(tempfile.mkdtemp(dir=work, prefix="ingest-"))
        try:
            with contextlib.ExitStack() as stack:
                archive = (stack.enter_context(contextlib.closing(segdb.open(folder / "archive")))
                           if kind == "sqlite" else stack.enter_context(postgres_archive(postgres_url, folder)))
                start = time.perf_counter()
                if batch is None:
                    for item in sessions:
                        source = MemorySegmentation(item.traces, _pixel_masks(item.masks), item.frame_shape,
                                                    properties=item.properties)
                        archive.ingest(source, subject=item.subject, session=item.session,
                                       session_start=item.session_start, field_of_view=item.field_of_view,
                                       progress=False)
                else:
                    bulk_build(archive, sessions, batch_size=batch, label_checks_per_batch=batch_checks)
                timings[path] = (time.perf_counter() - start) / n_sessions
        finally:
            segdb.arrays.close_all()
            shutil.rmtree(folder, ignore_errors=True)
    base = timings["archive.ingest"]
    print(f"== {kind}: per session of {N_ROIS:,} ROIs ({n_sessions} sessions): " + "; ".join(
        f"{path} {t * 1e3:.0f} ms ({base / t:.1f}x)" for path, t in timings.items()))


def _sizes(text_sizes: str) -> list[int]:
    sizes = []
    for part in text_sizes.split(","):
        try:
            value = int(float(part))
        except ValueError:
            raise SystemExit(f"--sizes: {part!r} is not a number of ROIs; give e.g. --sizes 1e5,1e6") from None
        if value < 10 * N_ROIS or value % (10 * N_ROIS):
            raise SystemExit(f"--sizes: {part} ROIs is not a multiple of {10 * N_ROIS:,} (10 subjects x "
                             f"{N_ROIS:,} ROIs a session); give e.g. 1e5")
        sizes.append(value)
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e5,1e6", help="numbers of ROIs, e.g. 1e5,1e6,1e7 (default 1e5,1e6)")
    parser.add_argument("--small", action="store_true", help="10^4 ROIs only (CI)")
    parser.add_argument("--postgres", default=os.environ.get("SEGDB_TEST_POSTGRES_URL"))
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    parser.add_argument("--compare-ingest", action="store_true",
                        help="also time archive.ingest against the bulk path, per session")
    parser.add_argument("--work", default=".", help="folder for the archives (deleted after each size)")
    args = parser.parse_args(argv)
    sizes = [10_000] if args.small else _sizes(args.sizes)
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    if args.only:
        kinds = [args.only] if args.only in kinds else []
    if not args.postgres:
        print("(PostgreSQL skipped: pass --postgres URL or set SEGDB_TEST_POSTGRES_URL)")
    work = Path(args.work)
    table: dict[tuple[str, int], dict] = {}
    for kind in kinds:
        if args.compare_ingest:
            compare_ingest(kind, args.postgres, work)
        for n_rois in sizes:
            table[(kind, n_rois)] = run_size(kind, n_rois, args.postgres, work)
    _summary(table)
    return 0


def _summary(table: dict[tuple[str, int], dict]) -> None:
    """Each figure per size, and its growth from one size to the next."""
    for kind in sorted({k for k, _ in table}):
        sizes = sorted(n for k, n in table if k == kind)
        labels = list(table[(kind, sizes[0])])
        print(f"== {kind}: " + " | ".join(f"{n:,} ROIs" for n in sizes) + " | growth per step")
        for label in labels:
            cells, values = [], []
            for n in sizes:
                value, answer = table[(kind, n)][label]
                values.append(value)
                unit = "s" if label == "build" else ("B" if "bytes" in label else "ms")
                shown = value if unit != "ms" else value * 1e3
                cells.append(f"{shown:,.1f} {unit}" + ("" if label in ("build", "catalog bytes per ROI")
                                                         else f" ({answer:,})"))
            growth = ", ".join(f"{b / a:.2f}x" for a, b in zip(values, values[1:]))
            print(f"  {label:42s} " + " | ".join(cells) + (f" | {growth}" if growth else ""))


if __name__ == "__main__":
    sys.exit(main())
