"""Many machines at once: processes, each with its own environment, ingesting into one PostgreSQL catalog and
one bucket while others read and curate, against the same ingests run one after another in one process.

    python benchmarks/bench_machines.py                    # 4 ingesting machines x 5 sessions, 1 reader, 1 curator
    python benchmarks/bench_machines.py --small            # 2 x 2
    python benchmarks/bench_machines.py --postgres URL

A local SeaweedFS is started for the run (tests/object_store.py) and stopped after; each machine is a
separate Python process given only PATH, HOME, PYTHONPATH, the bucket's AWS_* variables and
SEGDB_STORAGE_ROOT (tests/machines.py). Reported: wall time and sessions per second of the machines
at once and of the sequential baseline, the readers' reads (every window compared with the source),
the curators' labels, and the checks that matter: rows lost, orphan objects after gc, files verified.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

import segdb
from segdb.archive.locations import STORAGE_MARKER
from segdb.catalog import models as m
from segdb.synthetic import synthetic_segmentation

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from machines import run_machines  # noqa: E402
from object_store import ObjectStoreUnavailable, start_seaweedfs  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _archive(url: str, schema: str, root: str) -> tuple[segdb.Archive, str]:
    separator = "&" if "?" in url else "?"
    catalog = f"{url}{separator}options=-csearch_path%3D{schema}"
    return segdb.open(catalog, storage_root=root), catalog


def _sequential(url: str, schema: str, root: str, ingesters: int, sessions: int) -> float:
    """Seconds to ingest the same sessions one after another in this process."""
    archive, _ = _archive(url, schema, root)
    try:
        start = time.perf_counter()
        for index in range(ingesters):
            for k in range(sessions):
                source = synthetic_segmentation(n_rois=20, n_frames=2000, seed=1000 * index + k)
                archive.ingest(source, subject=f"m{index}", session=f"s{k}", name="suite2p", progress=False)
        return time.perf_counter() - start
    finally:
        archive.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="2 machines x 2 sessions")
    parser.add_argument("--postgres", default=os.environ.get("SEGDB_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    args = parser.parse_args(argv)
    ingesters, sessions = (2, 2) if args.small else (4, 5)
    with tempfile.TemporaryDirectory(prefix="segdb-bench-machines-") as folder:
        try:
            server = start_seaweedfs(Path(folder) / "seaweedfs")
        except ObjectStoreUnavailable as error:
            print(f"bench_machines needs SeaweedFS: {error}", file=sys.stderr)
            return 2
        admin = create_engine(args.postgres)
        schemas = [f"segdb_bench_{uuid.uuid4().hex[:10]}" for _ in range(2)]
        try:
            os.environ.update(server.environment())
            with admin.begin() as conn:
                for schema in schemas:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            baseline = _sequential(args.postgres, schemas[0], server.url(f"{schemas[0]}/arrays"), ingesters, sessions)

            root = server.url(f"{schemas[1]}/arrays")
            archive, catalog = _archive(args.postgres, schemas[1], root)
            environment = {"SEGDB_STORAGE_ROOT": root, **server.environment()}
            results, at_once = run_machines(catalog, environment, Path(folder) / "machines", ingesters=ingesters,
                                            sessions=sessions, readers=1, curators=1)
            ingested = [entry for r in results if r["role"] == "ingest" for entry in r["ingested"]]
            [reader] = [r for r in results if r["role"] == "read"]
            [curator] = [r for r in results if r["role"] == "curate"]
            with archive.catalog.reading() as db:
                rois = db.scalar(select(func.count()).select_from(m.Roi))
                files = db.scalar(select(func.count()).select_from(m.ArrayFile))
            gc = archive.gc(grace=dt.timedelta(0))
            objects = [key for key in archive.store.iter_keys() if key != STORAGE_MARKER]
            verified = archive.verify()
            archive.close()

            total = ingesters * sessions
            print(f"{ingesters} ingesting machines x {sessions} sessions (20 ROIs x 2,000 samples each), 1 reader, "
                  f"1 curator; PostgreSQL catalog, SeaweedFS bucket on loopback, 2 cores")
            print(f"  sequential, one process : {baseline:6.1f} s  ({total / baseline:.2f} sessions/s)")
            ingesters_done = [r for r in results if r["role"] == "ingest"]
            window = (max(r["opened_after"] + r["seconds"] for r in ingesters_done)
                      - min(r["opened_after"] for r in ingesters_done))
            imported = max(r["imported_after"] for r in results)
            print(f"  machines at once        : {window:6.1f} s  ({total / window:.2f} sessions/s, "
                  f"{baseline / window:.2f}x the sequential rate), from the first ingester's open to the last one's end")
            print(f"    with start-up: {at_once:.1f} s; importing segdb (roiextractors, pynwb) took the slowest of the "
                  f"{len(results)} processes {imported:.1f} s on the 2 shared cores; the reader and curator poll "
                  "without pause")
            print(f"  reader: {reader['reads']} windows read while ingests ran, {reader['mismatches']} differed "
                  f"from their source; curator: {curator['labels']} labels")
            print(f"  rows lost: {sum(n for _, n in ingested) - rois} ROIs, {len(ingested) - files} files; orphan "
                  f"objects after gc: {len(gc.orphan_files)}; objects {len(objects)} for {files} recorded files; "
                  f"verify: {verified.files_checked} checked, {len(verified.problems)} problems")
            ok = (len(ingested) == total and rois == sum(n for _, n in ingested) and not gc.orphan_files
                  and len(objects) == files and verified.ok and reader["mismatches"] == 0)
            return 0 if ok else 1
        finally:
            with admin.begin() as conn:
                for schema in schemas:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
