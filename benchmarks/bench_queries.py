"""Cross-session query benchmark: an archive of N sessions x 1,000 ROIs, against how a lab does it today.

    python benchmarks/bench_queries.py               # 1,000 sessions (10^6 ROIs), SQLite and PostgreSQL
    python benchmarks/bench_queries.py --small       # 100 sessions
    python benchmarks/bench_queries.py --postgres URL
    python benchmarks/bench_queries.py --small --keep DIR   # build once into DIR, reuse on later runs

Queries:
  A. accepted ROIs of subject S within 15 µm of point P (in its field of view's frame)
  B. ROIs with snr > 5 in sessions after date D
Each runs in SQL (query plan printed) and, side by side, the way a lab answers it today: load every
session's suite2p stat.npy / iscell.npy (and a per-ROI snr.npy) and filter in numpy.
Target: both use indexes, answer in milliseconds, and beat the numpy baseline by at least 100x.
Query B is also fetched whole, every ROI's row (key, session, plane, centroid, snr), through the
columnar path (`archive.query(...).columns(...)` and `.to_pandas(...)`): target at least 100x faster
than the numpy baseline and within 5x of the count.

The archive is built through the normal ingest path (tiny traces: the catalog is what is measured),
which takes a few minutes at full size.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import MemorySegmentation, postgres_archive

import segdb

N_ROIS = 1000
SUBJECTS = 10
FRAME = (512, 512)
PIXEL_UM = 1.0


def _session(rng: np.random.Generator) -> MemorySegmentation:
    """1,000 ROIs of 5 x 5 pixels, with suite2p's iscell and an snr property."""
    centres = rng.integers(8, FRAME[0] - 8, size=(N_ROIS, 2))
    masks = []
    for r, c in centres:
        rows, cols = np.mgrid[r - 2 : r + 3, c - 2 : c + 3]
        masks.append(np.column_stack([rows.ravel(), cols.ravel(), np.ones(25)]))
    iscell = rng.random(N_ROIS) < 0.8
    snr = rng.gamma(2.0, 2.5, N_ROIS)
    source = MemorySegmentation({"raw": np.zeros((2, N_ROIS), np.float32)}, masks, FRAME,
                                properties={"iscell": iscell.astype(float), "snr": snr})
    source.centres, source.iscell, source.snr = centres, iscell, snr
    return source


