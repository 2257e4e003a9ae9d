"""The command teaches: every option says what it is, every command ends its --help with examples that run."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess

import numpy as np
import pytest

from segdb.cli import build_parser, main
from segdb.cli.examples import EXAMPLES
from segdb.cli.output import cli_wording
from segdb.synthetic import synthetic_segmentation
from segdb.version import __version__


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("segdb",)):
    """Every parser under ``parser`` with the words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_and_positional_has_help():
    missing = [
        f"{' '.join(path)}: {action.dest}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert missing == []


def test_every_command_group_help_ends_with_examples(capsys):
    parser = build_parser()
    groups = [("segdb",)] + [path for path, _ in _parsers(parser) if len(path) == 2]
    for path in groups:
        with pytest.raises(SystemExit):
            main([*path[1:], "--help"])
        text = capsys.readouterr().out
        epilog = text[text.rindex("examples:"):].splitlines()
        lines = [line.strip() for line in epilog[1:] if line.strip()]
        assert lines and all(line.startswith(("segdb ", "SEGDB_")) for line in lines), path
        assert 1 <= len(lines) <= 3, path


def test_version_is_printed(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"segdb {__version__}"


def test_curate_names_the_segmentation_with_s_in_every_action():
    curate = dict(_parsers(build_parser()))[("segdb", "curate")]
    [actions] = [a for a in curate._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sub in actions.choices.items():
        if name == "require-roles":
            continue
        options = {option for action in sub._actions for option in action.option_strings}
        positionals = [action.dest for action in sub._actions if not action.option_strings]
        assert {"-s", "--segmentation"} <= options, name
        assert "segmentation" not in positionals, name


# Examples that only read, run as written on the demo archive (the rest write, or need files of a lab).
_READ_ONLY = ("segdb ls", "segdb query", "segdb curate status", "segdb verify", "segdb gc -a", "segdb db current",
              "segdb track show", "segdb show")


@pytest.fixture(scope="module")
def demo_archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teach")
    assert main(["demo", str(folder / "demo-archive")]) == 0
    return folder


def test_the_read_only_examples_run_on_the_demo_archive(demo_archive, capsys, monkeypatch):
    monkeypatch.chdir(demo_archive)
    ran = []
    for lines in EXAMPLES.values():
        for line in lines:
            if line.startswith(_READ_ONLY):
                argv = shlex.split(line)[1:]
                if "-a" not in argv:
                    argv += ["-a", "demo-archive"]
                assert main(argv) == 0, line
                out = capsys.readouterr().out
                assert out.strip() and "(none)" not in out, line
                ran.append(line)
    assert len(ran) >= 10


@pytest.mark.parametrize(
    "library, command",
    [
        ("names or pass replace=True (--replace) to point them", "names or pass --replace to point them"),
        ("pass the imaged field's frame_shape=(H, W) (CLI: --frame-shape H W).",
         "pass the imaged field's --frame-shape H W."),
        ("choose another path or pass --overwrite (overwrite=True)", "choose another path or pass --overwrite"),
        ("pass pixel_mask_order='xy' or 'rowcol' (CLI: --pixel-mask-order xy|rowcol)",
         "pass --pixel-mask-order xy|rowcol"),
        ("give field_of_view= (--fov) with near/box", "give --fov with near/box"),
        ("then delete with force=True (--force)", "then delete with --force"),
        ("pass another name (--name) or delete it", "pass another name (--name) or delete it"),
    ],
)
def test_messages_speak_cli_not_python(library, command):
    assert cli_wording(library) == command


def test_an_error_from_the_library_names_the_option_not_the_argument(demo_archive, capsys, monkeypatch):
    monkeypatch.chdir(demo_archive)
    assert main(["plane", "set", "1", "--indicator", "GCaMP6s", "-a", "demo-archive"]) == 2
    err = capsys.readouterr().err
    assert "pass --plane NAME" in err and "plane=NAME" not in err


def test_ls_rois_names_the_order_and_unit_of_each_coordinate_pair(demo_archive, capsys, monkeypatch):
    monkeypatch.chdir(demo_archive)
    assert main(["ls", "rois", "-s", "1", "--plane", "plane0", "-a", "demo-archive"]) == 0
    header, first, *_ = capsys.readouterr().out.splitlines()
    columns = header.split()
    assert "centroid_px(row,col)" in columns and "centroid_um(x,y)" in columns
    pairs = re.findall(r"\(([-\d.]+), ([-\d.]+)\)", first)
    (row, col), (x, y) = [(float(a), float(b)) for a, b in pairs]
    assert x == pytest.approx(col * 1.2, rel=1e-3) and y == pytest.approx(row * 1.2, rel=1e-3)
    assert main(["query", "--subject", "m12", "--limit", "1", "-a", "demo-archive"]) == 0
    assert "fov_um(x,y)" in capsys.readouterr().out.splitlines()[0].split()
    with pytest.raises(SystemExit):
        main(["query", "--help"])
    assert "x runs along columns, y along rows" in " ".join(capsys.readouterr().out.split())


def _bash_completions(script: str, words: list[str]) -> list[str]:
    """What bash offers for the last of ``words`` with segdb's completion script loaded."""
    line = " ".join(words)
    program = (
        f'source /dev/stdin <<"SEGDB_COMPLETION"\n{script}\nSEGDB_COMPLETION\n'
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE={shlex.quote(line)}; COMP_POINT={len(line)}\n"
        '_shtab_segdb; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_the_bash_completion_script_completes_commands_and_options(capsys):
    pytest.importorskip("shtab")
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert _bash_completions(script, ["segdb", "cur"]) == ["curate"]
    assert _bash_completions(script, ["segdb", "curate", "imp"]) == ["import", "import-iscell"]
    assert "--policy" in _bash_completions(script, ["segdb", "curate", "status", "--po"])
    assert "rois" in _bash_completions(script, ["segdb", "ls", ""])


def test_ls_rois_shows_chosen_columns_with_properties_and_the_label_under_a_policy(archive, capsys):
    record = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=10, seed=1), subject="m1", session="s1")
    extractor = archive.extractor(record)
    extractor.set_property("snr", np.array([1.5, 2.5, 3.5, 4.5]), [0, 1, 2, 3])
    archive.curate(record, [2], "rejected", curator="alice")
    archive.curate(record, [2], "accepted", curator="bob")
    archive.curate(record, [2], "rejected", curator="carol")
    options = ["-a", archive.catalog.url, "--storage-root", str(archive.storage_root)]
    seg = str(record.segmentation_id)
    assert main(["ls", "rois", "-s", seg, "--columns", "key,snr,label", "--policy", "curator:bob", "--json",
                 *options]) == 0
    rows = {row["key"]: row for row in json.loads(capsys.readouterr().out)}
    assert [rows[k]["snr"] for k in range(4)] == [1.5, 2.5, 3.5, 4.5]
    assert rows[2]["label"] == "accepted"
    assert main(["ls", "rois", "-s", seg, "--columns", "key,snr,label", *options]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["key", "snr", "label"]
    assert lines[2].split() == ["2", "3.5", "rejected"]
    assert main(["ls", "rois", "-s", seg, "--columns", "key,snrr", *options]) == 2
    err = capsys.readouterr().err
    assert "--columns names ['snrr']" in err and "'snr'" in err and "'label'" in err


def test_query_shows_the_values_its_where_tested_and_the_label(archive, capsys):
    first = archive.ingest(synthetic_segmentation(n_rois=4, n_frames=10, seed=1), subject="m1", session="s1")
    second = archive.ingest(synthetic_segmentation(n_rois=3, n_frames=10, seed=2), subject="m1", session="s2")
    archive.extractor(first).set_property("snr", np.array([1.0, 6.0, 2.0, 7.0]), [0, 1, 2, 3])
    archive.extractor(second).set_property("snr", np.array([8.0, 0.5, 9.0]), [0, 1, 2])
    archive.curate(second, [2], "rejected", curator="alice")
    options = ["-a", archive.catalog.url, "--storage-root", str(archive.storage_root)]
    assert main(["query", "--where", "snr > 5", "--columns", "session,key,snr,label", "--json", *options]) == 0
    rows = sorted((r["session"], r["key"], r["snr"], r["label"]) for r in json.loads(capsys.readouterr().out))
    assert [row[:3] for row in rows] == [("s1", 1, 6.0), ("s1", 3, 7.0), ("s2", 0, 8.0), ("s2", 2, 9.0)]
    assert rows[3][3] == "rejected"
