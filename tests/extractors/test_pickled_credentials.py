"""A pickled extractor carries the catalog URL without its password, and finds the password again."""

from __future__ import annotations

import pickle

import pytest
from sqlalchemy.engine import make_url

import segdb
from segdb.archive import reopen
from segdb.archive.locations import url_with_known_password, url_without_password
from segdb.synthetic import synthetic_segmentation


def _with_password(url: str, password: str) -> str:
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def test_a_pickled_extractor_holds_no_password_and_reads_after_unpickling(postgres_schema_url, tmp_path):
    # The test server trusts local connections, so the password is carried but not needed.
    url = _with_password(postgres_schema_url, "s3cret-pass")
    archive = segdb.open(url, storage_root=tmp_path / "arrays")
    try:
        record = archive.ingest(synthetic_segmentation(n_rois=3, n_frames=20), subject="m1", session="s1")
        view = archive.extractor(record.segmentation_id).slice_samples(2, 9)
        data = pickle.dumps(view)
        assert b"s3cret-pass" not in data
        assert "s3cret-pass" not in repr(view._archive.reopen_spec())
        restored = pickle.loads(data)
        assert (restored.get_traces() == view.get_traces()).all()
    finally:
        archive.close()


def test_the_password_comes_back_from_segdb_url_for_the_same_database(monkeypatch):
    bare = "postgresql+psycopg://lab@db.example:5432/segdb"
    monkeypatch.setenv("SEGDB_URL", "postgresql+psycopg://lab:from-env@db.example:5432/segdb")
    assert make_url(url_with_known_password(bare)).password == "from-env"
    monkeypatch.setenv("SEGDB_URL", "postgresql+psycopg://lab:other@db.example:5432/another")
    assert make_url(url_with_known_password(bare)).password is None
    monkeypatch.delenv("SEGDB_URL")
    assert url_with_known_password(bare) == bare
    assert url_without_password("postgresql+psycopg://lab:pw@db.example/segdb") == "postgresql+psycopg://lab@db.example/segdb"


def test_an_archive_that_cannot_be_reopened_says_how_to_give_the_password(tmp_path, monkeypatch):
    monkeypatch.delenv("SEGDB_URL", raising=False)
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    spec = ("postgresql+psycopg://lab@127.0.0.1:1/segdb?connect_timeout=2", str(tmp_path))
    with pytest.raises(segdb.SegDBError) as raised:
        reopen(spec)
    message = str(raised.value)
    assert "pickled extractor" in message and "PGPASSWORD" in message and "127.0.0.1:1/segdb" in message
