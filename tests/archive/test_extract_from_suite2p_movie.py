"""segdb extract-traces reads suite2p's registered data.bin and takes the motion border from its ops.npy."""

from __future__ import annotations

import re

import numpy as np
import pytest

from segdb.cli import main
from segdb.ingest.frontends import ingest_path
from segdb.masks import calculate_roi_and_neuropil_traces, create_roi_mask
from segdb.masks.movie import motion_border_from_ops, open_movie
from segdb.synthetic import write_suite2p_folder

FRAME = (36, 44)
FRAMES = 25


@pytest.fixture
def plane_folder(tmp_path):
    """A suite2p plane folder with its registered movie, data.bin, written as suite2p writes it (int16, C order)."""
    folder = write_suite2p_folder(tmp_path / "suite2p", n_rois=6, n_frames=FRAMES, frame_shape=FRAME, seed=4)
    movie = np.random.default_rng(2).integers(-200, 3000, (FRAMES, *FRAME)).astype(np.int16)
    movie.tofile(folder / "plane0" / "data.bin")
    return folder, movie


def test_data_bin_opens_as_the_movie_ops_describes(plane_folder):
    folder, movie = plane_folder
    with open_movie(folder / "plane0" / "data.bin") as frames:
        assert frames.shape == (FRAMES, *FRAME) and frames.dtype == np.int16
        np.testing.assert_array_equal(frames[3:5], movie[3:5])


def test_the_border_from_ops_leaves_exactly_the_registered_crop(plane_folder):
    folder, _ = plane_folder
    ops = np.load(folder / "plane0" / "ops.npy", allow_pickle=True).item()
    right, left, down, up = motion_border_from_ops(folder / "plane0" / "ops.npy")
    (x0, x1), (y0, y1) = ops["xrange"], ops["yrange"]
    assert (right, FRAME[1] - left, down, FRAME[0] - up) == (x0, x1, y0, y1)


def test_extract_traces_from_data_bin_with_the_border_from_ops(archive, plane_folder, capsys):
    folder, movie = plane_folder
    [record] = ingest_path(archive, "suite2p", folder, subject="m1", session="s1")
    options = ["-a", archive.catalog.url, "--storage-root", str(archive.storage_root), "--no-progress"]
    code = main(["extract-traces", str(record.segmentation_id), str(folder / "plane0" / "data.bin"), "--plane",
                 "plane0", "--border-from-ops", "--names", "allen_raw", "allen_neuropil", *options])
    out = capsys.readouterr().out
    assert code == 0, out
    border = list(motion_border_from_ops(folder / "plane0" / "ops.npy"))
    assert f"right {border[0]:g}, left {border[1]:g}, down {border[2]:g}, up {border[3]:g}" in out
    extractor = archive.extractor(record, plane="plane0")
    height, width = FRAME
    rois = [create_roi_mask(width, height, border, pix_list=[(int(c), int(r)) for r, c, _ in mask], label=key)
            for key, mask in zip(extractor.get_roi_ids(), extractor.get_roi_pixel_masks())]
    expected, _, _ = calculate_roi_and_neuropil_traces(movie, rois, border)
    np.testing.assert_allclose(extractor.get_traces(name="allen_raw"), expected.T, rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize("damage, expected", [
    (lambda plane: (plane / "data.bin").write_bytes((plane / "data.bin").read_bytes()[:1000]),
     r"data.bin' is 1000 bytes but its ops.npy says 25 frames of 36 x 44 int16 pixels.*copied completely"),
    (lambda plane: (plane / "ops.npy").unlink(), r"has no ops.npy beside it"),
])
def test_a_damaged_suite2p_movie_is_one_error_line(archive, plane_folder, capsys, damage, expected):
    folder, _ = plane_folder
    [record] = ingest_path(archive, "suite2p", folder, subject="m1", session="s1")
    damage(folder / "plane0")
    options = ["-a", archive.catalog.url, "--storage-root", str(archive.storage_root), "--no-progress"]
    assert main(["extract-traces", str(record.segmentation_id), str(folder / "plane0" / "data.bin"), "--names",
                 "allen_raw", "allen_neuropil", *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segdb: error: ") and err.count("\n") == 1 and re.search(expected, err), err
    assert "allen_raw" not in archive.extractor(record).get_traces_dict()


def test_border_and_border_from_ops_exclude_each_other(archive, plane_folder, capsys):
    folder, _ = plane_folder
    [record] = ingest_path(archive, "suite2p", folder, subject="m1", session="s1")
    options = ["-a", archive.catalog.url, "--storage-root", str(archive.storage_root)]
    assert main(["extract-traces", str(record.segmentation_id), str(folder / "plane0" / "data.bin"), "--border",
                 "1", "1", "1", "1", "--border-from-ops", *options]) == 2
    assert "give --border or --border-from-ops, not both" in capsys.readouterr().err
