"""Curation benchmarks.

    python benchmarks/bench_curation.py [--small] [--postgres URL]

1. 8 processes x 500 labels each on the same 50 ROIs, on SQLite and (with a server) PostgreSQL:
   labels per second, and the count of lost or failed writes (target: 0 lost, 0 failed).
2. Consensus status over 100,000 ROIs (with pipeline, and two curators' labels on a third of
   them) as a ratio to reading the same ROI rows without consensus (target: within 3x).

PostgreSQL runs when --postgres or SEGDB_TEST_POSTGRES_URL names a server; each run uses a
schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
from _common import MemorySegmentation, postgres_archive
from sqlalchemy import func, select

import segdb
from segdb.archive.consensus import consensus
from segdb.catalog import models as m

WRITER = textwrap.dedent(
    """
    import random, sys, time
    import segdb

    url, root, seg_id, name, count = sys.argv[1:6]
    archive = segdb.open(url, storage_root=root or None, create=False)
    rng = random.Random(name)
    failed = 0
    archive.curate(int(seg_id), [0], "unsure", curator=name)  # connect and warm up before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    for _ in range(int(count)):
        try:
            archive.curate(int(seg_id), [rng.randrange(50)], rng.choice(["accepted", "rejected", "unsure"]),
                           curator=name)
        except segdb.SegDBError as exc:
            failed += 1
            print("failed:", exc, file=sys.stderr)
    print(failed, start, time.time())
    """
)


def _rois(n: int) -> MemorySegmentation:
    """Many one-pixel ROIs with one sample each: the catalog is what is measured."""
    side = int(np.ceil(np.sqrt(n)))
    masks = [np.array([[i // side, i % side, 1.0]]) for i in range(n)]
    return MemorySegmentation({"raw": np.zeros((1, n), np.float32)}, masks, (side, side),
                              properties={"is_accepted": np.arange(n) % 4 != 0})


@contextlib.contextmanager
def _archive(kind: str, tmp: Path, postgres: str | None):
    if kind == "sqlite":
        archive = segdb.open(tmp / f"archive-{uuid.uuid4().hex[:6]}")
        try:
            yield archive
        finally:
            archive.close()
    else:
        with postgres_archive(postgres, tmp) as archive:
            yield archive


def bench_writers(kind: str, tmp: Path, postgres: str | None, processes: int, labels: int) -> None:
    with _archive(kind, tmp, postgres) as archive:
        record = archive.ingest(_rois(50), subject="bench", session="writers", progress=False)
        root = "" if kind == "sqlite" else str(archive.storage_root)
        procs = [
            subprocess.Popen([sys.executable, "-c", WRITER, archive.catalog.url, root, str(record.segmentation_id),
                              f"w{i}", str(labels)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for i in range(processes)
        ]
        # Every writer has started and connected; release them together so they contend.
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [p.communicate() for p in procs]
        ends = [out.split() for out, _ in results if out.strip()]
        failed = sum(int(e[0]) for e in ends)
        wall = max(float(e[2]) for e in ends) - min(float(e[1]) for e in ends)
        crashed = sum(1 for p in procs if p.returncode != 0)
        locked = sum(err.count("database is locked") for _, err in results)
        with archive.catalog.reading() as db:
            stored = db.scalar(
                select(func.count()).select_from(m.CurationEvent)
                .join(m.Curator, m.Curator.curator_id == m.CurationEvent.curator_id)
                .where(m.Curator.is_pipeline.is_(False))
            )
        written = processes * labels - failed
        stored -= processes  # the warm-up labels
        print(f"  {kind:10s}: {processes} x {labels} labels in {wall:.1f} s = {written / wall:.0f} labels/s; "
              f"lost {written - stored}, failed {failed}, crashed writers {crashed}, raw 'database is locked' {locked}")


def bench_consensus(kind: str, tmp: Path, postgres: str | None, n_rois: int) -> None:
    with _archive(kind, tmp, postgres) as archive:
        record = archive.ingest(_rois(n_rois), subject="bench", session="consensus", progress=False)
        keys = list(range(0, n_rois, 3))
        for curator, label in (("alice", "rejected"), ("bob", "accepted")):
            for start in range(0, len(keys), 5000):
                archive.curate(record, keys[start : start + 5000], label, curator=curator)
        seg_id = record.segmentation_id

        def plain():
            with archive.catalog.reading() as db:
                return db.execute(
                    select(m.Roi.roi_id, m.Roi.roi_key, m.Roi.source_accepted).where(m.Roi.segmentation_id == seg_id)
                ).all()

        def with_consensus(policy):
            state = consensus(seg_id, policy).subquery()
            with archive.catalog.reading() as db:
                return db.execute(
                    select(m.Roi.roi_id, m.Roi.roi_key, state.c.label)
                    .outerjoin(state, state.c.roi_id == m.Roi.roi_id)
                    .where(m.Roi.segmentation_id == seg_id)
                ).all()

        base = statistics.median(_times(plain, 5))
        assert len(plain()) == n_rois
        print(f"  {kind:10s}: reading {n_rois} ROI rows: {base * 1e3:.0f} ms")
        for policy in ("latest", "majority", "unanimous", "curator:alice"):
            took = statistics.median(_times(lambda p=policy: with_consensus(p), 5))
            rows = with_consensus(policy)
            assert len(rows) == n_rois
            print(f"  {kind:10s}: with {policy:13s} consensus: {took * 1e3:.0f} ms = {took / base:.2f}x (target <= 3x)")


def _times(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("SEGDB_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    labels, n_rois = (100, 10_000) if args.small else (500, 100_000)
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        print(f"== 8 concurrent writers x {labels} labels on 50 shared ROIs (target: 0 lost, 0 failed)")
        for kind in kinds:
            bench_writers(kind, Path(tmp), args.postgres, 8, labels)
        print(f"== consensus status over {n_rois} ROIs vs reading the rows without it")
        for kind in kinds:
            bench_consensus(kind, Path(tmp), args.postgres, n_rois)
    if not args.postgres:
        print("(PostgreSQL skipped: pass --postgres URL or set SEGDB_TEST_POSTGRES_URL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
