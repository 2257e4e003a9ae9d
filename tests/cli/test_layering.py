"""The command line starts fast and stays above the archive: no SQL, no catalog, nothing heavy to parse."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import segdb.archive.admin
import segdb.cli

HEAVY = ("roiextractors", "pynwb", "h5py", "numpy", "scipy", "sqlalchemy", "alembic", "segdb.catalog",
         "segdb.archive", "segdb.api")


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name for name in result.stdout.split() if name.startswith(HEAVY)}


def _imported_names(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_building_the_parser_imports_nothing_heavy():
    assert _modules_loaded_by("import segdb.cli; segdb.cli.build_parser().parse_args(['ls', 'subjects'])") == set()
    assert "sqlalchemy" in _modules_loaded_by("import segdb.archive"), "the check itself must be able to fail"


def test_no_command_module_imports_the_catalog_or_sql():
    package = Path(segdb.cli.__file__).parent
    offending = {
        path.name: sorted(n for n in _imported_names(path) if n.startswith(("segdb.catalog", "sqlalchemy")))
        for path in package.glob("*.py")
    }
    assert {name: found for name, found in offending.items() if found} == {}
    admin = _imported_names(Path(segdb.archive.admin.__file__))
    assert "segdb.catalog.engine" in admin, "the check itself must be able to fail"
