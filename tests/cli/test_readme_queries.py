"""README's `segdb query` examples run as written on the archive `segdb demo` builds, and each finds ROIs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from segdb.cli import main


def _readme_query_commands() -> list[list[str]]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = [part.split("```", 1)[0] for part in readme.split("```bash")[1:]]
    return [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()
            if line.startswith("segdb query")]


def test_the_readme_query_examples_find_rois_in_the_demo_archive(tmp_path, capsys):
    commands = _readme_query_commands()
    assert len(commands) >= 4, commands
    lab = tmp_path / "lab"
    assert main(["demo", str(lab)]) == 0
    for argv in commands:
        capsys.readouterr()
        code = main([*argv[1:], "--archive", str(lab)])
        out, err = capsys.readouterr()
        assert code == 0, (argv, err)
        assert "segdb: " not in err, (argv, err)
        if "--explain" in argv:
            assert "rois" in out, (argv, out)
        elif "--count" in argv:
            assert int(out.strip()) > 0, (argv, out)
        elif "--json" in argv:
            assert json.loads(out), argv
        else:
            assert out.strip().splitlines()[-1] != "0 ROI(s)", (argv, out)
