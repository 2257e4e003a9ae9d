"""`segdb show` and segdb.figures: outlines of pixel masks, pictures coloured by label, property and track,
on SQLite and PostgreSQL, and one clear line for everything a user can get wrong."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

import segdb
from segdb.cli import main
from segdb.errors import InvalidInputError
from segdb.figures import draw_segmentation, draw_track
from segdb.figures.outlines import LABEL_COLOURS, crop_box, outlines
from segdb.synthetic import simulate_fov, synthetic_segmentation
from segdb.synthetic.groundtruth import ingest_simulated_fov


def _square(top, left, side, weight=1.0):
    rows, cols = np.mgrid[top:top + side, left:left + side]
    return np.column_stack([rows.ravel(), cols.ravel(), np.full(rows.size, weight)])


def test_an_outline_is_the_edge_of_the_mask_holes_filled_and_kept_in_the_frame():
    square = _square(2, 3, 5)
    holed = square[~((square[:, 0] == 4) & (square[:, 1] == 5))]
    at_edge = _square(-2, -2, 4)
    [edge, edge_of_holed, clipped, empty] = outlines([square, holed, at_edge, np.empty((0, 3))], (10, 10))
    assert len(edge.rows) == 16
    assert {(int(r), int(c)) for r, c in zip(edge.rows, edge.cols)} == {
        (r, c) for r in range(2, 7) for c in range(3, 8) if r in (2, 6) or c in (3, 7)}
    assert len(edge_of_holed.rows) == 16
    assert clipped.rows.min() >= 0 and clipped.cols.min() >= 0 and len(clipped.rows) == 4
    assert empty.rows.size == 0
    rows, cols = crop_box(edge, (10, 10), radius=24)
    assert (rows, cols) == (slice(0, 10), slice(0, 10))


def _pixels_of(path, colour, tolerance=0.08):
    image = imread(path)[..., :3]
    return int(np.all(np.abs(image - np.asarray(colour)) < tolerance, axis=-1).sum())


@pytest.fixture
def labelled(archive):
    source = synthetic_segmentation(n_rois=12, n_frames=30, seed=5, frame_shape=(64, 64))
    source.set_property("snr", np.linspace(1, 12, 12), source.get_roi_ids())
    record = archive.ingest(source, subject="m1", session="s1", progress=False)
    return archive, record


def test_a_picture_colours_each_roi_by_its_label_under_the_policy(labelled, tmp_path):
    archive, record = labelled
    before = draw_segmentation(archive, record, tmp_path / "before.png")
    statuses = archive.curation_status(record)
    expected = {label: sum(s.label == label for s in statuses) for label in ("accepted", "rejected")}
    assert before.counts == {label: count for label, count in expected.items() if count}
    assert before.num_rois == 12 and before.image == "correlation" and before.plane == "plane0"
    keys = [s.roi for s in statuses if s.label == "accepted"]
    archive.curate(record, keys, "unsure", curator="alice")
    after = draw_segmentation(archive, record, tmp_path / "after.png")
    assert after.counts.get("unsure") == len(keys) and "accepted" not in after.counts
    assert _pixels_of(tmp_path / "before.png", LABEL_COLOURS["unsure"]) == 0
    assert _pixels_of(tmp_path / "after.png", LABEL_COLOURS["unsure"]) > 10 * len(keys)
    # curator:NAME is NAME's label, else the latest one (the pipeline's here).
    hers = draw_segmentation(archive, record, tmp_path / "hers.png", policy="curator:alice")
    assert hers.counts == {"unsure": len(keys), **{k: v for k, v in expected.items() if k != "accepted" and v}}


def test_a_picture_draws_only_what_the_filter_selects_and_colours_by_a_property(labelled, tmp_path):
    archive, record = labelled
    some = draw_segmentation(archive, record, tmp_path / "some.svg", where="snr > 6", color_by="snr")
    assert some.num_rois == 6 and (tmp_path / "some.svg").read_text().lstrip().startswith("<?xml")
    everything = draw_segmentation(archive, record, tmp_path / "snr.png", color_by="snr", image="mean")
    assert everything.num_rois == 12 and everything.image == "mean"


@pytest.mark.parametrize("options, message", [
    ({"color_by": "snrr"}, "--color-by 'snrr' is neither label nor track nor a property of segmentation"),
    ({"image": "nope"}, "has no 'nope' image; its summary images are correlation, mean"),
    ({"where": "snr >"}, "cannot read the ROI filter"),
    ({"policy": "loudest"}, "loudest"),
])
def test_what_a_user_can_get_wrong_is_one_line(labelled, tmp_path, options, message):
    archive, record = labelled
    with pytest.raises(segdb.SegDBError, match=message):
        draw_segmentation(archive, record, tmp_path / "x.png", **options)
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("name, message", [
    ("rois.jpg", "give a file name ending in .png, .svg, .pdf"),
    ("missing/rois.png", "does not exist; create it"),
    ("folder.png", "is a folder"),
])
def test_a_picture_needs_a_file_it_can_write(labelled, tmp_path, name, message):
    archive, record = labelled
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(InvalidInputError, match=message):
        draw_segmentation(archive, record, tmp_path / name)


@pytest.fixture
def tracked(archive):
    fov = simulate_fov(n_sessions=3, n_cells=25, frame_shape=(96, 96), drift_px=4, rotation_deg=2, seed=4)
    ingest_simulated_fov(archive, fov, subject="m30", field_of_view="site1", first_day=dt.date(2026, 4, 1),
                         n_frames=20)
    archive.register_field_of_view("m30", "site1")
    run = archive.match_field_of_view("m30", "site1")
    return archive, run


def test_tracks_colour_the_rois_and_a_track_is_drawn_across_its_sessions(tracked, tmp_path):
    archive, run = tracked
    first = archive.track(archive.tracks(run.matching_run_id, min_sessions=3)[0])
    picture = draw_segmentation(archive, first.members[0].segmentation_id, tmp_path / "tracks.png", color_by="track")
    tracked_rois = picture.counts[f"tracked in run {run.matching_run_id}"]
    assert 20 <= tracked_rois <= picture.num_rois
    montage = draw_track(archive, first.track_id, tmp_path / "track.png")
    assert montage.num_rois == 3 and imread(tmp_path / "track.png").shape[1] > 300
    with pytest.raises(InvalidInputError, match="has no 'calcium' traces; pick one of"):
        draw_track(archive, first.track_id, tmp_path / "t.png", trace="calcium")
    with pytest.raises(segdb.SegDBError, match="matching run 999 is not in the archive"):
        draw_segmentation(archive, first.members[0].segmentation_id, tmp_path / "t.png", color_by="track",
                          matching_run=999)


def test_segdb_show_writes_the_picture_and_says_where(labelled, tmp_path, capsys, monkeypatch):
    archive, record = labelled
    monkeypatch.chdir(tmp_path)
    url = archive.catalog.url
    common = ["-a", url, "--storage-root", str(archive.storage_root)]
    assert main(["show", str(record.segmentation_id), *common]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote segmentation-{record.segmentation_id}-plane0.png: 12 ROIs (")
    assert (tmp_path / f"segmentation-{record.segmentation_id}-plane0.png").stat().st_size > 1000
    assert main(["show", str(record.segmentation_id), "--color-by", "snr", "-o", "snr.png", "--json", *common]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["path"] == "snr.png" and written["color_by"] == "snr" and written["num_rois"] == 12
    assert main(["show", "track", "x", *common]) == 2
    assert "`segdb show track` needs a track id" in capsys.readouterr().err
    assert main(["show", "1", "2", *common]) == 2
    assert "to draw a track, write `segdb show track 2`" in capsys.readouterr().err


def test_the_readme_show_examples_draw_on_the_demo_archive(tmp_path, capsys, monkeypatch):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = [part.split("```", 1)[0] for part in readme.split("```bash")[1:]]
    commands = [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()
                if line.startswith("segdb show")]
    assert len(commands) >= 3, commands
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "lab"]) == 0
    for argv in commands:
        capsys.readouterr()
        assert main([*argv[1:], "--archive", "lab"]) == 0, argv
        assert capsys.readouterr().out.startswith("wrote "), argv
        written = tmp_path / argv[argv.index("-o") + 1]
        assert imread(written).shape[0] > 300, argv
