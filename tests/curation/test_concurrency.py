"""Several processes label the same ROIs at once: no event is lost, duplicated or reordered, and no
writer sees a raw 'database is locked'."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sqlalchemy import select

from segdb.catalog import models as m
from segdb.synthetic import synthetic_segmentation

WRITER = textwrap.dedent(
    """
    import random, sys
    import segdb

    url, root, seg_id, name, rounds = sys.argv[1:6]
    archive = segdb.open(url, storage_root=root or None, create=False)
    rng = random.Random(name)
    for _ in range(int(rounds)):
        rois = rng.sample(range(6), 3)
        archive.curate(int(seg_id), rois, rng.choice(["accepted", "rejected", "unsure"]), curator=name)
    print("ok")
    """
)

PROCESSES, ROUNDS = 4, 25


def test_concurrent_writers_lose_nothing(archive):
    record = archive.ingest(synthetic_segmentation(n_rois=6, n_frames=10, seed=1), subject="m1", session="s1")
    root = "" if archive.catalog.dialect == "sqlite" else str(archive.storage_root)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, archive.catalog.url, root, str(record.segmentation_id), f"writer{i}",
             str(ROUNDS)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(PROCESSES)
    ]
    outputs = [w.communicate(timeout=600) for w in writers]
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0 and out.strip() == "ok", err
        assert "database is locked" not in err

    with archive.catalog.reading() as db:
        events = db.execute(
            select(m.CurationEvent.roi_id, m.CurationEvent.roi_revision, m.CurationEvent.event_id, m.Curator.curator_name)
            .join(m.Curator, m.Curator.curator_id == m.CurationEvent.curator_id)
            .order_by(m.CurationEvent.event_id)
        ).all()
    human = [e for e in events if not e.curator_name.startswith("pipeline:")]
    assert len(human) == PROCESSES * ROUNDS * 3, "every label written is there exactly once"
    for i in range(PROCESSES):
        assert sum(1 for e in human if e.curator_name == f"writer{i}") == ROUNDS * 3
    by_roi: dict[int, list] = {}
    for event in events:
        by_roi.setdefault(event.roi_id, []).append(event)
    for roi_events in by_roi.values():
        revisions = [e.roi_revision for e in roi_events]  # in event (commit) order
        assert revisions == list(range(1, len(revisions) + 1)), "revisions are contiguous and in write order"
