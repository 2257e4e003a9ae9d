"""Rules of DESIGN.md's one-way flow that the import-linter contracts in pyproject.toml cannot state.

The contracts themselves (layers, SQL-free arrays and masks, no synthetic data in readers, an
acyclic archive) are checked by `lint-imports` in CI.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Only the command line and the demo (what a user runs) may use the package root's names.
MAY_IMPORT_THE_ROOT = ("segdb.cli", "segdb.demo")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("segdb", cache_dir=None)


def test_lower_layers_never_import_the_package_root(graph):
    importers = graph.find_modules_that_directly_import("segdb")
    offenders = sorted(m for m in importers if not m.startswith(MAY_IMPORT_THE_ROOT))
    assert offenders == [], f"these modules import the segdb package root: {offenders}"
    assert "segdb.demo" in importers, "the check must see a real importer of the root"


def _modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted((ROOT / "segdb").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, ast.parse(path.read_text(), str(path))))
    return found


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_package_imports_another_packages_private_names():
    offenders = []
    for module, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("segdb"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private and _package(node.module) != _package(module):
                    offenders.append(f"{module} imports {private} from {node.module}")
    assert offenders == []


def test_migrations_import_only_alembic_sqlalchemy_and_the_catalog():
    allowed = ("alembic", "sqlalchemy", "segdb.catalog")
    scripts = sorted((ROOT / "migrations").rglob("*.py"))
    assert len(scripts) > 3
    offenders = []
    for path in scripts:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [
                f"{path.name}: {n}"
                for n in names
                if not n.startswith(allowed) and n.split(".")[0] not in sys.stdlib_module_names
            ]
    assert offenders == []
