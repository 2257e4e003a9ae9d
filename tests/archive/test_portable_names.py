"""What an archive stores fits the stricter of its two databases: a name, key or parameter that
PostgreSQL would refuse at commit is refused on SQLite too, before any chunk file is written, so an
SQLite archive can always move to PostgreSQL; and names hold only visible characters."""

from __future__ import annotations

import numpy as np
import pytest

import segdb
from segdb.geometry import CsrMasks
from segdb.synthetic import synthetic_segmentation

N_ROIS = 3


def _source(roi_ids="int"):
    return synthetic_segmentation(n_rois=N_ROIS, n_frames=20, seed=4, roi_ids=roi_ids)


def _with_trace_named(name: str):
    extractor = _source()
    traces = extractor.get_traces_dict()
    extractor.get_traces_dict = lambda: {name: traces["raw"]}
    return extractor


def _with_property(name: str, values, description: str = ""):
    extractor = _source()
    extractor.set_property(name, values, extractor.get_roi_ids(), description=description)
    return extractor


def _h5_files(archive) -> list:
    return sorted(archive.storage_root.rglob("*.h5"))


def _refused(archive, call, *expected: str) -> str:
    before = _h5_files(archive)
    with pytest.raises(segdb.InvalidInputError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, message
    assert _h5_files(archive) == before
    return message


def _ingest(archive, extractor=None, **options):
    arguments = {"subject": "m1", "session": "s1", "name": "run", "progress": False, **options}
    return lambda: archive.ingest(extractor if extractor is not None else _source(), **arguments)


LONG = "k" * 1000


@pytest.mark.parametrize(
    "case, expected",
    [
        ("long roi key", ("ROI key", "1000 characters", "255")),
        ("nul roi key", ("ROI key", "U+0000")),
        ("long property name", ("property name", "300 characters", "255")),
        ("nul property name", ("property name", "U+0000")),
        ("nul property description", ("property 'snr'", "description", "NUL")),
        ("long trace name", ("trace name", "300 characters")),
        ("nul trace name", ("trace name", "U+0000")),
        ("nul subject", ("subject", "U+0000")),
        ("nan parameter", ("parameters", "NaN")),
        ("long source format", ("source format", "100 characters", "64")),
        ("long field of view", ("field of view", "characters", "255")),
    ],
)
def test_what_postgresql_would_refuse_is_refused_on_both_before_any_file_is_written(archive, case, expected):
    calls = {
        "long roi key": lambda: _ingest(archive, _source(roi_ids=["a", "b", LONG])),
        "nul roi key": lambda: _ingest(archive, _source(roi_ids=["a", "b", "c\x00"])),
        "long property name": lambda: _ingest(archive, _with_property("p" * 300, np.ones(N_ROIS))),
        "nul property name": lambda: _ingest(archive, _with_property("snr\x00", np.ones(N_ROIS))),
        "nul property description": lambda: _ingest(archive, _with_property("snr", np.ones(N_ROIS), "a\x00b")),
        "long trace name": lambda: _ingest(archive, _with_trace_named("t" * 300)),
        "nul trace name": lambda: _ingest(archive, _with_trace_named("raw\x00")),
        "nul subject": lambda: _ingest(archive, subject="m\x001"),
        "nan parameter": lambda: _ingest(archive, parameters={"threshold": float("nan")}),
        "long source format": lambda: _ingest(archive, source_format="f" * 100),
        # Each name fits, but a named field of view of several planes is stored as 'FOV:PLANE'.
        "long field of view": lambda: _ingest(
            archive, {"plane0": _source(), "plane1": _source()}, field_of_view="v" * 250
        ),
    }
    _refused(archive, calls[case](), *expected)
    assert archive.segmentations(include_unfinished=True) == []


def test_add_trace_series_checks_its_names_and_parameters_before_writing(archive):
    # 'traces/' + 250 characters is longer than the dataset column holds.
    record = archive.ingest(_source(), subject="m1", session="s1", name="run", progress=False)
    data = np.zeros((20, N_ROIS), np.float32)
    masks = CsrMasks.from_pixel_masks([np.array([[0.0, 0.0, 1.0]])] * N_ROIS)
    _refused(archive, lambda: archive.add_trace_series(record, "plane0", {"t" * 250: data}, progress=False),
             "trace name", "250 characters")
    _refused(archive, lambda: archive.add_trace_series(record, "plane0", {"ok\x00": data}, progress=False),
             "trace name", "U+0000")
    _refused(archive, lambda: archive.add_trace_series(record, "plane0", {"ok": data}, progress=False,
                                                       mask_set=("m" * 300, masks)), "mask set name")
    _refused(archive, lambda: archive.add_trace_series(record, "plane0", {"ok": data}, progress=False,
                                                       parameters={"radius": float("inf")}), "parameters")


@pytest.mark.parametrize(
    "character",
    ["\u202e", "\u2028", "\u2029", "\x7f", "\u200b", "\ue000", "\ud800", "\x1b"],
    ids=["RLO", "line-separator", "paragraph-separator", "DEL", "zero-width-space", "private-use", "surrogate",
         "escape"],
)
def test_names_with_invisible_or_control_characters_are_refused(archive, character):
    message = _refused(archive, _ingest(archive, subject=f"m1{character}gpj.exe"), "subject",
                       f"U+{ord(character):04X}")
    assert "visible" in message


@pytest.mark.parametrize("label", ["session", "segmentation name", "plane name", "field of view"])
def test_every_name_of_an_ingest_holds_only_visible_characters(archive, label):
    name = "m1\u202egpj.exe"
    options = {
        "session": {"session": name},
        "segmentation name": {"name": name},
        "plane name": {"plane": name},
        "field of view": {"field_of_view": name},
    }[label]
    _refused(archive, _ingest(archive, **options), label, "U+202E")


@pytest.mark.parametrize("where", ["property", "trace", "roi key"])
def test_property_trace_and_roi_key_names_hold_only_visible_characters(archive, where):
    bad = "snr\u202e"
    source = {
        "property": lambda: _with_property(bad, np.ones(N_ROIS)),
        "trace": lambda: _with_trace_named(bad),
        "roi key": lambda: _source(roi_ids=["a", "b", bad]),
    }[where]()
    _refused(archive, _ingest(archive, source), "U+202E")


def test_names_in_any_script_are_kept(archive):
    record = archive.ingest(_source(roi_ids=["α", "細胞 2", "ß"]), subject="マウス1", session="séance 1",
                            name="run", progress=False)
    assert record.subject == "マウス1"
    assert archive.plane_handle(record).roi_keys == ("α", "細胞 2", "ß")


def test_curator_names_hold_only_visible_characters(archive, monkeypatch):
    from segdb.curation import current_curator

    with pytest.raises(segdb.InvalidInputError, match=r"U\+202E"):
        current_curator("alice\u202e")
    monkeypatch.setenv("SEGDB_CURATOR", "bob\x7f")
    with pytest.raises(segdb.InvalidInputError, match=r"U\+007F"):
        current_curator()
    assert current_curator("Smith, Jane") == "Smith, Jane"
