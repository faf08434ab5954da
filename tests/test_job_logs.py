"""Every attempt of a job keeps its log: Snakemake deletes a rule's log before each attempt
(a retry, or Slurm's requeue of a preempted job), so each attempt writes its own file beside
it, hard-linked as the rule's log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import copy_workflow, snakemake_command

pytestmark = [pytest.mark.workflow]

# `irnoise` first on PATH: the first time, it runs the real command, then fails as a
# preempted or killed job would; after that it is the real command.
FLAKY_IRNOISE = """#!/bin/sh
if [ ! -e "{marker}" ]; then
    touch "{marker}"
    "{irnoise}" "$@"
    echo "attempt 1: killed after the command ended" >&2
    exit 1
fi
exec "{irnoise}" "$@"
"""


def test_a_retried_jobs_log_keeps_every_attempt(tmp_path: Path) -> None:
    """Before: the second attempt's log replaced the first's, and the failure's cause was lost."""
    workdir = copy_workflow(tmp_path / "wf")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    irnoise = shutil.which("irnoise", path=str(Path(sys.executable).parent))
    flaky = bin_dir / "irnoise"
    flaky.write_text(FLAKY_IRNOISE.format(marker=tmp_path / "failed_once", irnoise=irnoise))
    flaky.chmod(0o755)
    command = snakemake_command(
        "--cores", "1", "--retries", "1", "--configfile", "presets/smoke.yaml", "--",
        "data/raw/synth_sop",
    )  # fmt: skip
    path = f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    result = subprocess.run(
        command, cwd=workdir, env=dict(os.environ, PATH=path), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-4000:]
    log = workdir / "logs" / "synth" / "synth_sop.log"
    attempts = sorted(log.parent.glob("synth_sop.log.*"), key=lambda path: path.stat().st_mtime)
    assert len(attempts) == 2, attempts
    first, second = (path.read_text() for path in attempts)
    assert "attempt 1: killed after the command ended" in first, first
    assert first.startswith("=== irnoise synth: started") and "train 300 images" in first
    assert second.startswith("=== irnoise synth: started") and "killed" not in second
    # The rule's log is the latest attempt's (what Snakemake shows of a failed job).
    assert log.samefile(attempts[1])
