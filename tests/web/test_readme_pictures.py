"""The pictures README shows of `segdb serve`, taken in a real browser on what `segdb demo` builds: a
segmentation being curated by two people, and one cell tracked across six sessions. The tests check what
the pictures must show; README's copies (docs/images/) are these screenshots, committed."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from segdb import open as open_archive
from segdb.cli import main

from .conftest import running_server
from .test_browser import SCREENSHOTS, _list_label, _open, _screenshot, _wait

README = Path(__file__).resolve().parents[2] / "README.md"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme") / "demo-archive"
    assert main(["demo", str(folder)]) == 0
    return open_archive(folder)


def test_the_curation_page_readme_shows(demo, browser_factory):
    archive = demo
    record = archive.segmentations(subject="m12")[0]
    seg = record.segmentation_id
    keys = list(archive.plane_handle(seg, "plane0").roi_keys)
    archive.curate(seg, keys[:12], "accepted", plane="plane0", curator="bob")
    archive.curate(seg, keys[12:15], "rejected", plane="plane0", curator="bob", note="neuropil, not a cell")
    archive.curate(seg, keys[2:4], "unsure", plane="plane0", curator="carol")
    with running_server(archive, curator="alice") as url:
        driver = browser_factory()
        _open(driver, f"{url}/segmentations/{seg}?plane=plane0&policy=latest")
        _wait(driver, lambda d: d.execute_script("return document.getElementById('fov') !== null"))
        driver.find_element(By.CSS_SELECTOR, '#rois tr[data-index="2"]').click()
        _wait(driver, lambda d: d.execute_script(
            "const t = document.getElementById('trace-plot').trace; return t && t.min.length > 100"))
        _wait(driver, lambda d: "carol" in d.find_element(By.ID, "history").text)
        assert _list_label(driver, 2) == "unsure" and _list_label(driver, 13) == "rejected"
        _screenshot(driver, "readme-curation.png")


def test_the_track_page_readme_shows(demo, browser_factory):
    archive = demo
    run = archive.matching_runs("m40")[0]
    track = archive.tracks(run.matching_run_id, min_sessions=run.num_sessions)[0]
    with running_server(archive, curator="alice") as url:
        driver = browser_factory()
        _open(driver, f"{url}/tracks/{track}")
        _wait(driver, lambda d: d.execute_script(
            "return [...document.querySelectorAll('.crop img')].every((i) => i.complete && i.naturalWidth > 0)"))
        assert len(driver.find_elements(By.CSS_SELECTOR, ".crop")) == run.num_sessions
        _screenshot(driver, "readme-track.png")


@pytest.mark.parametrize("name", ["readme-curation.png", "readme-track.png"])
def test_readme_shows_the_screenshots_the_tests_take(name):
    committed = IMAGES / name
    assert committed.is_file(), f"copy {SCREENSHOTS / name} to {committed}"
    assert f"docs/images/{name}" in README.read_text()
