"""An archive's identity and location: only `segdb init` creates one, ids are never reused,
writes go only to the storage root the catalog recorded, a catalog that cannot be reached is
one line, and deleting says what goes with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from segdb.catalog.engine import Catalog
from segdb.cli import main
from segdb.synthetic import write_suite2p_folder


@pytest.fixture
def suite2p_dir(tmp_path: Path) -> Path:
    return write_suite2p_folder(tmp_path / "suite2p", n_rois=4, n_frames=20, frame_shape=(32, 32), seed=1)


def _ingest_argv(folder: Path, target: str, *options: str) -> list[str]:
    return ["ingest", "suite2p", str(folder), "--archive", target, *options, "--subject", "m1", "--session", "s1",
            "--no-progress"]


def test_ingest_into_a_folder_that_holds_no_archive_is_refused_and_creates_nothing(tmp_path, capsys, suite2p_dir):
    typo = tmp_path / "typo" / "lab"
    assert main(_ingest_argv(suite2p_dir, str(typo))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("segdb: error: there is no segdb archive at ")
    assert f"segdb init {typo}" in err
    assert not typo.exists()


def test_ingest_into_an_empty_database_is_refused_and_creates_no_tables(postgres_schema_url, tmp_path, capsys,
                                                                        suite2p_dir):
    root = tmp_path / "arrays"
    assert main(_ingest_argv(suite2p_dir, postgres_schema_url, "--storage-root", str(root))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a segdb catalog" in err and "segdb init" in err
    catalog = Catalog(postgres_schema_url)
    try:
        assert inspect(catalog.engine).get_table_names() == []
    finally:
        catalog.dispose()
    assert not root.exists()
