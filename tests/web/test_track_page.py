"""One tracked cell across sessions in `segdb serve`, on SQLite and PostgreSQL: its crops, traces and labels,
labelled once for every session it was found in (one event per member, one batch, one undo), a conflict
refused whole, and the same in a real browser."""

from __future__ import annotations

import datetime as dt

import httpx
import numpy as np
import pytest
from matplotlib.image import imread
from selenium.webdriver.common.by import By

from segdb.errors import ConflictError
from segdb.synthetic import simulate_fov
from segdb.synthetic.groundtruth import ingest_simulated_fov

from .conftest import running_server
from .test_browser import _message, _open, _press, _screenshot, _wait

CLIENT = httpx.Client(timeout=60)


@pytest.fixture
def tracked(archive):
    fov = simulate_fov(n_sessions=3, n_cells=20, frame_shape=(96, 96), drift_px=4, rotation_deg=2, seed=4)
    ingest_simulated_fov(archive, fov, subject="m30", field_of_view="site1", first_day=dt.date(2026, 4, 1),
                         n_frames=300)
    archive.register_field_of_view("m30", "site1")
    run = archive.match_field_of_view("m30", "site1")
    track_id = archive.tracks(run.matching_run_id, min_sessions=3)[0]
    return archive, run, archive.track(track_id)


def _revision(archive, member) -> int:
    history = archive.curation_history(member.segmentation_id, member.roi, plane=member.plane)
    return history[-1].revision if history else 0


def _token(page: httpx.Response) -> str:
    return page.text.split("window.SEGDB_TOKEN = ")[1].split(";")[0].strip('"')


def test_a_track_is_labelled_once_for_all_its_sessions_in_one_batch(tracked):
    archive, _, track = tracked
    members = track.members
    revisions = {m.roi_id: _revision(archive, m) for m in members}
    events = archive.curate_track(track.track_id, "accepted", curator="alice", expected_revision=revisions,
                                  note="same cell")
    assert len(events) == 3 and len({e.batch_id for e in events}) == 1
    for member in members:
        last = archive.curation_history(member.segmentation_id, member.roi, plane=member.plane)[-1]
        assert (last.curator, last.label, last.note) == ("alice", "accepted", "same cell")
    # A stale revision in one session refuses the whole track: nothing is written anywhere.
    archive.curate(members[1].segmentation_id, [members[1].roi], "rejected", plane=members[1].plane, curator="bob")
    seen = {m.roi_id: _revision(archive, m) for m in members}
    seen[members[1].roi_id] -= 1
    with pytest.raises(ConflictError, match="since you looked"):
        archive.curate_track(track.track_id, "unsure", curator="alice", expected_revision=seen)
    assert archive.curation_history(members[0].segmentation_id, members[0].roi,
                                    plane=members[0].plane)[-1].label == "accepted"
    # One undo, from any of the sessions, takes back the track's labels in all of them.
    undone = archive.undo_curation(members[2].segmentation_id, curator="alice")
    assert len(undone) == 3
    for member in members:
        mine = [e for e in archive.curation_history(member.segmentation_id, member.roi, plane=member.plane)
                if e.curator == "alice"]
        assert mine[-1].label == "cleared"


def test_a_frozen_session_refuses_the_whole_track(tracked):
    archive, _, track = tracked
    archive.freeze_curation(track.members[-1].segmentation_id, reason="published")
    with pytest.raises(ConflictError, match="frozen"):
        archive.curate_track(track.track_id, "accepted", curator="alice")
    first = track.members[0]
    assert archive.curation_history(first.segmentation_id, first.roi, plane=first.plane) == []


