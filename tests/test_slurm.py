"""The smoke preset through profiles/slurm on a real single-node Slurm: every job goes
through sbatch, train jobs with their GPU request on the GPU partition, and the results
equal the local run's. Start the cluster first (as root):

    tests/slurm/start_slurm.sh && IRNOISE_SLURM=1 .venv/bin/pytest tests/test_slurm.py
    tests/slurm/stop_slurm.sh
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import REPO, copy_workflow, snakemake_command

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.workflow,
    pytest.mark.xdist_group("smoke"),
    pytest.mark.skipif(
        os.environ.get("IRNOISE_SLURM") != "1" or shutil.which("sbatch") is None,
        reason="needs the test Slurm: run tests/slurm/start_slurm.sh as root, then IRNOISE_SLURM=1",
    ),
]

# Snakemake calls `sbatch` through the shell; this one, first on PATH, records each call
# (argv and the job id Slurm answered) as a JSON line and passes everything through.
RECORDER = """#!{python}
import json, subprocess, sys
done = subprocess.run([{sbatch!r}, *sys.argv[1:]], capture_output=True, text=True)
with open({log!r}, "a") as log:
    print(json.dumps({{"argv": sys.argv[1:], "out": done.stdout.strip()}}), file=log)
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
sys.exit(done.returncode)
"""


def cluster_settings() -> list[str]:
    """The profile's default resources fitted to the 2-CPU test node (one CPU per GPU), the
    test cluster's partitions (tests/slurm/partitions.yaml: debug, gpu), and one GPU per
    train job.

    A --default-resources on the command line replaces the profile's whole list, so the
    profile's entries are passed again.
    """
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    defaults = profile["default-resources"] | {"cpus_per_gpu": 1}
    # The smoke preset trains on CPU (gpus: 0); asking Slurm for a GPU anyway exercises the
    # request without changing what is trained, so the results stay comparable.
    return [
        "--default-resources",
        *(f"{key}={value}" for key, value in defaults.items()),
        "--set-resources",
        "train:gpu=1",
        "--slurm-partition-config",
        str(REPO / "tests" / "slurm" / "partitions.yaml"),
    ]


@dataclass
class SlurmRun:
    workdir: Path
    calls: list[dict]  # the recorded sbatch calls
    log: str  # Snakemake's output


@pytest.fixture(scope="session")
def slurm_run(tmp_path_factory: pytest.TempPathFactory) -> SlurmRun:
    """The smoke preset run through Slurm."""
    base = tmp_path_factory.mktemp("slurm")
    workdir = copy_workflow(base / "wf")
    calls = base / "sbatch.jsonl"
    recorder = base / "bin" / "sbatch"
    recorder.parent.mkdir()
    recorder.write_text(
        RECORDER.format(python=sys.executable, sbatch=shutil.which("sbatch"), log=str(calls))
    )
    recorder.chmod(0o755)
    path = f"{recorder.parent}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    command = snakemake_command(
        "--profile", "profiles/slurm",
        "--configfile", "presets/smoke.yaml",
        # Rules' threads cannot exceed the node's CPUs; the local run had --cores 2.
        "--max-threads", "2",
        # Poll soon: the smoke jobs take seconds, not the 40 s the plugin waits by default.
        "--slurm-init-seconds-before-status-checks", "2",
        *cluster_settings(),
    )  # fmt: skip
    result = subprocess.run(
        command,
        cwd=workdir,
        env=dict(os.environ, PATH=path),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
    records = [json.loads(line) for line in calls.read_text().splitlines()]
    return SlurmRun(workdir, records, result.stdout + result.stderr)


def rule_of(call: dict) -> str:
    """The rule of an sbatch call: the plugin names it in --comment rule_<name>[_wildcards_...]."""
    comment = call["argv"][call["argv"].index("--comment") + 1]
    return re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", comment).group(1)


def submitted(run: SlurmRun, rule: str) -> list[dict]:
    return [call for call in run.calls if rule_of(call) == rule]


def test_every_job_went_through_sbatch(slurm_run: SlurmRun, smoke_run: Path) -> None:
    # Snakemake announces each job as "rule x:", or "localrule x:" when it runs it itself.
    announced = Counter(re.findall(r"^rule (\w+):$", slurm_run.log, flags=re.MULTILINE))
    assert Counter(rule_of(call) for call in slurm_run.calls) == announced
    runs = list(smoke_run.glob("results/runs/*/*/*/seed*/model.pt"))
    assert announced["train"] == announced["evaluate"] == len(runs) > 0
    assert all(re.fullmatch(r"\d+", call["out"]) for call in slurm_run.calls), "no job id"


def test_train_jobs_request_a_gpu_on_the_gpu_partition(slurm_run: SlurmRun) -> None:
    for record in submitted(slurm_run, "train"):
        command = " ".join(record["argv"])
        assert "--gpus=1" in command and "-p gpu" in command, command
        assert "--cpus-per-gpu=1" in command, command
        # What Slurm made of it: the job ran on the GPU partition holding one GPU.
        job = subprocess.run(
            ["scontrol", "show", "job", "-o", record["out"]], capture_output=True, text=True
        ).stdout
        assert "JobState=COMPLETED" in job and "Partition=gpu" in job, job
        assert re.search(r"TresPerJob=gres[:/]gpu[:=]1\b", job), job
    for record in submitted(slurm_run, "noise"):
        assert not any(arg.startswith("--gpus") for arg in record["argv"])


def test_results_equal_the_local_run(slurm_run: SlurmRun, smoke_run: Path) -> None:
    workdir = slurm_run.workdir
    labels = sorted(p.relative_to(smoke_run) for p in smoke_run.glob("data/**/*.npy"))
    assert labels, "the local run wrote no label files"
    for path in labels:
        np.testing.assert_array_equal(np.load(workdir / path), np.load(smoke_run / path))
    metrics = sorted(
        p.relative_to(smoke_run) for p in smoke_run.glob("results/runs/**/metrics.json")
    )
    for path in metrics:
        local = json.loads((smoke_run / path).read_text())
        cluster = json.loads((workdir / path).read_text())
        assert cluster["metrics"] == local["metrics"], path
        assert cluster["counts"] == local["counts"], path
    tables = ("metrics.csv", "table1.csv", "table2.csv", "findings.csv")
    for table in (f"results/{name}" for name in tables):
        assert (workdir / table).read_text() == (smoke_run / table).read_text(), table
