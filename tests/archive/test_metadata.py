"""What a subject, a session and a plane are: set, checked, listed, filled in by ingest, never overwritten by it."""

from __future__ import annotations

import datetime as dt

import pytest

from segdb.cli import main
from segdb.errors import InvalidInputError, NotFoundError
from segdb.synthetic import synthetic_segmentation


@pytest.fixture
def ingested(archive):
    archive.ingest(synthetic_segmentation(n_rois=5, n_frames=20, seed=1), subject="m12", session="2026-03-01",
                   name="suite2p", pixel_size_um=2.0)
    return archive


def test_subject_fields_are_checked_and_normalised(ingested):
    record = ingested.set_subject("m12", species="mouse", sex="female", age="p90d", genotype=" Ai93;Emx1-Cre ",
                                  date_of_birth="2025-12-01")
    assert (record.species, record.sex, record.age, record.genotype) == ("Mus musculus", "F", "P90D", "Ai93;Emx1-Cre")
    assert record.date_of_birth == dt.datetime(2025, 12, 1, tzinfo=dt.timezone.utc)
    # None keeps a field; "" clears it.
    record = ingested.set_subject("m12", strain="C57BL/6J", genotype="")
    assert (record.species, record.strain, record.genotype) == ("Mus musculus", "C57BL/6J", None)
    assert ingested.subjects()[0] == record


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sex": "woman"}, "sex 'woman' is not one of M, F"),
        ({"age": "90 days"}, "write it like P90D"),
        ({"age": "P"}, "not an ISO 8601 duration"),
        ({"species": "a mouse"}, "Latin binomial"),
        ({"date_of_birth": "yesterday"}, "date of birth 'yesterday' is not an ISO date"),
        ({"weight": "20 g"}, "a subject has no field 'weight'; its fields are species, sex"),
    ],
)
def test_bad_subject_fields_are_refused_and_change_nothing(ingested, fields, message):
    with pytest.raises(InvalidInputError, match=message):
        ingested.set_subject("m12", genotype="Ai93", **fields)
    assert ingested.subjects()[0].genotype is None


def test_session_fields_and_unknown_names(ingested):
    record = ingested.set_session("m12/2026-03-01", experimenters=["Doe, Jane", "Roe, Rick"], lab="Rochefort",
                                  institution="University of Edinburgh", description="spontaneous activity",
                                  session_start="2026-03-01T14:30")
    assert record.experimenters == ("Doe, Jane", "Roe, Rick")
    assert (record.lab, record.institution, record.description) == (
        "Rochefort", "University of Edinburgh", "spontaneous activity")
    assert record.session_start == dt.datetime(2026, 3, 1, 14, 30, tzinfo=dt.timezone.utc)
    assert ingested.set_session("m12/2026-03-01", experimenters=[]).experimenters == ()
    with pytest.raises(NotFoundError, match=r"session m12/2026-03-09 is not in the archive.*\['2026-03-01'\]"):
        ingested.set_session("m12/2026-03-09", lab="x")
    with pytest.raises(NotFoundError, match=r"subject 'm13' is not in the archive.*\['m12'\]"):
        ingested.set_subject("m13", sex="F")
    with pytest.raises(InvalidInputError, match="is not 'subject/session'"):
        ingested.set_session("m12", lab="x")


def test_plane_fields_and_pixel_size_moves_roi_positions(ingested):
    before = ingested.rois("m12/2026-03-01/suite2p")
    record = ingested.set_plane("m12/2026-03-01/suite2p", indicator="GCaMP6s", location="VISp L2/3",
                                excitation_nm="920", device="Bruker Ultima", pixel_size_um=1.0)
    assert (record.indicator, record.location, record.excitation_nm, record.device, record.pixel_size_um) == (
        "GCaMP6s", "VISp L2/3", 920.0, "Bruker Ultima", 1.0)
    after = ingested.rois("m12/2026-03-01/suite2p")
    for old, new in zip(before, after):
        assert new.centroid_um == pytest.approx((old.centroid_um[0] / 2, old.centroid_um[1] / 2))
    # Position queries (in the field of view's frame) see the new positions.
    x, y = after[0].centroid_um
    hits = ingested.query_rois(subject="m12", field_of_view="plane0", near=(x, y, 0.01))
    assert [hit.roi_id for hit in hits] == [after[0].roi_id]
    with pytest.raises(InvalidInputError, match="outside 200-2000 nm"):
        ingested.set_plane("m12/2026-03-01/suite2p", excitation_nm=0.92)
    with pytest.raises(InvalidInputError, match="pixel size"):
        ingested.set_plane("m12/2026-03-01/suite2p", pixel_size_um=-1)


