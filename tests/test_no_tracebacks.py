"""Hostile values give one clear segdb error, never a Python traceback, and leave nothing behind.

On the command line that is one `segdb: error:` line (or argparse's own line for an option's
type) and exit code 2; in Python a SegDBError subclass naming the value and the fix.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select, text

import segdb
from segdb.catalog import models as m
from segdb.cli import main
from segdb.synthetic import synthetic_segmentation, write_suite2p_folder

HUGE = "99999999999999999999999"


def _seg(**options):
    return synthetic_segmentation(n_rois=4, n_frames=20, frame_shape=(20, 24), **options)


def _cli_target(archive) -> list[str]:
    """--archive (and, on PostgreSQL, --storage-root) naming the test's archive."""
    if archive.catalog.dialect == "sqlite":
        return ["-a", str(archive.location)]
    return ["-a", archive.catalog.url, "--storage-root", str(archive.storage_root)]


def _one_error_line(capsys, argv) -> str:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refusing an option's value
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith(("segdb: error: ", "segdb ")) and "error: " in lines[-1], err
    return lines[-1]


def _leftovers(archive) -> tuple[list[str], dict[str, int]]:
    """Everything under the storage root but its marker, and the number of rows of the tables an ingest fills."""
    from segdb.archive.locations import STORAGE_MARKER

    root = archive.storage_root
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.name != STORAGE_MARKER)
    with archive.catalog.reading() as db:
        rows = {t.__tablename__: db.scalar(select(func.count()).select_from(t))
                for t in (m.Subject, m.ImagingSession, m.Segmentation, m.Roi, m.ArrayFile, m.ImagingPlane)}
    return paths, rows


@pytest.fixture
def ingested(archive):
    archive.ingest({"plane0": _seg(), "plane1": _seg(seed=1)}, subject="m1", session="s1", name="seg")
    return archive


# 1. ids: too large for 64 bits, or digits str.isdigit accepts but int() does not.

@pytest.mark.parametrize("bad_id", [HUGE, "²", "١٢"])
@pytest.mark.parametrize("argv", [
    ["ls", "rois", "-s", "{}"], ["ls", "planes", "-s", "{}"], ["ls", "rois", "-s", "{}", "--plane", "plane0"],
    ["curate", "status", "-s", "{}"], ["curate", "accept", "1", "-s", "{}"], ["delete", "{}", "--yes"],
    ["export", "nwb", "{}", "out"], ["plane", "set", "{}", "--indicator", "GCaMP6s"],
    ["track", "show", "{}"], ["track", "list", "{}"],
], ids=lambda v: " ".join(v).replace("{}", "ID") if isinstance(v, list) else None)
def test_an_id_that_names_nothing_is_one_error_line(ingested, capsys, tmp_path, argv, bad_id):
    line = _one_error_line(capsys, [a.replace("{}", bad_id).replace("out", str(tmp_path / "out")) for a in argv]
                           + _cli_target(ingested))
    assert bad_id in line


def test_an_id_that_names_nothing_is_a_segdb_error_in_python(ingested):
    for call in (lambda: ingested.segmentation(int(HUGE)), lambda: ingested.tracks(int(HUGE)),
                 lambda: ingested.tracks("x"), lambda: ingested.track("x"), lambda: ingested.track(int(HUGE))):
        with pytest.raises(segdb.NotFoundError, match="is not in the archive"):
            call()
    with pytest.raises(segdb.InvalidInputError, match="not an id or 'subject/session/name'"):
        ingested.segmentation("²")


# 2. gc's --older-than-hours

@pytest.mark.parametrize("hours", ["nan", "inf", "-inf", "-1", "1e300", "abc"])
def test_gc_refuses_hours_that_are_not_a_finite_non_negative_number(tmp_path, capsys, hours):
    assert main(["init", str(tmp_path / "lab")]) == 0 and capsys.readouterr()
    line = _one_error_line(capsys, ["gc", f"--older-than-hours={hours}", "-a", str(tmp_path / "lab")])
    assert f"'{hours}' is not a number of hours from 0 to 100000" in line


