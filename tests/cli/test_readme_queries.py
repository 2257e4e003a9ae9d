"""README's `segdb query` examples run as written on the archive `segdb demo` builds, and each finds ROIs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from segdb.cli import main


def _readme_commands(prefix: str) -> list[list[str]]:
    """README's shell lines that start with ``prefix``, split as the shell would (comments dropped)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = [part.split("```", 1)[0] for part in readme.split("```bash")[1:]]
    return [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()
            if line.startswith(prefix)]


def test_the_readme_query_examples_find_rois_in_the_demo_archive(tmp_path, capsys):
    commands = _readme_commands("segdb query")
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


def test_the_readme_listing_examples_run_on_the_demo_archive(tmp_path, capsys):
    # Those that name one listing (not the synopsis `segdb ls subjects|sessions|...`).
    commands = [argv for argv in _readme_commands("segdb ls ") if "|" not in " ".join(argv)]
    assert any("--limit" in argv for argv in commands), commands
    lab = tmp_path / "lab"
    assert main(["demo", str(lab)]) == 0
    for argv in commands:
        if "--archive" in argv:
            argv = argv[:argv.index("--archive")] + argv[argv.index("--archive") + 2:]
        capsys.readouterr()
        code = main([*argv[1:], "--archive", str(lab)])
        out, err = capsys.readouterr()
        assert code == 0 and "segdb: " not in err, (argv, err)
        assert len(out.strip().splitlines()) >= 2, (argv, out)  # a header and at least one row
