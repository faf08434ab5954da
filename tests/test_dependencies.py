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
    scipy = [line for line in problems if line.startswith("scipy (in ")]
    assert len(scipy) == 1 and "workflow/irnoise/report/bootstrap.py" in scipy[0], problems
    assert scipy[0].endswith("add scipy to [project] dependencies in pyproject.toml") or (
        ": add scipy" in scipy[0]
    ), scipy


# --- the conda envs of the jobs (envs/*.yaml) ---------------------------------------
#
# The jobs under `--software-deployment-method conda` install irnoise with --no-deps
# (envs/install-irnoise.sh), so each env file must hold every dependency of pyproject.toml
# itself. Where conda-forge names a distribution differently, the alternatives are listed
# (an env picks the CPU or the CUDA build).
CONDA_NAMES = {
    "matplotlib": {"matplotlib-base", "matplotlib"},
    "torch": {"pytorch-cpu", "pytorch-gpu", "pytorch"},
    "faiss-cpu": {"faiss-cpu", "faiss-gpu", "faiss"},
}
# Not imported by the package (tests above): the tool that runs the jobs, not one they run.
NOT_IN_JOB_ENVS = {"snakemake"}
ENVS = sorted((REPO / "envs").glob("*.yaml"))


def declared_requirements() -> dict[str, str]:
    """Distribution -> its version specifier in [project] dependencies ('>=1.24')."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = {}
    for line in project["dependencies"]:
        match = re.match(r"([A-Za-z0-9._-]+)(?:\[[^]]*\])?\s*([^;]*)", line.strip())
        requirements[normalized(match.group(1))] = match.group(2).replace(" ", "")
    return requirements


def env_packages(text: str) -> dict[str, str]:
    """Conda package -> its version specifier in an env file's dependencies."""
    import yaml

    packages = {}
    for entry in yaml.safe_load(text)["dependencies"]:
        if isinstance(entry, str):
            match = re.match(r"([A-Za-z0-9._-]+)\s*(.*)", entry.strip())
            packages[normalized(match.group(1))] = match.group(2).replace(" ", "")
    return packages


def env_gaps(requirements: Mapping[str, str], packages: Mapping[str, str]) -> list[str]:
    """One line per pyproject dependency that an env lacks, or bounds differently."""
    problems = []
    for distribution, specifier in sorted(requirements.items()):
        if distribution in NOT_IN_JOB_ENVS:
            continue
        names = CONDA_NAMES.get(distribution, {distribution})
        present = sorted(name for name in names if name in packages)
        if not present:
            problems.append(f"{distribution}: missing; add `- {min(names)} {specifier}`")
        elif packages[present[0]] != specifier:
            problems.append(
                f"{present[0]}: {packages[present[0]] or 'no bound'} here, "
                f"{specifier} in pyproject.toml"
            )
    return problems


@pytest.mark.parametrize("env", ENVS, ids=[path.stem for path in ENVS])
def test_every_env_holds_every_declared_dependency(env: Path):
    problems = env_gaps(declared_requirements(), env_packages(env.read_text()))
    assert not problems, f"{env.relative_to(REPO)} vs pyproject.toml:\n" + "\n".join(problems)


def test_every_imported_module_is_in_every_env():
    """The chain the two tests above make, checked end to end for the modules imported."""
    distributions = importlib.metadata.packages_distributions()
    declared = declared_requirements()
    for env in ENVS:
        packages = env_packages(env.read_text())
        for module, files in sorted(third_party_imports().items()):
            providers = {normalized(d) for d in distributions.get(module, [])} & set(declared)
            conda = set().union(*(CONDA_NAMES.get(d, {d}) for d in providers))
            assert conda & set(packages), f"{module} (in {files[0]}) is not in {env.name}"


def test_a_package_missing_from_an_env_is_reported():
    packages = env_packages((REPO / "envs" / "gpu.yaml").read_text())
    packages.pop("simplejpeg", None)
    problems = env_gaps(declared_requirements(), packages)
    assert "simplejpeg: missing; add `- simplejpeg >=1.7`" in problems, problems