# 3. timestamps, sampling frequencies and session starts that are not what they say

class _TextTimestamps(type(_seg())):
    def __init__(self, stamps):
        vars(self).update(vars(_seg()))
        self._stamps = stamps

    def get_native_timestamps(self, start_sample=None, end_sample=None):
        return self._stamps


@pytest.mark.parametrize("stamps", [["x"] * 20, np.array(["0.5"] * 20), np.array([object()] * 20),
                                    np.arange(20).astype("datetime64[s]")], ids=["words", "text", "objects", "dates"])
def test_timestamps_that_are_not_numbers_are_refused(archive, stamps):
    with pytest.raises(segdb.InvalidInputError, match="timestamps of plane 'plane0' are .* numbers of seconds"):
        archive.ingest(_TextTimestamps(stamps), subject="m1", session="s1")
    assert _leftovers(archive) == ([], dict.fromkeys(_leftovers(archive)[1], 0))


@pytest.mark.parametrize("rate", ["fast", [30.0], float("nan"), 0, -3])
def test_a_sampling_frequency_that_is_not_a_positive_number_is_refused(archive, rate):
    source = _seg()
    source._sampling_frequency = rate
    with pytest.raises(segdb.InvalidInputError, match="sampling frequency of plane 'plane0' is"):
        archive.ingest(source, subject="m1", session="s1")


@pytest.mark.parametrize("rate", ["fast", float("nan"), 0, -1])
def test_synthetic_data_refuses_a_sampling_frequency_that_is_not_a_positive_number(tmp_path, rate):
    with pytest.raises(segdb.InvalidInputError, match=r"sampling_frequency \(Hz\) is .*positive number"):
        _seg(sampling_frequency=rate)
    with pytest.raises(segdb.InvalidInputError, match=r"sampling_frequency \(Hz\) is .*positive number"):
        write_suite2p_folder(tmp_path / "suite2p", sampling_frequency=rate)


@pytest.mark.parametrize("start", [12345, 1.5, [2026], b"2026-03-01"])
def test_a_session_start_that_is_not_a_date_is_refused(archive, start):
    with pytest.raises(segdb.InvalidInputError, match=r"session start .* is not a date or time"):
        archive.ingest(_seg(), subject="m1", session="s1", session_start=start)
    assert _leftovers(archive)[1]["subjects"] == 0


@pytest.mark.parametrize("options", [dict(origin_um="abc"), dict(origin_um=1), dict(origin_um=["a", "b", "c"]),
                                     dict(parameters=[1, 2]), dict(metadata="junk")],
                         ids=["origin-text", "origin-number", "origin-words", "parameters-list", "metadata-text"])
def test_ingest_options_of_the_wrong_kind_are_refused(archive, options):
    with pytest.raises(segdb.InvalidInputError, match="origin_um is|parameters is a list|metadata is a str"):
        archive.ingest(_seg(), subject="m1", session="s1", **options)


# 4. a trace name with NUL

def test_a_trace_name_with_nul_is_refused(ingested):
    with pytest.raises(segdb.InvalidInputError, match="trace name 'a\\\\x00b' holds U\\+0000"):
        ingested.add_trace_series("m1/s1/seg", "plane0", {"a\x00b": np.zeros((20, 4))})


def test_add_trace_series_refuses_what_is_not_a_dict_of_series(ingested):
    with pytest.raises(segdb.InvalidInputError, match="needs a dict of trace name"):
        ingested.add_trace_series("m1/s1/seg", "plane0", [np.zeros((20, 4))])


# 5. a damaged catalog.sqlite

def _garbage(path):
    path.write_bytes(b"\x13\x37" * 2000)


def _truncated(path):
    with open(path, "r+b") as handle:
        handle.truncate(2000)


def _empty(path):
    path.write_bytes(b"")


