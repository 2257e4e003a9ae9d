"""Every user error of the `segdb` command prints one `segdb: error:` line and exits 2."""

from __future__ import annotations

import pytest

from segdb.cli import main


def _empty_archive(tmp_path) -> str:
    archive = str(tmp_path / "lab")
    assert main(["init", archive]) == 0
    return archive


def _missing_archive(tmp_path) -> str:
    return str(tmp_path / "nothing-here")


@pytest.mark.parametrize(
    ("argv", "where", "expected"),
    [
        (["ls", "rois"], _empty_archive, "--segmentation"),
        (["query", "--accepted", "--rejected"], _empty_archive, "--accepted and --rejected exclude each other"),
        (["db", "current"], _missing_archive, "there is no segdb archive at"),
        (["db", "check"], _missing_archive, "create one with `segdb init"),
        (["db", "upgrade"], _missing_archive, "there is no segdb archive at"),
        (["db", "roles"], _empty_archive, "only in a PostgreSQL catalog"),
    ],
    ids=["ls-rois-without-segmentation", "query-accepted-and-rejected", "db-current-without-archive",
         "db-check-without-archive", "db-upgrade-without-archive", "db-roles-on-sqlite"],
)
def test_a_user_error_is_one_segdb_error_line_and_exit_2(tmp_path, capsys, argv, where, expected):
    archive = where(tmp_path)
    capsys.readouterr()
    code = main([*argv, "--archive", archive])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("segdb: error: ") and err.count("\n") == 1
    assert expected in err


def test_db_on_a_missing_archive_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "nothing-here"
    assert main(["db", "upgrade", "--archive", str(missing)]) == 2
    assert not missing.exists()


def test_a_warning_is_one_segdb_warning_line(tmp_path, capsys):
    from segdb.synthetic import write_suite2p_folder

    suite2p = write_suite2p_folder(tmp_path / "suite2p", n_planes=2, n_rois=6, n_frames=40, frame_shape=(48, 48))
    (suite2p / "plane1" / "stat.npy").unlink()
    assert main(["init", str(tmp_path / "lab")]) == 0 and capsys.readouterr()
    code = main(["ingest", "suite2p", str(suite2p), "--archive", str(tmp_path / "lab"), "--subject", "m12",
                 "--session", "s1", "--no-progress"])
    assert code == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"segdb: warning: Skipping suite2p plane folder '{suite2p / 'plane1'}': it has no stat.npy "
                   "(was ROI detection run?)."]