def build(archive, folder: Path, n_sessions: int) -> None:
    """Ingest N sessions and write the same sessions as suite2p-style files for the numpy baseline."""
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for index in range(n_sessions):
        subject = f"m{index % SUBJECTS:02d}"
        day = dt.date(2025, 1, 1) + dt.timedelta(days=index // SUBJECTS)
        source = _session(rng)
        archive.ingest(source, subject=subject, session=day.isoformat(), session_start=day, pixel_size_um=PIXEL_UM,
                       field_of_view="site1", progress=False)
        if folder is not None:
            plane = folder / subject / day.isoformat() / "suite2p" / "plane0"
            plane.mkdir(parents=True, exist_ok=True)
            stat = _suite2p_stat(source.centres, np.random.default_rng(index))
            np.save(plane / "stat.npy", stat, allow_pickle=True)
            np.save(plane / "iscell.npy", np.column_stack([source.iscell.astype(float), source.iscell]))
            np.save(plane / "snr.npy", source.snr)
        if index % 100 == 99:
            print(f"    ... {index + 1}/{n_sessions} sessions ({time.perf_counter() - start:.0f} s)", file=sys.stderr)


def _suite2p_stat(centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """stat.npy entries as suite2p writes them: the real example's fields, sizes and types
    (numpy scalars, int64 pixel lists of ~60 and neuropil masks of ~870 pixels)."""
    entries = []
    for r, c in centres:
        n = 60
        entries.append({
            "ypix": np.full(n, r, np.int64), "xpix": np.full(n, c, np.int64), "lam": rng.random(n, np.float32),
            "med": [int(r), int(c)], "footprint": np.float64(1.0), "mrs": np.float32(0.8), "mrs0": np.float64(1.1),
            "compact": np.float64(1.05), "solidity": np.float64(0.9), "npix": n, "npix_soma": np.int64(n),
            "soma_crop": np.ones(n, bool), "overlap": np.zeros(n, bool), "radius": np.float64(4.2),
            "aspect_ratio": np.float64(1.1), "npix_norm_no_crop": np.float32(1.0), "npix_norm": np.float32(1.0),
            "skew": np.float32(2.0), "std": np.float32(30.0),
            "neuropil_mask": rng.integers(0, FRAME[0] * FRAME[1], 870, dtype=np.int64),
        })
    return np.array(entries, dtype=object)


def numpy_query_a(folder: Path, subject: str, point: tuple[float, float], radius: float) -> int:
    found = 0
    for plane in sorted((folder / subject).glob("*/suite2p/plane0")):
        stat = np.load(plane / "stat.npy", allow_pickle=True)
        iscell = np.load(plane / "iscell.npy")[:, 0] > 0.5
        med = np.array([s["med"] for s in stat])
        x, y = med[:, 1] * PIXEL_UM, med[:, 0] * PIXEL_UM
        found += int(np.sum(iscell & ((x - point[0]) ** 2 + (y - point[1]) ** 2 <= radius**2)))
    return found


def numpy_query_b(folder: Path, after: dt.date) -> int:
    found = 0
    for plane in sorted(folder.glob("*/*/suite2p/plane0")):
        if dt.date.fromisoformat(plane.parts[-3]) <= after:
            continue
        np.load(plane / "stat.npy", allow_pickle=True)  # a lab loads the session to know its ROIs
        found += int(np.sum(np.load(plane / "snr.npy") > 5))
    return found


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


#: Query A's subject, point (µm, in its field of view's frame) and radius.
SUBJECT, POINT, RADIUS = "m03", (256.0, 256.0), 15.0


def recent_after(n_sessions: int) -> dt.date:
    """The day before the last fifth of the sessions: query B's "sessions after D"."""
    return dt.date(2025, 1, 1) + dt.timedelta(days=int(n_sessions // SUBJECTS * 0.8) - 1)


def query_filters(n_sessions: int) -> tuple[dict, dict]:
    """The filters of queries A and B over an archive of ``n_sessions`` sessions built by :func:`build`."""
    query_a = dict(subject=SUBJECT, field_of_view="site1", near=(*POINT, RADIUS), accepted=True)
    query_b = dict(where="snr > 5", date_from=recent_after(n_sessions) + dt.timedelta(days=1))
    return query_a, query_b


def run(kind: str, archive, folder: Path, n_sessions: int) -> None:
    subject, point, radius = SUBJECT, POINT, RADIUS
    after = recent_after(n_sessions)
    query_a, query_b = query_filters(n_sessions)
    print(f"== {kind}: {n_sessions} sessions x {N_ROIS} ROIs")
    for label, filters, baseline in (
        ("A. accepted ROIs of a subject within 15 um of P", query_a,
         lambda: numpy_query_a(folder, subject, point, radius)),
        ("B. ROIs with snr > 5 in sessions after D", query_b, lambda: numpy_query_b(folder, after)),
    ):
        took, hits = _median_time(lambda f=filters: archive.query_rois(**f), 7)
        counted, count = _median_time(lambda f=filters: archive.count_rois(**f), 7)
        base, expected = _median_time(baseline, 3)
        assert len(hits) == expected == count, (label, len(hits), count, expected)
        print(f"  {label}: {count} ROIs; numpy over stat.npy files {base * 1e3:.0f} ms; SQL count {counted * 1e3:.1f} ms "
              f"-> {base / counted:.0f}x (target >= 100x); SQL with every ROI's record {took * 1e3:.1f} ms "
              f"-> {base / took:.0f}x")
        if label.startswith("B."):
            _columnar_b(archive, filters, base, counted, count)
        print("    plan of the count: " + archive.explain_query(count=True, **filters).replace("\n", "\n          "))


#: Query B's table: every ROI's key, session, plane, centroid and snr.
COLUMNS_B = ["key", "session", "plane", "centroid_row", "centroid_col", "snr"]


def _columnar_b(archive, filters: dict, base: float, counted: float, count: int) -> None:
    """Query B with every ROI's row, through the columnar path, as ratios against numpy and the count."""
    arrays, table = _median_time(lambda: archive.query(**filters).columns(COLUMNS_B), 7)
    frame, df = _median_time(lambda: archive.query(**filters).to_pandas(COLUMNS_B), 7)
    assert len(table["key"]) == len(df) == count and not np.isnan(table["snr"]).any()
    bare, rows = _median_time(lambda: _bare_rows(archive, filters), 7)
    assert rows == count, (rows, count)
    print(f"    every ROI's row (key, session, plane, centroid, snr) as numpy columns {arrays * 1e3:.1f} ms -> "
          f"{base / arrays:.0f}x numpy (target >= 100x), {arrays / counted:.1f}x the count (target <= 5x); "
          f"as a pandas DataFrame {frame * 1e3:.1f} ms -> {base / frame:.0f}x numpy, {frame / counted:.1f}x the count")
    print(f"    the same rows as tuples through the bare driver (one SELECT joining roi_properties to rois, "
          f"fetchall; no session or plane names): {bare * 1e3:.1f} ms = {bare / counted:.1f}x the count; "
          f"segdb's columns are {arrays / bare:.2f}x that")


def _bare_rows(archive, filters: dict) -> int:
    """Query B's rows fetched as a SQL tool would: one SELECT of the rois columns and the snr, ``fetchall``."""
    from segdb.archive.query import RoiQuery, ScopedQuery

    with archive.catalog.reading() as db:
        ids = ScopedQuery.resolve(db, RoiQuery(**filters)).segmentation_ids
    sql = ("SELECT r.roi_id, r.roi_key, r.segmentation_id, r.plane_id, r.centroid_row, r.centroid_col, p.value_num "
           "FROM roi_properties p JOIN rois r ON r.roi_id = p.roi_id "
           f"WHERE p.property_name = 'snr' AND p.segmentation_id IN ({','.join(map(str, ids))}) "
           "AND p.value_num > 5 AND r.kind = 'cell'")
    with archive.catalog.engine.connect() as conn:
        cursor = conn.connection.cursor()
        cursor.execute(sql)
        rows = cursor.fetchall()
        cursor.close()
    return len(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("SEGDB_TEST_POSTGRES_URL"))
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the archives (SQLite and suite2p files in DIR, PostgreSQL in schema "
                             "segdb_bench_kept_N) and reuse them on later runs with the same size")
    args = parser.parse_args(argv)
    n_sessions = 100 if args.small else 1000
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = Path(args.keep) / f"{n_sessions}-sessions"
            tmp.mkdir(parents=True, exist_ok=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=".")))
        built = tmp / "built-sqlite"
        if not built.exists():  # a build cut short is started again
            for partial in (tmp / "archive", tmp / "suite2p-files"):
                shutil.rmtree(partial, ignore_errors=True)
        archive = segdb.open(tmp / "archive")
        if not built.exists():
            print(f"building a SQLite archive of {n_sessions} sessions (and their suite2p files)", file=sys.stderr)
            build(archive, tmp / "suite2p-files", n_sessions)
            with archive.catalog.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
            built.touch()
        run("sqlite", archive, tmp / "suite2p-files", n_sessions)
        archive.close()
        if args.postgres:
            built = tmp / "built-postgresql"
            schema = f"segdb_bench_kept_{n_sessions}" if args.keep else None
            with postgres_archive(args.postgres, tmp, schema, fresh=not built.exists()) as archive:
                if not built.exists():
                    print(f"building a PostgreSQL archive of {n_sessions} sessions", file=sys.stderr)
                    build(archive, None, n_sessions)
                    # What autovacuum does on a lab's server: statistics, and the visibility map that
                    # lets counts be read from an index alone.
                    with archive.catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                        conn.exec_driver_sql("VACUUM ANALYZE")
                    if args.keep:
                        built.touch()
                run("postgresql", archive, tmp / "suite2p-files", n_sessions)
        else:
            print("(PostgreSQL skipped: pass --postgres URL or set SEGDB_TEST_POSTGRES_URL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
