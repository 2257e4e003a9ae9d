"""`segdb serve` over HTTP, on SQLite and PostgreSQL: writes need the page's token and go through the
curation store (freezes, conflicts and unknown ROIs answered in one line), traces are decimated on the
server, and no request reaches beyond the archive."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from segdb.cli import main
from segdb.synthetic import synthetic_segmentation
from segdb.web.views import decimate

from .conftest import running_server

# Generous: the machine may be busy with other tests.
CLIENT = httpx.Client(timeout=60)


@pytest.fixture
def served(archive):
    source = synthetic_segmentation(n_rois=5, n_frames=5000, seed=2, frame_shape=(64, 64))
    record = archive.ingest(source, subject="m1", session="s1", progress=False)
    with running_server(archive, curator="alice") as url:
        page = CLIENT.get(f"{url}/segmentations/{record.segmentation_id}")
        assert page.status_code == 200
        token = page.text.split("window.SEGDB_TOKEN = ")[1].split(";")[0].strip('"')
        yield archive, record, url, token


def test_a_label_needs_the_pages_token_and_the_revision_it_saw(served):
    archive, record, url, token = served
    seg = record.segmentation_id
    labels = f"{url}/api/segmentations/{seg}/planes/plane0/labels"
    body = {"key": 0, "label": "rejected", "revision": 1}
    refused = CLIENT.post(labels, json=body)
    assert refused.status_code == 400 and "token is missing" in refused.json()["error"]
    assert archive.curation_history(seg, 0, plane="plane0")[-1].curator.startswith("pipeline:")
    stored = CLIENT.post(labels, json=body, headers={"X-SegDB-Token": token})
    assert stored.status_code == 200 and stored.json()["revision"] == 2 and stored.json()["curator"] == "alice"
    stale = CLIENT.post(labels, json={**body, "label": "accepted"}, headers={"X-SegDB-Token": token})
    assert stale.status_code == 409 and "since you looked" in stale.json()["error"]
    unknown = CLIENT.post(labels, json={**body, "key": 99}, headers={"X-SegDB-Token": token})
    assert unknown.status_code == 404 and "ROI(s) [99] are not in plane 'plane0'" in unknown.json()["error"]
    archive.freeze_curation(seg, reason="published")
    frozen = CLIENT.post(labels, json={**body, "revision": 2}, headers={"X-SegDB-Token": token})
    assert frozen.status_code == 409 and "frozen" in frozen.json()["error"]
    assert [e.label for e in archive.curation_history(seg, 0, plane="plane0")][1:] == ["rejected"]


def test_an_open_page_reads_the_labels_again_only_when_the_curation_changed(served):
    archive, record, url, token = served
    state = f"{url}/api/segmentations/{record.segmentation_id}/planes/plane0/state"
    first = CLIENT.get(state).json()
    assert len(first["rois"]) == 5
    assert CLIENT.get(state, params={"version": first["version"]}).json() == {"version": first["version"], "rois": None}
    archive.curate(record.segmentation_id, [3], "unsure", curator="bob")
    changed = CLIENT.get(state, params={"version": first["version"]}).json()
    assert changed["version"] != first["version"]
    # Only what changed since the version the page saw comes back, not every ROI again.
    assert changed["changed"] == [{"key": 3, "label": "unsure", "revision": 2, "tags": []}] and changed["rois"] is None
    archive.curate(record.segmentation_id, [1, 4], "rejected", curator="carol")
    archive.undo_curation(record.segmentation_id, curator="bob")
    later = CLIENT.get(state, params={"version": changed["version"]}).json()
    assert sorted((row["key"], row["revision"]) for row in later["changed"]) == [(1, 2), (3, 3), (4, 2)]
    # A version the archive cannot have come from (or none) gets every ROI.
    for unknown in ("garbage", "99-99999", f"{first['version']}-1"):
        assert len(CLIENT.get(state, params={"version": unknown}).json()["rois"]) == 5


def test_a_long_trace_is_decimated_on_the_server_without_losing_a_peak(served):
    archive, record, url, _ = served
    trace = CLIENT.get(f"{url}/api/segmentations/{record.segmentation_id}/planes/plane0/rois/1/trace",
                      params={"width": 500}).json()
    raw = archive.extractor(record.segmentation_id).get_traces(roi_ids=[1])[:, 0]
    assert len(trace["min"]) == len(trace["max"]) == 500 and trace["num_samples"] == 5000
    assert max(trace["max"]) == pytest.approx(float(raw.max()))
    assert min(trace["min"]) == pytest.approx(float(raw.min()))
    window = CLIENT.get(f"{url}/api/segmentations/{record.segmentation_id}/planes/plane0/rois/1/trace",
                       params={"start": 100, "stop": 200, "width": 500}).json()
    assert window["min"] == pytest.approx(raw[100:200].tolist()) and window["start"] == 100


def test_decimation_keeps_each_bins_extremes():
    values = np.zeros(10_000)
    values[1234], values[8765] = 7.0, -3.0
    low, high = decimate(values, 100)
    assert low.size == high.size == 100 and high.max() == 7.0 and low.min() == -3.0
    short = np.arange(5.0)
    assert decimate(short, 100)[0] is short


@pytest.mark.parametrize("path, status, message", [
    ("/segmentations/999", 404, "segmentation 999 is not in the archive"),
    ("/api/segmentations/{seg}/planes/plane9/state", 404, "plane9"),
    ("/api/segmentations/{seg}/planes/plane9/state?version=1-1", 404, "plane9"),
    ("/api/segmentations/{seg}/planes/plane0/images/nope.png", 404, "has no 'nope' image"),
    ("/api/segmentations/{seg}/planes/plane0/rois/77/trace", 404, "has ROIs 0..4, not 77"),
    ("/api/segmentations/{seg}/planes/plane0/rois/1/trace?name=calcium", 404, "has no 'calcium' traces"),
    ("/api/segmentations/{seg}/planes/plane0/matching?where=snr%20%3E", 400, "cannot read the ROI filter"),
    ("/api/segmentations/{seg}/planes/plane0/state?policy=loudest", 400, "loudest"),
    ("/static/../catalog.sqlite", 404, None),
    ("/api/segmentations/{seg}/planes/..%2F..%2Fetc/state", 404, None),
])
def test_what_a_page_can_get_wrong_is_one_line_and_nothing_outside_the_archive_is_served(served, path, status,
                                                                                        message):
    _, record, url, _ = served
    response = CLIENT.get(url + path.format(seg=record.segmentation_id))
    assert response.status_code == status, response.text
    if message is not None:
        text = response.json()["error"] if path.startswith("/api/") else response.text
        assert message in text


def test_serve_refuses_to_listen_beyond_this_machine(capsys):
    assert main(["serve", "--host", "0.0.0.0", "-a", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 would let anyone who reaches this machine label ROIs as you" in err


def test_a_tag_goes_through_the_curation_store_and_an_open_page_and_the_filter_see_it(served):
    archive, record, url, token = served
    seg = record.segmentation_id
    plane = f"{url}/api/segmentations/{seg}/planes/plane0"
    seen = CLIENT.get(f"{plane}/state").json()["version"]
    assert CLIENT.post(f"{plane}/tags", json={"key": 2, "tag": "L2/3"}).status_code == 400
    stored = CLIENT.post(f"{plane}/tags", json={"key": 2, "tag": "L2/3", "note": "deep"},
                         headers={"X-SegDB-Token": token})
    assert stored.status_code == 200 and (stored.json()["label"], stored.json()["tag"]) == ("tagged", "L2/3")
    changed = CLIENT.get(f"{plane}/state", params={"version": seen}).json()["changed"]
    assert changed == [{"key": 2, "label": "accepted", "revision": 2, "tags": ["L2/3"]}]
    assert CLIENT.get(f"{plane}/matching", params={"where": "tag == 'L2/3'"}).json() == [2]
    view = CLIENT.get(plane).json()
    assert view["known_tags"] == ["L2/3"] and [r["tags"] for r in view["rois"]][1:3] == [[], ["L2/3"]]
    # A ROI's state is its label (kept up to date by polling), not a property read when the page opened.
    assert "accepted" not in view["properties"]
    history = CLIENT.get(f"{plane}/rois/2/history").json()
    assert (history[-1]["curator"], history[-1]["tag"], history[-1]["note"]) == ("alice", "L2/3", "deep")
    blank = CLIENT.post(f"{plane}/tags", json={"key": 2, "tag": " "}, headers={"X-SegDB-Token": token})
    assert blank.status_code == 400 and "tag" in blank.json()["error"]
    removed = CLIENT.post(f"{plane}/tags", json={"key": 2, "tag": "L2/3", "remove": True},
                          headers={"X-SegDB-Token": token})
    assert removed.json()["label"] == "untagged" and archive.roi_tags(seg, plane="plane0") == []