def test_the_track_page_serves_crops_traces_and_labels(tracked):
    archive, run, track = tracked
    with running_server(archive, curator="alice") as url:
        page = CLIENT.get(f"{url}/tracks/{track.track_id}")
        assert page.status_code == 200 and f"track {track.track_id}" in page.text
        assert all(member.session in page.text for member in track.members)
        crop = CLIENT.get(f"{url}/api/tracks/{track.track_id}/members/0/crop.png")
        assert crop.headers["content-type"] == "image/png"
        pixels = imread(__import__("io").BytesIO(crop.content))
        assert pixels.shape[:2] == (48, 48)
        # The outline is drawn in: some pixels are the outline's cyan, the rest grey.
        assert np.any((pixels[..., 0] < 0.05) & (pixels[..., 2] > 0.95))
        trace = CLIENT.get(f"{url}/api/tracks/{track.track_id}/members/2/trace", params={"width": 100}).json()
        assert trace["num_samples"] == 300 and len(trace["min"]) == 100
        missing = CLIENT.get(f"{url}/api/tracks/{track.track_id}/members/3/trace")
        assert missing.status_code == 404 and "spans 3 sessions" in missing.json()["error"]
        assert CLIENT.get(f"{url}/api/tracks/999999").status_code == 404
        state = CLIENT.get(f"{url}/api/tracks/{track.track_id}/state").json()
        revisions = {str(row["roi_id"]): row["revision"] for row in state}
        labels = f"{url}/api/tracks/{track.track_id}/labels"
        body = {"label": "rejected", "revisions": revisions}
        assert CLIENT.post(labels, json=body).status_code == 400
        stored = CLIENT.post(labels, json=body, headers={"X-SegDB-Token": _token(page)})
        assert stored.status_code == 200 and [e["label"] for e in stored.json()] == ["rejected"] * 3
        again = CLIENT.post(labels, json=body, headers={"X-SegDB-Token": _token(page)})
        assert again.status_code == 409 and "since you looked" in again.json()["error"]
        assert {row["label"] for row in CLIENT.get(f"{url}/api/tracks/{track.track_id}/state").json()} == {"rejected"}
        # A page that sends the version it has hears only that nothing changed, until something does.
        seen = CLIENT.get(f"{url}/api/tracks/{track.track_id}/state").headers["X-SegDB-Version"]
        unchanged = CLIENT.get(f"{url}/api/tracks/{track.track_id}/state", params={"version": seen})
        assert unchanged.status_code == 204 and unchanged.content == b""
        archive.curate(track.members[0].segmentation_id, [track.members[0].roi], "unsure",
                       plane=track.members[0].plane, curator="bob")
        changed = CLIENT.get(f"{url}/api/tracks/{track.track_id}/state", params={"version": seen})
        assert changed.status_code == 200 and changed.json()[0]["label"] == "unsure"
        undone = CLIENT.post(f"{url}/api/tracks/{track.track_id}/undo", headers={"X-SegDB-Token": _token(page)})
        assert undone.status_code == 200 and len(undone.json()) == 3
        # The run page lists the track; the archive page links the run; a ROI's panel links its track.
        assert f'href="/tracks/{track.track_id}"' in CLIENT.get(f"{url}/runs/{run.matching_run_id}").text
        assert f'href="/runs/{run.matching_run_id}"' in CLIENT.get(f"{url}/").text
        first = track.members[0]
        view = CLIENT.get(f"{url}/api/segmentations/{first.segmentation_id}/planes/{first.plane}").json()
        assert [roi["track"] for roi in view["rois"] if roi["key"] == first.roi] == [track.track_id]


def test_a_curator_labels_a_tracked_cell_in_the_browser(tracked, browser_factory):
    archive, _, track = tracked
    with running_server(archive, curator="alice", poll_seconds=0.5) as url:
        driver = browser_factory()
        first = track.members[0]
        _open(driver, f"{url}/segmentations/{first.segmentation_id}?plane={first.plane}")
        index = list(archive.plane_handle(first.segmentation_id, first.plane).roi_keys).index(first.roi)
        driver.find_element(By.CSS_SELECTOR, f'#rois tr[data-index="{index}"]').click()
        link = _wait(driver, lambda d: d.find_element(By.ID, "track-link").is_displayed()
                     and d.find_element(By.ID, "track-link"))
        link.click()
        _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".crop img")) == 3)
        _wait(driver, lambda d: d.execute_script(
            "return [...document.querySelectorAll('.crop img')].every((i) => i.complete && i.naturalWidth > 0)"))
        _press(driver, "a")
        _wait(driver, lambda d: f"track {track.track_id}: accepted in 3 sessions" in _message(d))
        _wait(driver, lambda d: [b.text for b in d.find_elements(By.CSS_SELECTOR, ".member-label")] == ["accepted"] * 3)
        for member in track.members:
            last = archive.curation_history(member.segmentation_id, member.roi, plane=member.plane)[-1]
            assert (last.curator, last.label) == ("alice", "accepted")
        _screenshot(driver, f"track-{archive.catalog.dialect}.png")
        # Someone labels one session meanwhile: the open page shows it without a reload.
        archive.curate(track.members[1].segmentation_id, [track.members[1].roi], "unsure",
                       plane=track.members[1].plane, curator="bob")
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".member-label")[1].text == "unsure", seconds=10)
        # A crop's link opens that session's segmentation with the ROI selected.
        driver.find_elements(By.CSS_SELECTOR, ".crop figcaption a")[2].click()
        _wait(driver, lambda d: d.find_element(By.ID, "roi-title").text == f"ROI {track.members[2].roi}")
