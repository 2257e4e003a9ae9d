"""No silent empty answers: a property, name, curator or run the archive does not have is an error that
says what it has; the where language reads AND/OR/NOT and between; a type mismatch names the type; a date
range says which sessions it leaves out for having no start; ingest takes a start from a dated session name.

Each runs on SQLite and PostgreSQL, through Python and the `segdb` command."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from segdb.cli import main
from segdb.errors import InvalidInputError, NotFoundError
from segdb.synthetic import synthetic_segmentation

SKEW = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
REGION = ["V1", "LM", "V1", "AL", "LM", "V1"]


def _segmentation(seed: int):
    source = synthetic_segmentation(n_rois=6, n_frames=10, seed=seed)
    ids = source.get_roi_ids()
    source.set_property("skew", np.array(SKEW), ids)
    source.set_property("region", np.array(REGION), ids)
    return source


def _fill(archive):
    first = archive.ingest(_segmentation(1), subject="m12", session="2026-03-01", name="suite2p",
                           session_start="2026-03-01T09:30", field_of_view="site1", progress=False)
    archive.ingest(_segmentation(2), subject="m12", session="2026-03-08", name="suite2p",
                   session_start="2026-03-08", field_of_view="site1", progress=False)
    # Not a date, and no start: the date range cannot place it.
    archive.ingest(_segmentation(3), subject="m15", session="baseline", name="caiman", progress=False)
    archive.curate(first, [1], "rejected", curator="alice")
    return archive


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lab(request, archive_maker, tmp_path_factory):
    """Three sessions of two subjects, with a numeric and a text property; only read by the tests."""
    with archive_maker.new(request.param, tmp_path_factory.mktemp("lab")) as archive:
        yield _fill(archive)


def _cli(archive, capsys, *argv: str) -> tuple[int, str, str]:
    target, storage_root = archive.reopen_spec()
    capsys.readouterr()
    code = main([*argv, "--archive", target, "--storage-root", storage_root])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(code: int, err: str) -> str:
    assert code == 2, err
    assert err.startswith("segdb: error: ") and err.count("\n") == 1, err
    return err


# -- unknown properties ---------------------------------------------------------------------------


def test_an_unknown_property_is_an_error_listing_the_properties(lab):
    record = lab.segmentation("m12/2026-03-01/suite2p")
    for run in (lambda: lab.query(where="foo > 5"), lambda: lab.count_rois(where="foo > 5"),
                lambda: lab.query(where="foo > 5 or skew > 1"), lambda: lab.explain_query(where="foo > 5"),
                lambda: lab.extractor(record, where="foo > 5"), lambda: lab.extractor(record, where={"foo": 1})):
        listed = r"names 'foo', which is not a property of .*its properties are accepted, is_accepted, region, skew, "
        with pytest.raises(InvalidInputError, match=listed + "and the ROI columns") as got:
            run()
        assert "\n" not in str(got.value)
    with pytest.raises(InvalidInputError, match=r"names 'skw' \(did you mean 'skew'\?\)"):
        lab.query(where="skw > 1")


def test_an_unknown_property_is_one_error_line_of_segdb_query(lab, capsys):
    err = _one_error_line(*_cli(lab, capsys, "query", "--where", "foo > 5")[::2])
    assert "'foo'" in err and "region, skew" in err
    code, out, _ = _cli(lab, capsys, "query", "--where", "skew > 5", "--count")
    assert (code, out.strip()) == (0, "3")


def test_a_type_mismatch_names_the_propertys_type(lab):
    record = lab.segmentation("m12/2026-03-01/suite2p")
    cases = [
        ("skew == 'high'", "skew is numeric in .*; compare it with a number"),
        ("skew > high", "skew is numeric in .*; compare it with a number"),
        ("skew in ['a', 'b']", "skew is numeric"),
        ("region > 5", "region is text in .*; compare it with a quoted string"),
        ("region > 'V1'", "region is text in .*, and text is compared only with ==, !=, in or not in"),
    ]
    for where, message in cases:
        for run in (lambda: lab.query(where=where), lambda: lab.extractor(record, where=where)):
            with pytest.raises(InvalidInputError, match=message) as got:
                run()
            assert "text property" not in str(got.value)


# -- the where language ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("skew > 2 AND region == 'V1'", "skew > 2 and region == 'V1'"),
        ("skew > 5 OR region == 'LM'", "skew > 5 or region == 'LM'"),
        ("NOT region == 'V1' And skew < 5", "not region == 'V1' and skew < 5"),
        ("region NOT IN ['V1']", "region not in ['V1']"),
        ("skew between 1 and 4", "skew >= 1 and skew <= 4"),
        ("skew BETWEEN 1.5 AND 3.5 or region == 'AL'", "(skew >= 1.5 and skew <= 3.5) or region == 'AL'"),
        ("not skew between 1 and 4", "not (skew >= 1 and skew <= 4)"),
        ("region between 'AL' and 'LM' or skew > 5", "region in ['AL', 'LM'] or skew > 5"),
    ],
)
def test_keywords_in_any_case_and_between_read_as_meant(lab, written, meant):
    record = lab.segmentation("m12/2026-03-01/suite2p")
    if "between 'AL'" in written:
        # Text is compared only with ==, !=, in, not in: between is for numbers.
        with pytest.raises(InvalidInputError, match="region is text"):
            lab.query(where=written)
        return
    expected = lab.extractor(record, where=meant).get_roi_ids()
    assert 0 < len(expected) < len(SKEW), meant
    assert lab.extractor(record, where=written).get_roi_ids() == expected
    assert lab.count_rois(where=written) == lab.count_rois(where=meant)


def test_between_with_a_missing_end_is_refused_in_one_line():
    from segdb.archive.filters import parse_where

    with pytest.raises(InvalidInputError, match="cannot read the ROI filter 'skew between 2 and'"):
        parse_where("skew between 2 and")
    # A text value holding AND or between is a value, not a keyword.
    assert parse_where("region == 'a AND b between c'")[0].value == "a AND b between c"


# -- unknown names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"subject": "m99"}, r"no subject 'm99' in the archive; there are m12, m15 \(`segdb ls subjects`"),
        ({"subject": "m12", "session": "2026-03-02"},
         r"no session '2026-03-02' in the archive for subject 'm12'; there are 2026-03-01, 2026-03-08 "
         r"\(`segdb ls sessions --subject m12`"),
        ({"session": ["2026-03-01", "nope"]}, r"no session 'nope' in the archive; there are 2026-03-01, 2026-03-08,"
                                              r" baseline"),
        ({"subject": "m12", "segmentation": "suite3p"},
         r"no segmentation named 'suite3p' in the archive for subject 'm12'; there are suite2p "
         r"\(`segdb ls segmentations --subject m12`"),
        ({"subject": "m15", "segmentation": "suite2p"}, r"no segmentation named 'suite2p' .*there are caiman"),
        ({"plane": "plane9"}, r"no plane 'plane9' in the archive; there are plane0 .*in its planes column"),
        ({"subject": "m12", "field_of_view": "plane0"},
         r"no field of view 'plane0' in the archive for subject 'm12'; there are site1"),
    ],
)
def test_an_unknown_name_is_an_error_naming_what_exists(lab, filters, message):
    for run in (lambda: lab.query(**filters), lambda: lab.count_rois(**filters)):
        with pytest.raises(NotFoundError, match=message):
            run()


def test_names_that_exist_but_select_nothing_still_answer_nothing(lab):
    # A real subject and a date range that holds none of its sessions is an empty answer, not an error.
    assert lab.query(subject="m12", date_from="2027-01-01") == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["query", "--subject", "m99"], "no subject 'm99'"),
        (["query", "--fov", "nowhere", "--count"], "no field of view 'nowhere'"),
        (["query", "--segmentation", "suite3p"], "no segmentation named 'suite3p'"),
        (["query", "--plane", "plane9"], "no plane 'plane9'"),
        (["query", "--session", "2026-03-02"], "no session '2026-03-02'"),
        (["ls", "sessions", "--subject", "m99"], "no subject 'm99' in the archive; there are m12, m15"),
        (["ls", "segmentations", "--subject", "m12", "--session", "x"],
         "no session 'x' in the archive for subject 'm12'; there are 2026-03-01, 2026-03-08"),
        (["ls", "segmentations", "--subject", "m99"], "no subject 'm99'"),
        (["ls", "rois", "-s", "m12/2026-03-01/suite2p", "--plane", "plane9"],
         "segmentation m12/2026-03-01/suite2p has no plane 'plane9'; its planes are plane0"),
        (["track", "list", "99"], "matching run 99 is not in the archive; there are none yet"),
    ],
)
def test_an_unknown_name_is_one_error_line_of_the_command(lab, capsys, argv, expected):
    code, _, err = _cli(lab, capsys, *argv)
    assert expected in _one_error_line(code, err)


def test_an_unknown_matching_run_names_the_runs_there_are(archive):
    from segdb.synthetic import simulate_fov
    from segdb.synthetic.groundtruth import ingest_simulated_fov

    fov = simulate_fov(n_sessions=2, n_cells=12, frame_shape=(64, 64), seed=1)
    ingest_simulated_fov(archive, fov, subject="m40", field_of_view="site", first_day=dt.date(2026, 4, 6), n_frames=20)
    run = archive.match_field_of_view("m40", "site")
    assert archive.tracks(run.matching_run_id)
    with pytest.raises(NotFoundError, match=rf"matching run 99 is not in the archive; the runs it holds are "
                                            rf"{run.matching_run_id} \(`segdb track runs`"):
        archive.tracks(99)


# -- curation policies ----------------------------------------------------------------------------


def test_an_unknown_curator_in_a_policy_is_an_error_naming_the_curators(lab):
    record = lab.segmentation("m12/2026-03-01/suite2p")
    message = r"curation policy 'curator:alcie': the archive has no curator 'alcie'; its curators are alice, pipeline:"
    for run in (lambda: lab.query(accepted=True, curation="curator:alcie"),
                lambda: lab.count_rois(accepted=True, curation="curator:alcie"),
                lambda: lab.extractor(record, curation="curator:alcie"),
                lambda: lab.extractor(record, where="accepted", curation="curator:alcie"),
                lambda: lab.curation_labels(record, "plane0", [0, 1], policy="curator:alcie")):
        with pytest.raises(NotFoundError, match=message):
            run()
    # The curator who is there is used, not the latest label.
    assert 1 not in lab.extractor(record, where="accepted", curation="curator:alice").get_roi_ids()


def test_an_unknown_curator_is_one_error_line_of_segdb_query(lab, capsys):
    code, _, err = _cli(lab, capsys, "query", "--accepted", "--policy", "curator:bob")
    assert "no curator 'bob'; its curators are alice" in _one_error_line(code, err)


# -- date ranges and session starts ---------------------------------------------------------------


def test_a_date_range_says_how_many_sessions_it_leaves_out(lab):
    with pytest.warns(UserWarning, match=r"leaves out 1 session\(s\) that have no start time \(m15/baseline\); "
                                         r"give each one with `segdb session set m15/baseline --start"):
        hits = lab.query(date_from="2026-03-01")
    assert {hit.session for hit in hits} == {"2026-03-01", "2026-03-08"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The sessions asked for all have a start: nothing to say.
        assert lab.count_rois(subject="m12", date_to="2026-03-05") == 6
        assert lab.count_rois(subject="m15") == 6


def test_segdb_query_prints_the_left_out_sessions_as_one_warning_line(lab, capsys):
    code, out, err = _cli(lab, capsys, "query", "--after", "2026-03-01", "--count")
    assert (code, out.strip()) == (0, "12")
    assert err.startswith("segdb: warning: the date range (--after/--before) leaves out 1 session(s)")
    assert err.count("\n") == 1


@pytest.mark.parametrize("name", ["2026-03-01", "20260301", "2026_03_01"])
def test_ingest_takes_the_start_of_a_session_named_as_a_date(archive, name):
    with pytest.warns(UserWarning, match=rf"session '{name}' has no start time given; taking 2026-03-01 from its "
                                         r"name \(give --session-start"):
        archive.ingest(synthetic_segmentation(n_rois=3, n_frames=5), subject="m1", session=name, progress=False)
    [session] = archive.sessions(subject="m1")
    assert session.session_start == dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    assert [hit.session for hit in archive.query(date_from="2026-03-01", date_to="2026-03-01T23:59")] == [name] * 3


def test_ingest_keeps_a_given_start_and_guesses_none_for_other_names(archive):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        archive.ingest(synthetic_segmentation(n_rois=3, n_frames=5), subject="m1", session="2026-03-01",
                       session_start="2026-02-27T10:00", progress=False)
        for name in ("day1", "2026-13-01", "2026-03-01b", "202603011"):
            archive.ingest(synthetic_segmentation(n_rois=3, n_frames=5), subject="m1", session=name, progress=False)
    # A session that exists keeps its start (or none): a second segmentation of it guesses nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        archive.ingest(synthetic_segmentation(n_rois=3, n_frames=5), subject="m1", session="2026-03-01",
                       name="again", progress=False)
    starts = {s.name: s.session_start for s in archive.sessions(subject="m1")}
    assert starts.pop("2026-03-01") == dt.datetime(2026, 2, 27, 10, tzinfo=dt.timezone.utc)
    assert set(starts.values()) == {None}
