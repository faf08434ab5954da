"""Fixtures shared by the test files: paths, and one real smoke run of the workflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import SHARED_DATA, copy_workflow, run_snakemake


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real annotation files not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke preset run once, end to end, through real Snakemake; do not modify it."""
    workdir = copy_workflow(tmp_path_factory.mktemp("smoke"))
    run_snakemake(workdir, "--cores", "2", "--configfile", "presets/smoke.yaml")
    return workdir
