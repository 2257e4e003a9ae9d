"""Many machines at once: separate processes, each with its own environment and storage-root override,
ingest into one catalog and one bucket while others read and curate. Nothing is lost or left over."""

from __future__ import annotations

import datetime as dt
import os

from machines import run_machines
from sqlalchemy import func, select

from segdb.archive.locations import STORAGE_MARKER
from segdb.catalog import models as m

INGESTERS, SESSIONS = 3, 3


def test_machines_ingesting_reading_and_curating_at_once_lose_nothing(bucket_archive, tmp_path):
    archive = bucket_archive
    # Each machine gets only its own environment: the bucket's endpoint and credentials, and the root.
    environment = {"SEGDB_STORAGE_ROOT": str(archive.storage_root)}
    environment.update({name: value for name, value in os.environ.items() if name.startswith("AWS_")})
    results, _ = run_machines(archive.catalog.url, environment, tmp_path / "machines",
                              ingesters=INGESTERS, sessions=SESSIONS, readers=1, curators=1)

    ingested = [entry for result in results if result["role"] == "ingest" for entry in result["ingested"]]
    assert len(ingested) == INGESTERS * SESSIONS
    records = archive.segmentations()
    assert sorted(r.segmentation_id for r in records) == sorted(seg_id for seg_id, _ in ingested)
    with archive.catalog.reading() as db:
        assert db.scalar(select(func.count()).select_from(m.Roi)) == sum(n for _, n in ingested)
        assert db.scalar(select(func.count()).select_from(m.ArrayFile)) == len(ingested)
    [reader] = [r for r in results if r["role"] == "read"]
    assert reader["reads"] > 0 and reader["mismatches"] == 0
    [curator] = [r for r in results if r["role"] == "curate"]
    assert curator["labels"] > 0
    with archive.catalog.reading() as db:
        labelled = db.scalar(select(func.count()).select_from(m.CurationEvent).join(m.Curator).where(
            m.Curator.curator_name == "curator0"))
    assert labelled == curator["labels"]

    report = archive.gc(grace=dt.timedelta(0))
    assert report.orphan_files == () and report.stale_segmentations == ()
    assert len([key for key in archive.store.iter_keys() if key != STORAGE_MARKER]) == len(ingested)
    verified = archive.verify()
    assert verified.ok and verified.files_checked == len(ingested)
