"""Fixtures shared by the test files: paths, and one real smoke run of the workflow.

The fast subset, `python -m pytest -m "not workflow"`, runs no Snakemake at all: a test
that reaches Snakemake (itself or through a fixture such as `smoke_run`) is marked
`workflow` here, and `helpers.snakemake_command` refuses to start Snakemake in a test
without the mark, so the subset cannot quietly grow a workflow run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import SHARED_DATA, WORKFLOW_ALLOWED, copy_workflow, run_snakemake

# Fixtures that run Snakemake: a test using one (directly or through another) is `workflow`.
WORKFLOW_FIXTURES = {"smoke_run", "user_run", "slurm_run"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if WORKFLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.workflow)


@pytest.fixture(autouse=True)
def _workflow_allowed(request: pytest.FixtureRequest):
    """Lets `snakemake_command` run only in tests marked workflow."""
    marked = request.node.get_closest_marker("workflow") is not None
    os.environ[WORKFLOW_ALLOWED] = "1" if marked else "0"
    yield
    os.environ.pop(WORKFLOW_ALLOWED, None)


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
