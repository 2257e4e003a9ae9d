"""`segdb serve` in a real browser (Chromium through chromedriver), on SQLite and PostgreSQL: open a
segmentation, click a ROI on the image, see its trace, label it with the keyboard and find the label in
the curation history; two curators, a conflict shown to the second; a page left open shows others' labels;
a lab server's curator logs in through the form and labels as themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from segdb.synthetic import synthetic_segmentation
from segdb.web.users import add_user

from .conftest import running_server

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@pytest.fixture
def segmented(archive):
    source = synthetic_segmentation(n_rois=8, n_frames=400, seed=7, frame_shape=(96, 96))
    source.set_property("snr", np.linspace(1, 8, 8), source.get_roi_ids())
    record = archive.ingest(source, subject="m1", session="s1", progress=False)
    return archive, record


def _wait(driver, condition, seconds=15):
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: condition(d))


def _open(driver, url):
    driver.get(url)
    _wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")


def _click_roi(driver, index):
    """Click the middle of ROI ``index`` on the field-of-view canvas, as a curator would."""
    canvas = driver.find_element(By.ID, "fov")
    row, col, height, width = driver.execute_script(
        f"const r = view.rois[{index}]; return [r.centre[0], r.centre[1], view.height, view.width];")
    size = canvas.size
    x = (col + 0.5) / width * size["width"] - size["width"] / 2
    y = (row + 0.5) / height * size["height"] - size["height"] / 2
    ActionChains(driver).move_to_element_with_offset(canvas, int(x), int(y)).click().perform()


def _press(driver, key):
    ActionChains(driver).send_keys(key).perform()


def _message(driver):
    return driver.execute_script("return document.getElementById('message').innerText")


def _list_label(driver, index):
    return driver.execute_script(
        f"const cell = document.querySelector('#rois tr[data-index=\"{index}\"] .label'); return cell && cell.innerText")


def _screenshot(driver, name):
    SCREENSHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / name))


def test_click_a_roi_see_its_trace_and_label_it_with_the_keyboard(segmented, browser_factory):
    archive, record = segmented
    seg = record.segmentation_id
    with running_server(archive, curator="alice") as url:
        driver = browser_factory()
        _open(driver, f"{url}/")
        link = driver.find_element(By.CSS_SELECTOR, "a.segmentation")
        assert link.text == record.name
        link.click()
        _wait(driver, lambda d: d.find_elements(By.ID, "fov"))
        _click_roi(driver, 2)
        key = archive.plane_handle(seg, "plane0").roi_keys[2]
        _wait(driver, lambda d: d.find_element(By.ID, "roi-title").text == f"ROI {key}")
        samples = _wait(driver, lambda d: d.execute_script(
            "const t = document.getElementById('trace-plot').trace; return t && t.min.length"))
        assert samples >= 300
        assert driver.execute_script("return document.getElementById('trace-plot').shown") == ["raw", "neuropil"]
        _press(driver, "a")
        _wait(driver, lambda d: f"ROI {key}: accepted (revision" in _message(d))
        last = archive.curation_history(seg, key, plane="plane0")[-1]
        assert (last.curator, last.label) == ("alice", "accepted")
        assert _wait(driver, lambda d: _list_label(d, 2) == "accepted")
        history = driver.find_element(By.ID, "history").text
        assert "alice" in history and "accepted" in history
        _press(driver, Keys.ARROW_DOWN)
        _wait(driver, lambda d: d.find_element(By.ID, "roi-title").text == f"ROI {archive.plane_handle(seg, 'plane0').roi_keys[3]}")
        _press(driver, "z")
        _wait(driver, lambda d: "undone: 1 label(s) taken back" in _message(d))
        assert archive.curation_history(seg, key, plane="plane0")[-1].label == "cleared"
        _screenshot(driver, f"segmentation-{archive.catalog.dialect}.png")


def test_two_curators_a_conflict_is_shown_and_an_open_page_sees_the_others_label(segmented, browser_factory):
    archive, record = segmented
    seg = record.segmentation_id
    key = archive.plane_handle(seg, "plane0").roi_keys[1]
    # Bob's page asks for news only every 10 minutes, so that his label meets alice's unseen.
    with running_server(archive, curator="alice", poll_seconds=0.5) as alice_url, \
            running_server(archive, curator="bob", poll_seconds=600) as bob_url:
        alice, bob = browser_factory(), browser_factory()
        _open(bob, f"{bob_url}/segmentations/{seg}")
        _click_roi(bob, 1)
        _wait(bob, lambda d: d.find_element(By.ID, "roi-title").text == f"ROI {key}")
        _open(alice, f"{alice_url}/segmentations/{seg}")
        _click_roi(alice, 1)
        _wait(alice, lambda d: d.find_element(By.ID, "roi-title").text == f"ROI {key}")
        _press(alice, "r")
        _wait(alice, lambda d: "rejected (revision" in _message(d))
        _press(bob, "a")
        _wait(bob, lambda d: "alice labelled ROI" in _message(d))
        assert f"alice labelled ROI {key} rejected since you looked" in _message(bob)
        assert archive.curation_history(seg, key, plane="plane0")[-1].curator == "alice"
        _screenshot(bob, f"conflict-{archive.catalog.dialect}.png")
        bob.find_element(By.XPATH, "//button[starts-with(text(), 'Label it accepted anyway')]").click()
        _wait(bob, lambda d: "accepted (revision" in _message(d))
        last = archive.curation_history(seg, key, plane="plane0")[-1]
        assert (last.curator, last.label) == ("bob", "accepted")
        # Alice's page, left open, shows bob's label without a reload.
        _wait(alice, lambda d: _list_label(d, 1) == "accepted", seconds=10)


def test_the_filter_box_takes_the_where_language(segmented, browser_factory):
    archive, record = segmented
    with running_server(archive, curator="alice") as url:
        driver = browser_factory()
        _open(driver, f"{url}/segmentations/{record.segmentation_id}")
        box = driver.find_element(By.ID, "where")
        box.send_keys("snr > 4", Keys.ENTER)
        _wait(driver, lambda d: d.find_element(By.ID, "matching").text == "4 of 8 ROIs match")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#rois tr.filtered-out")) == 4
        box.clear()
        box.send_keys("snr >", Keys.ENTER)
        _wait(driver, lambda d: "cannot read the ROI filter" in _message(d))


def test_a_lab_curator_logs_in_through_the_form_and_labels_as_themselves(segmented, browser_factory, tmp_path):
    archive, record = segmented
    seg = record.segmentation_id
    users = tmp_path / "users.toml"
    add_user(users, "carol", "carol-password")
    with running_server(archive, users=users) as url:
        driver = browser_factory()
        _open(driver, f"{url}/segmentations/{seg}")
        assert driver.current_url == f"{url}/login?next=/segmentations/{seg}"
        driver.find_element(By.ID, "name").send_keys("carol")
        driver.find_element(By.ID, "password").send_keys("not-carols", Keys.ENTER)
        _wait(driver, lambda d: d.find_elements(By.ID, "login-message"))
        assert driver.find_element(By.ID, "login-message").text == "Unknown curator name or wrong password."
        _screenshot(driver, f"login-refused-{archive.catalog.dialect}.png")
        driver.find_element(By.ID, "name").send_keys("carol")
        driver.find_element(By.ID, "password").send_keys("carol-password", Keys.ENTER)
        _wait(driver, lambda d: d.find_elements(By.ID, "fov"))
        assert driver.current_url == f"{url}/segmentations/{seg}"
        assert driver.find_element(By.ID, "curator").text == "carol"
        _click_roi(driver, 4)
        key = archive.plane_handle(seg, "plane0").roi_keys[4]
        _wait(driver, lambda d: d.find_element(By.ID, "roi-title").text == f"ROI {key}")
        _press(driver, "r")
        _wait(driver, lambda d: f"ROI {key}: rejected (revision" in _message(d))
        last = archive.curation_history(seg, key, plane="plane0")[-1]
        assert (last.curator, last.label) == ("carol", "rejected")
        _wait(driver, lambda d: "carol" in d.find_element(By.ID, "history").text)
        _screenshot(driver, f"lab-login-{archive.catalog.dialect}.png")
        driver.find_element(By.ID, "logout").click()
        _wait(driver, lambda d: d.find_elements(By.ID, "password"))
        _open(driver, f"{url}/")
        assert driver.current_url == f"{url}/login?next=/"


@pytest.fixture(autouse=True, scope="module")
def _fresh_screenshots():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    yield


def test_a_curator_tags_a_roi_with_the_keyboard_and_filters_by_the_tag(segmented, browser_factory):
    archive, record = segmented
    seg = record.segmentation_id
    key = archive.plane_handle(seg, "plane0").roi_keys[4]
    with running_server(archive, curator="alice") as url:
        driver = browser_factory()
        _open(driver, f"{url}/segmentations/{seg}")
        _click_roi(driver, 4)
        _wait(driver, lambda d: d.find_element(By.ID, "roi-title").text == f"ROI {key}")
        _press(driver, "t")
        _press(driver, "L2/3")
        _press(driver, Keys.ENTER)
        _wait(driver, lambda d: f"ROI {key}: tagged L2/3" in _message(d))
        _wait(driver, lambda d: d.find_element(By.ID, "tag-list").text.startswith("L2/3"))
        assert [(t.roi, t.tags) for t in archive.roi_tags(seg, plane="plane0")] == [(key, ("L2/3",))]
        assert "tagged L2/3" in driver.find_element(By.ID, "history").text
        # The keys typed into the tag box labelled nothing.
        assert archive.curation_history(seg, key, plane="plane0")[-1].label == "tagged"
        box = driver.find_element(By.ID, "where")
        box.send_keys("tag == 'L2/3'", Keys.ENTER)
        _wait(driver, lambda d: d.find_element(By.ID, "matching").text == "1 of 8 ROIs match")
        _screenshot(driver, f"tags-{archive.catalog.dialect}.png")
        driver.find_element(By.CSS_SELECTOR, "#tag-list .tag button").click()
        _wait(driver, lambda d: "untagged L2/3" in _message(d))
        assert archive.roi_tags(seg, plane="plane0") == []


def test_the_rois_a_filter_shows_are_labelled_in_one_batch(segmented, browser_factory):
    archive, record = segmented
    seg = record.segmentation_id
    keys = archive.plane_handle(seg, "plane0").roi_keys
    with running_server(archive, curator="alice") as url:
        driver = browser_factory()
        _open(driver, f"{url}/segmentations/{seg}")
        assert not driver.find_element(By.ID, "label-matching").is_displayed()
        driver.find_element(By.ID, "where").send_keys("snr > 5", Keys.ENTER)
        _wait(driver, lambda d: d.find_element(By.ID, "matching").text == "3 of 8 ROIs match")
        driver.find_element(By.CSS_SELECTOR, '#label-matching button[data-many="rejected"]').click()
        _wait(driver, lambda d: "3 ROIs: rejected" in _message(d))
        assert [_list_label(driver, i) for i in range(8)] == ["accepted"] * 5 + ["rejected"] * 3
        batches = {archive.curation_history(seg, key, plane="plane0")[-1].batch_id for key in keys[5:]}
        assert len(batches) == 1
        # Someone labels one of them meanwhile: the next labelling of all three is refused whole.
        archive.curate(seg, [keys[6]], "unsure", plane="plane0", curator="bob")
        driver.find_element(By.CSS_SELECTOR, '#label-matching button[data-many="accepted"]').click()
        _wait(driver, lambda d: "since you looked" in _message(d))
        assert [archive.curation_history(seg, key, plane="plane0")[-1].curator for key in keys[5:]] == \
            ["alice", "bob", "alice"]
        _press(driver, "z")
        _wait(driver, lambda d: "undone: 3 label(s) taken back" in _message(d))