def test_ingest_fills_empty_fields_only(archive):
    archive.ingest(synthetic_segmentation(n_rois=3, n_frames=10, seed=2), subject="m12", session="s1", name="a",
                   metadata={"subject": {"sex": "M"}, "planes": {"plane0": {"indicator": "GCaMP6s"}}})
    archive.set_subject("m12", sex="F")
    archive.set_plane("m12/s1/a", indicator="jGCaMP8m")
    archive.ingest(synthetic_segmentation(n_rois=3, n_frames=10, seed=2), subject="m12", session="s1", name="b",
                   metadata={"subject": {"sex": "M", "age": "P60D"}, "session": {"lab": "L"},
                             "planes": {"plane0": {"indicator": "GCaMP6s", "location": "VISp"}}})
    subject = archive.subjects()[0]
    assert (subject.sex, subject.age) == ("F", "P60D")
    assert archive.sessions()[0].lab == "L"
    plane = archive.planes("m12/s1/b")[0]
    assert (plane.indicator, plane.location) == ("jGCaMP8m", "VISp")
    with pytest.raises(InvalidInputError, match="sex 'x'"):
        archive.ingest(synthetic_segmentation(n_rois=3, n_frames=10, seed=2), subject="m12", session="s1",
                       name="c", metadata={"subject": {"sex": "x"}})
    assert [s.name for s in archive.segmentations()] == ["a", "b"]


def test_cli_setters_and_ls(tmp_path, capsys):
    folder = tmp_path / "lab"
    main(["demo", str(folder)])
    capsys.readouterr()
    assert main(["subject", "set", "m12", "-a", str(folder), "--species", "Mus musculus", "--sex", "F",
                 "--age", "P90D", "--genotype", "Ai93;Emx1-Cre"]) == 0
    assert main(["session", "set", "m12/2026-03-01", "-a", str(folder), "--experimenter", "Doe, Jane",
                 "--lab", "Rochefort", "--institution", "Edinburgh", "--description", "baseline"]) == 0
    assert main(["plane", "set", "m12/2026-03-01/suite2p", "-a", str(folder), "--plane", "plane0",
                 "--indicator", "GCaMP6s", "--location", "VISp L2/3", "--excitation-nm", "920",
                 "--device", "Bruker Ultima"]) == 0
    capsys.readouterr()
    main(["ls", "subjects", "-a", str(folder)])
    assert "Ai93;Emx1-Cre" in capsys.readouterr().out
    main(["ls", "sessions", "-a", str(folder), "--subject", "m12"])
    assert "(Doe, Jane)" in capsys.readouterr().out
    main(["ls", "planes", "-a", str(folder), "-s", "m12/2026-03-01/suite2p"])
    lines = capsys.readouterr().out.splitlines()
    assert "indicator" in lines[0] and "GCaMP6s" in lines[1] and "Bruker Ultima" in lines[1]
    assert main(["subject", "set", "m12", "-a", str(folder), "--age", "three months"]) == 2
    assert "segdb: error: age 'three months' is not an ISO 8601 duration" in capsys.readouterr().err
    assert main(["ls", "planes", "-a", str(folder)]) == 2
    # The demo's m40 planes are registered and tracked in µm: their pixel size stays.
    assert main(["plane", "set", "m40/2026-04-13/simulated", "-a", str(folder), "--pixel-size-um", "2"]) == 2
    assert "its pixel size cannot change now" in capsys.readouterr().err
