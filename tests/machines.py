"""Several "machines" sharing one catalog and one bucket: processes with environments of their own.

Each machine is a separate Python process started with its own environment (its own ``HOME``,
its own ``AWS_*`` credentials and endpoint, and ``SEGDB_STORAGE_ROOT`` naming the bucket, as a
cluster node's job script would set them). A machine is an ingester, a reader or a curator; each
prints one JSON line saying what it did, which the test and the benchmark compare with the archive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

_MACHINE = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import segdb
    from segdb.synthetic import synthetic_segmentation

    role, catalog, index, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    launched = float(sys.argv[6])
    imported = time.time() - launched
    archive = segdb.open(catalog, create=False)  # the storage root comes from SEGDB_STORAGE_ROOT
    done = {"role": role, "index": index, "ingested": [], "reads": 0, "mismatches": 0, "labels": 0,
            "imported_after": imported, "opened_after": time.time() - launched}
    started = time.monotonic()
    if role == "ingest":
        for k in range(count):
            source = synthetic_segmentation(n_rois=20, n_frames=2000, seed=1000 * index + k)
            record = archive.ingest(source, subject=f"m{index}", session=f"s{k}", name="suite2p")
            done["ingested"].append([record.segmentation_id, record.num_rois])
    elif role == "read":
        seen = {}
        while time.monotonic() - started < seconds and done["reads"] < count:
            for record in archive.segmentations():
                index_of = int(record.subject[1:]), int(record.session[1:])
                truth = seen.get(index_of)
                if truth is None:
                    source = synthetic_segmentation(n_rois=20, n_frames=2000, seed=1000 * index_of[0] + index_of[1])
                    truth = seen[index_of] = source.get_traces(start_frame=0, end_frame=500)
                window = archive.extractor(record).slice_samples(0, 500).get_traces()
                done["reads"] += 1
                done["mismatches"] += int(not np.array_equal(window, truth))
            time.sleep(0.05)
    elif role == "curate":
        rng = np.random.default_rng(index)
        while time.monotonic() - started < seconds and done["labels"] < count:
            ready = archive.segmentations()
            if not ready:
                time.sleep(0.1)
                continue
            record = ready[int(rng.integers(len(ready)))]
            rois = archive.extractor(record).get_roi_ids()
            chosen = [rois[int(i)] for i in rng.choice(len(rois), size=3, replace=False)]
            archive.curate(record, chosen, "rejected", curator=f"curator{index}")
            done["labels"] += len(chosen)
    done["seconds"] = time.monotonic() - started
    print(json.dumps(done))
    """
)


@dataclass
class Machine:
    role: str
    index: int
    process: subprocess.Popen

    def result(self, timeout: float) -> dict:
        """Wait for the machine and return what it says it did; raise with its stderr if it failed."""
        out, err = self.process.communicate(timeout=timeout)
        if self.process.returncode != 0:
            raise RuntimeError(f"machine {self.role}-{self.index} failed ({self.process.returncode}): {err[-2000:]}")
        return json.loads(out.strip().splitlines()[-1])


def start_machine(role: str, index: int, catalog: str, environment: dict[str, str], home: Path, *,
                  count: int, seconds: float = 120.0) -> Machine:
    """Start one machine: ``role`` is "ingest" (``count`` sessions), "read" or "curate" (up to ``count``
    reads or labels, for at most ``seconds``). ``environment`` is all it gets besides PATH and HOME."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "SEGDB_CURATOR": f"{role}{index}",
           "PYTHONFAULTHANDLER": "1",
           "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **environment}
    process = subprocess.Popen(
        [sys.executable, "-c", _MACHINE, role, catalog, str(index), str(count), str(seconds), str(time.time())],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return Machine(role, index, process)


def run_machines(catalog: str, environment: dict[str, str], folder: Path, *, ingesters: int, sessions: int,
                 readers: int, curators: int, timeout: float = 600.0) -> tuple[list[dict], float]:
    """Run the machines at once and return what each did, and the wall time of the slowest ingester."""
    started = time.monotonic()
    machines = [start_machine("ingest", i, catalog, environment, folder / f"ingest{i}", count=sessions)
                for i in range(ingesters)]
    machines += [start_machine("read", i, catalog, environment, folder / f"read{i}", count=10_000, seconds=30)
                 for i in range(readers)]
    machines += [start_machine("curate", i, catalog, environment, folder / f"curate{i}", count=60, seconds=30)
                 for i in range(curators)]
    try:
        results = [machine.result(timeout) for machine in machines[:ingesters]]
        ingest_seconds = time.monotonic() - started
        results += [machine.result(timeout) for machine in machines[ingesters:]]
    finally:
        for machine in machines:
            if machine.process.poll() is None:
                machine.process.kill()
                machine.process.wait()
    return results, ingest_seconds
