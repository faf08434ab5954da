"""What the package imports is declared: every third-party module imported anywhere in
workflow/irnoise (function-local imports included) belongs to a distribution listed in
pyproject.toml's [project] dependencies, so `pip install .` gives a working package."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from helpers import REPO

tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")

PACKAGE = REPO / "workflow" / "irnoise"


def normalized(distribution: str) -> str:
    """A distribution name as PEP 503 compares them (PyYAML = pyyaml, faiss_cpu = faiss-cpu)."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def declared_distributions() -> set[str]:
    """The names in [project] dependencies, without versions, markers or extras."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {
        normalized(re.match(r"[A-Za-z0-9._-]+", r.strip()).group()) for r in project["dependencies"]
    }


def top_level_imports(path: Path) -> set[str]:
    """Top-level names of the absolute imports in one module, at any level of nesting."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def third_party_imports() -> dict[str, list[str]]:
    """Third-party top-level module -> the package files importing it."""
    importers: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in top_level_imports(path):
            if name not in sys.stdlib_module_names and name != "irnoise":
                importers.setdefault(name, []).append(str(path.relative_to(REPO)))
    return importers


def undeclared(
    importers: Mapping[str, Iterable[str]],
    declared: set[str],
    distributions: Mapping[str, list[str]],
) -> list[str]:
    """One line per imported module that no declared distribution provides."""
    problems = []
    for module, files in sorted(importers.items()):
        providers = {normalized(d) for d in distributions.get(module, [])}
        if not providers:
            problems.append(f"{module} (in {', '.join(files)}): not installed, no distribution")
        elif not providers & declared:
            problems.append(
                f"{module} (in {', '.join(files)}): add {' or '.join(sorted(providers))} to "
                "[project] dependencies in pyproject.toml"
            )
    return problems


def test_every_imported_distribution_is_a_declared_dependency():
    distributions = importlib.metadata.packages_distributions()
    problems = undeclared(third_party_imports(), declared_distributions(), distributions)
    assert not problems, "imported but not declared:\n" + "\n".join(problems)


def test_a_missing_declaration_is_reported():
    declared = declared_distributions() - {"scipy"}
    problems = undeclared(third_party_imports(), declared, {"scipy": ["scipy"]})
    expected = "scipy (in workflow/irnoise/report/bootstrap.py): add scipy"
    assert any(line.startswith(expected) for line in problems), problems
