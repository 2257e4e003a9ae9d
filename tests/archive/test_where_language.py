"""The ``where=`` language: and, or, not, parentheses, chained comparisons and ``in`` lists select
exactly the ROIs that evaluating the same expression in Python selects, through cross-session
queries and through extractors, on SQLite and PostgreSQL; text values may hold ' and '; every
refusal is one line naming the bad part."""

from __future__ import annotations

import numpy as np
import pytest

import segdb
from segdb.archive.filters import AnyOf, Condition, is_property_condition, parse_where, roi_filter
from segdb.synthetic import synthetic_segmentation

SNR = [1.0, 6.0, 2.5, 9.0, 5.0, 7.5, 0.5, 5.5, 3.0, 8.0, 4.0, 6.5]
REGION = ["V1 and V2", "V1", "LM", "V1 and V2", "V1", "AL", "LM", "V1 and V2", "AL", "V1", "LM", "x' OR 1=1 --"]
NAME = ["a", "b and c", "c", "a", "b", "b and c", "a", "c", "b and c", "b", "a", "c"]
BRIGHT = [True, False, False, True, True, False, True, False, True, False, False, True]

# Each selects some ROIs but not all, so that a filter ignored or inverted shows.
EXPRESSIONS = [
    "snr > 5 and accepted",
    "region == 'V1 and V2'",
    "name in ['a', 'b and c']",
    "name not in ['a', 'b and c']",
    "region in ('LM', 'V1 and V2') and snr >= 2.5",
    "snr > 6 or accepted",
    "snr > 8 or not accepted",
    "(snr > 5 or region == 'LM') and not accepted",
    "(snr > 5 or region == 'LM') and name == 'a'",
    "not (snr > 5 and accepted)",
    "not (region == 'V1' or name in ['c'])",
    "not accepted",
    "1 < snr < 5",
    "5 <= snr",
    "2.5 < snr <= 8 and not (name == 'b')",
    "snr > 2 and (region == 'V1' or pixel_count >= 40) or key in [0, 1]",
    "pixel_count >= 40 or key == 3",
    "bright",
    "not bright",
    "bright and not (snr < 2) or region == 'AL'",
    "kind == 'cell' and (name == 'c' or snr != 6)",
    "region == \"x' OR 1=1 --\"",
    "snr > 1 and snr < 8 and snr != 5 and region != 'LM' and snr not in [6.0]",
    "(snr >= 2.5 and snr <= 7.5 and not bright) or (name == 'a' and name != 'b')",
]


def _ingest_labelled(archive):
    """Twelve cells with a numeric, two text and a boolean property, and their values as Python rows."""
    source = synthetic_segmentation(n_rois=12, n_frames=8, seed=3)
    ids = source.get_roi_ids()
    for name, values in (("snr", SNR), ("region", REGION), ("name", NAME), ("bright", BRIGHT)):
        source.set_property(name, np.array(values), ids)
    accepted = source.get_property("accepted", ids)
    record = archive.ingest(source, subject="m1", session="s1", progress=False)
    pixels = {roi.key: roi.pixel_count for roi in archive.rois(record)}
    rows = [
        {"key": key, "kind": "cell", "snr": SNR[i], "region": REGION[i], "name": NAME[i], "bright": BRIGHT[i],
         "accepted": bool(accepted[i]), "pixel_count": pixels[key]}
        for i, key in enumerate(ids)
    ]
    return archive, record, rows


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def labelled(request, archive_maker, tmp_path_factory):
    """The labelled archive, shared by the tests of this module that only read it."""
    with archive_maker.new(request.param, tmp_path_factory.mktemp("labelled")) as archive:
        yield _ingest_labelled(archive)


@pytest.fixture
def labelled_to_curate(archive):
    """A labelled archive of the test's own, for tests that write to it."""
    return _ingest_labelled(archive)


def _python(expression: str, rows: list[dict]) -> list:
    code = compile(expression, "<where>", "eval")
    return [row["key"] for row in rows if eval(code, {"__builtins__": {}}, dict(row))]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_where_selects_what_python_selects(labelled, expression):
    archive, record, rows = labelled
    expected = _python(expression, rows)
    assert 0 < len(expected) < len(rows), f"{expression!r} should select some ROIs, not none or all"
    assert archive.extractor(record, where=expression).get_roi_ids() == expected
    hits = archive.query(where=expression)
    assert sorted(hit.key for hit in hits) == expected
    assert archive.count_rois(where=expression) == len(expected)


def test_text_values_holding_and_are_one_value(labelled):
    archive, record, _ = labelled
    assert archive.extractor(record, where="region == 'V1 and V2'").get_roi_ids() == [0, 3, 7]
    assert archive.extractor(record, where="name in ['a', 'b and c']").get_roi_ids() == [0, 1, 3, 5, 6, 8, 10]
    assert {hit.key for hit in archive.query(where="region != 'V1 and V2' and name == 'b and c'")} == {1, 5, 8}


def test_or_is_or_not_a_number(labelled):
    archive, record, rows = labelled
    assert archive.extractor(record, where="snr > 8 or accepted").get_roi_ids() == [
        row["key"] for row in rows if row["snr"] > 8 or row["accepted"]
    ]


def test_the_mapping_form_and_lists_of_strings_combine_with_or(labelled):
    archive, record, rows = labelled
    where = [{"snr": (">", 5)}, "name == 'a' or region == 'AL'"]
    expected = [r["key"] for r in rows if r["snr"] > 5 and (r["name"] == "a" or r["region"] == "AL")]
    assert archive.extractor(record, where=where).get_roi_ids() == expected
    assert sorted(hit.key for hit in archive.query(where=where)) == expected


