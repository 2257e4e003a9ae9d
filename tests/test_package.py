"""The package's public surface and its layering."""

from __future__ import annotations

import subprocess
import sys

import segdb


def _imports(statement: str, prefixes: tuple[str, ...]) -> bool:
    code = f"import sys; {statement}; print(any(m.startswith({prefixes!r}) for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip() == "True"


def test_public_names_resolve():
    for name in segdb.__all__:
        assert getattr(segdb, name) is not None


def test_masks_import_no_sql():
    assert not _imports("import segdb.masks", ("sqlalchemy", "segdb.catalog", "segdb.archive"))


def test_catalog_and_arrays_do_not_import_each_other():
    assert not _imports("import segdb.catalog.models, segdb.catalog.engine, segdb.catalog.schema", ("segdb.arrays",))
    assert not _imports("import segdb.arrays", ("segdb.catalog", "sqlalchemy"))
    assert _imports("import segdb.archive", ("segdb.catalog",)), "the check itself must be able to fail"


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
