"""Stored paths stay relative, POSIX and inside the storage root."""

from __future__ import annotations

from pathlib import Path

import pytest

from segdb.arrays import check_relative_path, resolve_in_root
from segdb.errors import IntegrityError


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("plane_0.h5", "plane_0.h5"),
        ("seg_000012/plane_0.h5", "seg_000012/plane_0.h5"),
        ("./seg/./plane.h5", "seg/plane.h5"),
        ("seg//plane.h5", "seg/plane.h5"),
        ("seg/plane.h5/", "seg/plane.h5"),
    ],
)
def test_check_relative_path_returns_normal_form(given: str, normal: str) -> None:
    assert check_relative_path(given) == normal


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "empty"),
        (".", "storage root itself"),
        ("/etc/passwd", "absolute"),
        ("../outside.h5", "'..'"),
        ("seg/../../outside.h5", "'..'"),
        ("seg\\plane.h5", "backslash"),
        ("C:/data/plane.h5", "drive"),
        ("c:plane.h5", "drive"),
        ("seg/pla\x00ne.h5", "NUL"),
    ],
)
def test_check_relative_path_refuses_and_names_path_and_reason(given: str, reason: str) -> None:
    with pytest.raises(IntegrityError) as caught:
        check_relative_path(given)
    assert repr(given) in str(caught.value)
    assert reason in str(caught.value)


def test_check_relative_path_refuses_non_strings() -> None:
    with pytest.raises(IntegrityError, match="PosixPath"):
        check_relative_path(Path("seg/plane.h5"))  # type: ignore[arg-type]


def test_resolve_in_root_joins_inside_root(root: Path) -> None:
    assert resolve_in_root(root, "seg/plane.h5") == root.resolve() / "seg" / "plane.h5"


@pytest.mark.parametrize("given", ["/etc/passwd", "../x.h5", "a\\..\\..\\x.h5"])
def test_resolve_in_root_refuses_escaping_strings(root: Path, given: str) -> None:
    with pytest.raises(IntegrityError, match="refused"):
        resolve_in_root(root, given)


def test_resolve_in_root_refuses_symlink_escape(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(IntegrityError, match="outside the storage root") as caught:
        resolve_in_root(root, "link/plane.h5")
    assert "'link/plane.h5'" in str(caught.value)


def test_resolve_in_root_follows_symlinks_that_stay_inside(root: Path) -> None:
    (root / "real").mkdir()
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert resolve_in_root(root, "alias/plane.h5") == root.resolve() / "real" / "plane.h5"


def test_resolve_in_root_accepts_root_given_through_a_symlink(tmp_path: Path, root: Path) -> None:
    via_link = tmp_path / "root_link"
    via_link.symlink_to(root, target_is_directory=True)
    assert resolve_in_root(via_link, "plane.h5") == root.resolve() / "plane.h5"
