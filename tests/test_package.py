"""The package's public surface and what ships in the wheel (its layering: tests/test_layering.py)."""

from __future__ import annotations

from pathlib import Path

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
    from pathlib import Path

    import tomllib

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(root).parts)
        for path in (root / "segdb").rglob("__init__.py")
        if "__pycache__" not in path.parts
    }
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert "segdb._migrations" in listed


def test_python_started_beside_a_clone_named_segdb_imports_the_package(tmp_path):
    """README's install (an editable install in compat mode) puts the clone on Python's path, so an empty
    folder named segdb in the working directory (the clone itself, seen from its parent) does not win."""
    import subprocess
    import sys

    repository = Path(__file__).resolve().parents[1]
    (tmp_path / "segdb").symlink_to(repository, target_is_directory=True)
    result = subprocess.run([sys.executable, "-c", "import segdb; print(segdb.open.__name__)"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "open", (
        "segdb was imported as the clone's folder; install as README says "
        f"(pip install -e '.[test]' --config-settings editable_mode=compat): {result.stderr[-300:]}"
    )