def test_acceptance_under_a_curation_policy_combines_with_or(labelled_to_curate):
    archive, record, rows = labelled_to_curate
    archive.curate(record, [2], "rejected", curator="alice")
    archive.curate(record, [5], "accepted", curator="alice")
    expected = [r["key"] for r in rows if (r["accepted"] and r["key"] != 2 or r["key"] == 5) or r["snr"] > 8]
    got = archive.extractor(record, where="accepted or snr > 8", curation="curator:alice").get_roi_ids()
    assert got == expected


def test_a_single_equals_sign_and_unquoted_words_still_read(labelled):
    archive, record, _ = labelled
    assert archive.extractor(record, where="region = LM or kind = cell and snr > 8").get_roi_ids() == [2, 3, 6, 10]


def test_values_are_bound_parameters_not_sql_text():
    clause = roi_filter("region == \"x' OR 1=1 --\" or snr > 5", [1, 2])
    sql = str(clause)
    assert "OR 1=1" not in sql and "'x'" not in sql
    values = clause.compile().params.values()
    assert "x' OR 1=1 --" in values and 5.0 in values


def test_an_and_of_property_conditions_stays_on_the_property_index(labelled):
    archive, _, _ = labelled
    terms = parse_where("snr > 5 and name == 'a' and 1 < snr < 9")
    assert terms == [Condition("snr", ">", 5), Condition("name", "==", "a"), Condition("snr", ">", 1),
                     Condition("snr", "<", 9)]
    assert all(is_property_condition(term) for term in terms)
    [either] = parse_where("snr > 5 or name == 'a'")
    assert isinstance(either, AnyOf) and not is_property_condition(either)
    if archive.catalog.engine.dialect.name == "sqlite":
        # The count of an and of property conditions reads the index alone, no rois row.
        plan = archive.explain_query(count=True, where="snr > 5 and name == 'a'")
        assert "ix_roi_properties__property_name_segmentation_id_value_num" in plan, plan
        assert "SCAN rois" not in plan, plan


@pytest.mark.parametrize("where, subqueries", [
    ("snr > 1 and snr < 8 and snr != 5", 1),
    (" and ".join(f"snr != {i}" for i in range(60)), 1),
    ("1 < snr < 9 and name == 'a' and snr between 2 and 3", 2),
    ("(snr > 1 and snr < 8) or name == 'a'", 2),
    ("(snr > 1 and snr < 8) or (snr > 9 and snr < 12)", 2),
])
def test_the_conditions_on_one_property_under_an_and_are_one_range_of_its_index(where, subqueries):
    sql = str(roi_filter(where, [1, 2]))
    assert sql.count("FROM roi_properties") == subqueries, sql


def test_not_moves_onto_the_conditions():
    assert parse_where("not (snr > 5 or name in ['a'])") == [Condition("snr", "<=", 5), Condition("name", "not in", ["a"])]
    assert parse_where("not accepted") == [Condition("accepted", "==", False)]
    assert parse_where("not not accepted") == [Condition("accepted", "!=", False)]
    assert parse_where("5 < snr") == [Condition("snr", ">", 5)]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("snr >> 5", "'>>' is not a comparison"),
        ("snr > 5 & accepted", "'&' is not a comparison or a logical operator; write 'and'"),
        ("snr > 5 | accepted", "write 'or'"),
        ("abs(snr) > 5", "'abs\\(snr\\)'.*function calls are not part of a filter"),
        ("snr > max(1, 2)", "'snr > max\\(1, 2\\)'.*function calls"),
        ("roi.snr > 5", "'roi.snr'.*a field is a plain name"),
        ("snr[0] > 5", "'snr\\[0\\]'.*a field is a plain name"),
        ("snr > depth * 2", "'depth \\* 2' is not a number, a quoted string or a list"),
        ("snr is 5", "'is' is not a filter operator"),
        ("region in 'V1'", "'in' needs a list of values"),
        ("snr == [1, 2]", "use 'in'"),
        ("snr > None", "None is not a number"),
        ("1 < 2", "must name a field"),
        ("True", "alone is not a condition"),
        ("snr > 5 also accepted", "at 'also accepted'"),
        ("(snr > 5", "cannot read the ROI filter"),
        ("", "is empty"),
        ("kind == 'neuron' or snr > 5", "ROI kinds are"),
        ("pixel_count > 'big' or accepted", "pixel_count is numeric \\(it takes numbers\\); compare it with a number"),
        ("region > 'V1'", "region is text in segmentation 1, and text is compared only with ==, !=, in or not in"),
    ],
)
def test_bad_filters_are_refused_in_one_line_naming_the_part(labelled, where, message):
    archive, record, _ = labelled
    for run in (lambda: archive.extractor(record, where=where), lambda: archive.query(where=where)):
        with pytest.raises(segdb.InvalidInputError, match=message) as caught:
            run()
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("skew " + "and skew > 0 " * 2000, "characters long; keep it within 4,000"),
        ("skew > 0 and " * 70 + "skew > 0", "has 71 conditions; keep it within 64"),
        ("(" * 300 + "skew > 0" + ")" * 300, "cannot read the ROI filter"),
    ],
)
def test_a_filter_too_big_to_be_a_question_is_refused_before_the_database_sees_it(where, message):
    from segdb.archive.filters import parse_where

    with pytest.raises(segdb.InvalidInputError, match=message):
        parse_where(where)
    assert len(parse_where("skew in [" + ", ".join(map(str, range(500))) + "]")) == 1
