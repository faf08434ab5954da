"""Helpers for tests that run the workflow: a fresh copy of it, and Snakemake itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# What a checkout needs to run the workflow (outputs and caches stay behind).
WORKFLOW_FILES = ("Snakefile", "config.yaml", "presets", "workflow", "profiles", "envs")


# Set by conftest for each test: "0" in a test not marked workflow (the fast subset).
WORKFLOW_ALLOWED = "IRNOISE_TEST_RUNS_SNAKEMAKE"


def snakemake_command(*args: str) -> list[str]:
    """Snakemake from the interpreter running the tests, so `irnoise` is on its PATH."""
    if os.environ.get(WORKFLOW_ALLOWED) == "0":
        raise AssertionError(
            "this test runs Snakemake: mark it @pytest.mark.workflow (the fast subset, "
            '-m "not workflow", runs no Snakemake)'
        )
    return [sys.executable, "-m", "snakemake", *args]


def copy_workflow(destination: Path) -> Path:
    """A fresh checkout-like copy of the workflow, without data or results."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        elif source.exists():
            shutil.copy2(source, destination / name)
    return destination


def run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    # The interpreter's own bin/ first, so that rules find this environment's `irnoise`.
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ.get('PATH', '')}")
    result = subprocess.run(
        snakemake_command(*args), cwd=workdir, env=env, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result
