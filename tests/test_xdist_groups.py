"""The suite's xdist groups take effect: tests/run.sh runs `pytest -n 2 --dist loadgroup`
so that the tests sharing an expensive fixture (the smoke run, the Slurm run, the
calibration run) run on one worker and pay for it once. A pytest or pytest-xdist that
silently stops grouping (pytest 9.2 did) would double those fixtures' time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GROUPED = """
import os
import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.mark.parametrize("case", range(4))
def test_reports_its_worker(case):
    print("WORKER", os.environ["PYTEST_XDIST_WORKER"])
"""
UNGROUPED = """
def test_a():
    pass


def test_b():
    pass
"""


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "test_ungrouped.py").write_text(UNGROUPED)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-s",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    grouped = [line for line in result.stdout.splitlines() if "test_grouped.py" in line]
    workers = {line.split("]")[0] for line in grouped if line.startswith("[gw")}
    assert len(grouped) >= 4 and all("@shared" in line for line in grouped), result.stdout
    assert len(workers) == 1, f"the group ran on {sorted(workers)}"
