"""The examples each command's ``--help`` ends with: real command lines, run on what `segdb demo` builds."""

from __future__ import annotations

import argparse
from typing import Any

from segdb.cli.arguments import examples

#: Two or three command lines per command, as a user would type them after `segdb demo` (segmentation 1 is
#: m12/2026-03-01/suite2p; the archive is ./demo-archive unless -a names another).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "segdb": (
        "segdb demo",
        "segdb ls segmentations -a demo-archive",
        "segdb query -a demo-archive --where 'pixel_count >= 100' --accepted --count",
    ),
    "init": ("segdb init ./lab-archive", "segdb init postgresql+psycopg://lab-db/segdb --storage-root /nas/segdb"),
    "ingest": (
        "segdb ingest suite2p /data/m12/2026-03-01/suite2p --subject m12 --session 2026-03-01",
        "segdb ingest caiman /data/m12/caiman_results.hdf5 --subject m12 --session 2026-03-01 --rate 30",
        "segdb ingest nwb /data/sub-m12_ses-1.nwb --subject m12 --session 2026-03-01",
    ),
    "ls": (
        "segdb ls segmentations -a demo-archive",
        "segdb ls rois -s 1 --plane plane0 -a demo-archive",
        "segdb ls rois -s m12/2026-03-01/suite2p --columns key,skew,cell_probability,label --policy majority "
        "-a demo-archive",
    ),
    "delete": ("segdb delete 3 -a demo-archive", "segdb delete m12/2026-03-15/suite2p --force -a demo-archive"),
    "subject": ("segdb subject set m12 --species mouse --sex F --age P90D -a demo-archive",),
    "session": ("segdb session set m12/2026-03-01 --experimenter 'Doe, Jane' --lab 'Visual cortex lab' "
                "-a demo-archive",),
    "plane": ("segdb plane set 1 --plane plane0 --indicator GCaMP6s --location 'VISp L2/3' -a demo-archive",),
    "curate": (
        "segdb curate reject 3 7 -s m12/2026-03-01/suite2p --plane plane0 --note 'out of focus'",
        "segdb curate status -s 1 --policy majority",
        "segdb curate import -s 1 labels.csv",
    ),
    "query": (
        "segdb query -a demo-archive --subject m12 --where 'pixel_count >= 100' --accepted",
        "segdb query -a demo-archive --subject m12 --fov m12-fov1:plane0 --near 200 50 15",
        "segdb query -a demo-archive --after 2026-03-05 --count",
    ),
    "track": (
        "segdb track register --subject m40 --fov v1-site1 -a demo-archive",
        "segdb track match --subject m40 --fov v1-site1 -a demo-archive",
        "segdb track show 1 -a demo-archive",
    ),
    "verify": ("segdb verify -a demo-archive", "segdb verify -a demo-archive --json"),
    "gc": ("segdb gc -a demo-archive", "segdb gc --apply -a demo-archive"),
    "storage": (
        "segdb storage copy ./lab-archive/arrays s3://lab-imaging/segdb -a ./lab-archive",
        "segdb storage copy ./lab-archive/arrays s3://lab-imaging/segdb -a ./lab-archive --apply",
    ),
    "db": ("segdb db current -a demo-archive", "segdb db upgrade -a postgresql+psycopg://lab-db/segdb"),
    "extract-traces": (
        "segdb extract-traces 1 motion_corrected.h5 --dataset data --plane plane0 -a demo-archive",
        "segdb extract-traces 1 movie.npy --plane plane0 --border 3 3 2 2 --names raw_allen neuropil_allen",
        "segdb extract-traces 1 suite2p/plane0/data.bin --plane plane0 --border-from-ops --names raw_allen "
        "neuropil_allen",
    ),
    "serve": ("segdb serve -a demo-archive", "SEGDB_CURATOR=alice segdb serve -a demo-archive --port 8766",
              "segdb serve -a postgresql+psycopg://lab@db/segdb --host 0.0.0.0 --users users.toml"),
    "show": (
        "segdb show m12/2026-03-01/suite2p --plane plane0 --color-by label -o rois.png -a demo-archive",
        "segdb show 1 --plane plane1 --image mean --color-by skew -o skew.png -a demo-archive",
        "segdb show track 1 -o track1.png -a demo-archive",
    ),
    "export": (
        "segdb export nwb 1 ./nwb -a demo-archive",
        "segdb export nwb --subject m12 ./nwb --accepted --dandi -a demo-archive",
    ),
    "demo": ("segdb demo", "segdb demo ./my-demo --seed 3"),
    "completion": ("segdb completion bash > ~/.local/share/bash-completion/completions/segdb",
                   "segdb completion zsh > ~/.zfunc/_segdb"),
}


def add_examples(parser: argparse.ArgumentParser, commands: Any) -> None:
    """End the --help of ``parser`` and of each of its commands with that command's examples."""
    for name, sub in [("segdb", parser), *commands.choices.items()]:
        sub.epilog = examples(*EXAMPLES[name])
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
