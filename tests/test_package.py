"""The package's public surface and what ships in the wheel (its layering: tests/test_layering.py)."""

from __future__ import annotations

import segdb


def test_public_names_resolve():
    for name in segdb.__all__:
        assert getattr(segdb, name) is not None


def test_unknown_attribute_is_an_attribute_error():
    try:
        segdb.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("segdb.no_such_name should not exist")


def test_every_subpackage_ships_in_the_wheel():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(root).parts)
        for path in (root / "segdb").rglob("__init__.py")
        if "__pycache__" not in path.parts
    }
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert "segdb._migrations" in listed