def _folder(path):
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize("damage", [_garbage, _truncated, _empty, _folder], ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("command", [["ls", "segmentations"], ["verify"], ["db", "check"], ["db", "current"],
                                     ["db", "upgrade"]], ids=" ".join)
def test_a_damaged_catalog_file_is_one_line_saying_restore_it(tmp_path, capsys, damage, command):
    folder = tmp_path / "lab"
    assert main(["init", str(folder)]) == 0
    segdb.open(folder, create=False).ingest(_seg(), subject="m1", session="s1").segmentation_id
    capsys.readouterr()
    damage(folder / "catalog.sqlite")
    line = _one_error_line(capsys, [*command, "-a", str(folder)])
    assert f"the catalog file {folder / 'catalog.sqlite'} is not a readable SQLite catalog" in line
    assert "restore catalog.sqlite from a backup" in line


# 6. `segdb db upgrade` on a catalog it cannot upgrade

@pytest.mark.parametrize("revision", ["9999", "abc"])
def test_upgrade_refuses_a_revision_this_segdb_does_not_know(archive, capsys, revision):
    with archive.catalog.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    archive.close()
    line = _one_error_line(capsys, ["db", "upgrade", *_cli_target(archive)])
    assert f"schema revision '{revision}', which this segdb" in line and "restore the catalog from a backup" in line
    assert main(["db", "check", *_cli_target(archive)]) == 1
    assert "does not know" in capsys.readouterr().out


def test_upgrade_refuses_a_catalog_that_lost_its_version(archive, capsys):
    with archive.catalog.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    archive.close()
    line = _one_error_line(capsys, ["db", "upgrade", *_cli_target(archive)])
    assert "but no segdb schema version (alembic_version)" in line and "segdb changes nothing" in line


def test_upgrade_refuses_a_foreign_database_and_leaves_it_alone(catalog_url, capsys):
    engine = create_engine(catalog_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE recipes (name VARCHAR(20))"))
    line = _one_error_line(capsys, ["db", "upgrade", "-a", catalog_url, "--storage-root", "unused"])
    assert "holds tables (recipes) but no segdb schema version" in line
    with engine.connect() as connection:
        assert not connection.execute(text("SELECT count(*) FROM recipes")).scalar()
    from sqlalchemy import inspect

    assert inspect(engine).get_table_names() == ["recipes"]
    engine.dispose()


# 7. ROI keys 3 and "3" in one plane

def test_keys_that_are_one_text_are_refused_before_anything_is_written(archive):
    source = _seg()
    source._roi_ids = [3, "3", 1, 2]
    with pytest.raises(segdb.InvalidInputError, match=r"duplicate ROI keys in plane 'p1': 3 and '3'"):
        archive.ingest({"p0": _seg(), "p1": source}, subject="m1", session="s1")
    paths, rows = _leftovers(archive)
    assert paths == [] and set(rows.values()) == {0}


# 8. a multi-plane ingest that fails on its second plane

def test_a_second_plane_that_fails_while_writing_leaves_no_files_folders_or_rows(archive):
    bad = _seg()
    [raw] = [r for r in bad._roi_responses if r.response_type == "raw"]
    raw.data = np.array(raw.data)
    raw.data[15, 2] = np.inf  # found only as the writer reads that block
    with pytest.raises(segdb.InvalidInputError, match="holds infinite values"):
        archive.ingest({"p0": _seg(), "p1": bad}, subject="m1", session="s1")
    paths, rows = _leftovers(archive)
    assert paths == [] and set(rows.values()) == {0}


def test_a_failed_ingest_keeps_the_folders_of_segmentations_already_there(archive):
    archive.ingest(_seg(), subject="m1", session="s1", name="first")
    before = _leftovers(archive)
    bad = _seg()
    [raw] = [r for r in bad._roi_responses if r.response_type == "raw"]
    raw.data = np.full((20, 4), np.inf, dtype=np.float32)
    with pytest.raises(segdb.InvalidInputError):
        archive.ingest({"p0": _seg(), "p1": bad}, subject="m1", session="s1", name="second")
    assert _leftovers(archive) == before


# A sweep of other options

@pytest.mark.parametrize(("argv", "expected"), [
    (["query", "--limit", "-1"], "'-1' is not a whole number from 1"),
    (["query", "--limit", "abc"], "'abc' is not a whole number from 1"),
    (["query", "--limit", HUGE], f"'{HUGE}' is not a whole number from 1"),
    (["query", "--near", "nan", "1", "2", "--fov", "plane0"], "'nan' is not a finite number"),
    (["query", "--box", "0", "0", "inf", "1", "--fov", "plane0"], "'inf' is not a finite number"),
    (["track", "list", "1", "--min-sessions", HUGE], "is not a whole number from 1"),
    (["curate", "accept", "1", "-s", "1", "--expect-revision", "-3"], "'-3' is not a whole number from 0"),
    (["export", "nwb", "m1/s1/seg", "{file}"], "is a file, not a folder"),
    (["export", "nwb", "m1/s1/seg", "{file}/sub"], "cannot create the folder"),
    (["curate", "export", "-s", "m1/s1/seg", "{dir}"], "is a folder; give the path of the CSV file"),
    (["curate", "export", "-s", "m1/s1/seg", "{dir}/missing/state.csv"], "does not exist; create it"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_hostile_option_values_are_one_error_line(ingested, capsys, tmp_path, argv, expected):
    ingested.set_session("m1/s1", session_start="2026-03-01T10:00")
    (tmp_path / "a-file").write_text("")
    argv = [a.replace("{file}", str(tmp_path / "a-file")).replace("{dir}", str(tmp_path)) for a in argv]
    assert expected in _one_error_line(capsys, [*argv, *_cli_target(ingested)])


def test_demo_refuses_a_negative_seed_and_a_file(tmp_path, capsys):
    assert "'-1' is not a whole number from 0" in _one_error_line(capsys, ["demo", str(tmp_path / "d"), "--seed", "-1"])
    (tmp_path / "a-file").write_text("")
    assert "is a file" in _one_error_line(capsys, ["demo", str(tmp_path / "a-file")])


def test_a_query_limit_outside_64_bits_is_refused_in_python(archive):
    for limit in (-1, 0, 2**64, "abc", True):
        with pytest.raises(segdb.InvalidInputError, match="limit is"):
            archive.query_rois(limit=limit)


def test_a_damaged_catalog_is_named_in_python_too(tmp_path):
    folder = tmp_path / "lab"
    segdb.open(folder).close()
    sqlite3.connect(folder / "catalog.sqlite").close()
    _garbage(folder / "catalog.sqlite")
    with pytest.raises(segdb.SegDBError, match="is not a readable SQLite catalog"):
        segdb.open(folder, create=False)


def test_an_integer_past_64_bits_in_a_filter_compares_as_a_number(ingested):
    everything = ingested.count_rois()
    assert ingested.count_rois(where=f"pixel_count < {HUGE}") == everything
    assert ingested.count_rois(where=f"pixel_count > {HUGE} or pixel_count in [-{HUGE}]") == 0


@pytest.mark.parametrize("position", [dict(near=(float("nan"), 0, 5)), dict(near=(0, 0, float("inf"))),
                                      dict(box=(0, 0, float("nan"), 5))], ids=["near-nan", "radius-inf", "box-nan"])
def test_a_position_that_is_not_finite_is_refused_not_answered_empty(ingested, position):
    with pytest.raises(segdb.InvalidInputError, match="as finite"):
        ingested.query_rois(field_of_view="plane0", **position)


def test_ragged_timestamps_are_refused(archive):
    with pytest.raises(segdb.InvalidInputError, match="timestamps of plane 'plane0' are not one number per sample"):
        archive.ingest(_TextTimestamps([0.0, [1.0, 2.0]] + [3.0] * 18), subject="m1", session="s1")
