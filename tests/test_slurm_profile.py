"""profiles/slurm through the real snakemake-executor-plugin-slurm, without a cluster.

The paper preset (one seed, one noise level: every rule and every experiment of the
study, Table 3 and Table 4, and a user's dataset's detection) runs with fake Slurm
commands first on PATH (tests/fake_slurm.py): sbatch records its arguments and creates the
job's outputs, squeue and sacct report the jobs done. Every submission line is checked
against what the job declares (Snakemake's dry run): partition, GPUs, CPUs, time, memory,
requeue. The same profile on a real single-node Slurm: tests/test_slurm.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

import fake_slurm
from helpers import REPO, copy_workflow, run_snakemake, snakemake_command

pytestmark = [pytest.mark.workflow]

# Outputs the run asks for: the default target (tables, figures, Table 4), Table 3, and a
# user's dataset's suspicious labels.
TARGETS = ("all", "results/table3.csv", "results/detect/sop/suspicious.csv")
# Rules whose output is a directory (the fake sbatch creates a folder, not a file).
DIRECTORY_RULES = {"synth", "shard"}
# The rules that ask for a GPU (the experiments' gpus: 1).
GPU_RULES = {
    "train",
    "train_method",
    "train_subcenter",
    "evaluate",
    "evaluate_method",
    "detect_run",
    "detect_dataset",
}


@dataclass
class PlannedJob:
    """A job of Snakemake's dry run: what the profile must turn into an sbatch line."""

    rule: str
    wildcards: dict[str, str]
    outputs: list[str]
    benchmark: str | None = None
    threads: int = 1
    resources: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return fake_slurm.job_key(self.rule, self.wildcards)


def paper_subset(workdir: Path) -> Path:
    """The paper preset on one seed and one noise level (the grid's shape, not its size)."""
    preset = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())
    preset["seeds"] = [0]
    preset["noise"]["levels"] = [0.1]
    path = workdir / "paper_subset.yaml"
    path.write_text(yaml.safe_dump(preset))
    return path


def local_rules() -> list[str]:
    """The Snakefile's localrules: they run where Snakemake runs, never through sbatch."""
    block = re.search(r"^localrules:\n((?:\s+\w+,\n)+)", (REPO / "Snakefile").read_text(), re.M)
    return re.findall(r"(\w+),", block.group(1))


def planned_jobs(dry_run: str) -> list[PlannedJob]:
    """The jobs of a dry run's output (`rule x:` blocks), local rules left out."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:\n)", dry_run)[1:]:
        lines = dict(line.strip().split(": ", 1) for line in block.splitlines()[1:] if ": " in line)
        pairs = lines.get("wildcards", "")
        resources = lines.get("resources", "")
        jobs.append(
            PlannedJob(
                rule=re.match(r"rule (\w+):", block).group(1),
                wildcards=dict(p.split("=", 1) for p in pairs.split(", ") if p),
                outputs=lines["output"].split(", "),
                benchmark=lines.get("benchmark"),
                threads=int(lines.get("threads", 1)),
                resources=dict(r.split("=", 1) for r in resources.split(", ") if r),
            )
        )
    return jobs


def created(job: PlannedJob) -> dict:
    """What the fake sbatch creates for a job: its outputs, and its benchmark file."""
    directories = job.outputs if job.rule in DIRECTORY_RULES else []
    files = [] if directories else list(job.outputs)
    return {
        "rule": job.rule,
        "directories": directories,
        "files": files + ([job.benchmark] if job.benchmark else []),
    }


@dataclass
class ClusterRun:
    jobs: dict[str, PlannedJob]  # by fake_slurm.job_key
    submissions: dict[str, list[str]]  # sbatch's argv by the job's key
    calls: list[dict]  # every fake Slurm command called
    log: str


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory: pytest.TempPathFactory) -> ClusterRun:
    base = tmp_path_factory.mktemp("fake_slurm")
    workdir = copy_workflow(base / "wf")
    config = paper_subset(workdir)
    omitted = ["--omit-from", *local_rules()]
    # As many cores as any rule asks for: a cluster job's threads are not capped by this machine.
    dry = run_snakemake(
        workdir, "-n", "--cores", "1024", "--configfile", str(config), *omitted, "--", *TARGETS
    )
    jobs = {job.key: job for job in planned_jobs(dry.stdout)}
    outputs = {key: created(job) for key, job in jobs.items()}
    bin_dir = fake_slurm.install(base / "slurm", outputs)
    command = snakemake_command(
        "--profile", "profiles/slurm",
        "--configfile", str(config),
        *omitted,
        # Poll at once: the fake jobs are done when sbatch returns.
        "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "1",
        "--latency-wait", "1",
        "--", *TARGETS,
    )  # fmt: skip
    path = f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    result = subprocess.run(
        command,
        cwd=workdir,
        env=dict(os.environ, PATH=path),
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-8000:]
    calls = [json.loads(line) for line in (bin_dir / "calls.jsonl").read_text().splitlines()]
    submissions = {}
    for call in calls:
        if call["command"] == "sbatch":
            wrap = next(arg for arg in call["argv"] if arg.startswith("--wrap="))
            submissions[fake_slurm.target_key(wrap.removeprefix("--wrap="))] = call["argv"]
    return ClusterRun(jobs, submissions, calls, log)


def options(argv: list[str]) -> dict[str, str]:
    """sbatch's options, name -> value ('--gpus=1', '-p gpu' alike), the wrapped job left out."""
    found = {}
    for index, arg in enumerate(argv):
        if arg.startswith("--wrap="):
            continue
        if "=" in arg and arg.startswith("--"):
            name, value = arg.split("=", 1)
            found[name] = value
        elif arg.startswith("-"):
            following = argv[index + 1] if index + 1 < len(argv) else ""
            found[arg] = "" if following.startswith("-") else following
    return found


def test_every_job_is_submitted_once(cluster_run: ClusterRun) -> None:
    submitted = [c for c in cluster_run.calls if c["command"] == "sbatch"]
    assert len(submitted) == len(cluster_run.submissions), "a job was submitted twice"
    assert set(cluster_run.submissions) == set(cluster_run.jobs)
    rules = {job.rule for job in cluster_run.jobs.values()}
    assert rules >= GPU_RULES | {"shard", "noise", "subcenter_mask"}, rules


def test_every_gpu_rule_goes_to_the_gpu_partition_with_cpus_per_gpu(
    cluster_run: ClusterRun,
) -> None:
    """Decided by the job's `gpu` resource, whatever the rule: no rule is listed."""
    gpu_rules = set()
    for key, argv in cluster_run.submissions.items():
        job = cluster_run.jobs[key]
        given = options(argv)
        gpus = int(job.resources.get("gpu", 0))
        line = shlex.join(argv)[:400]
        if gpus:
            gpu_rules.add(job.rule)
            assert given.get("-p") == "gpu", line
            assert given.get("--gpus") == str(gpus), line
            assert given.get("--cpus-per-gpu") == "8", line
            assert "--cpus-per-task" not in given, line
        else:
            assert given.get("-p") == "cpu", line
            assert "--gpus" not in given and "--gres" not in given, line
            assert given.get("--cpus-per-task") == str(job.threads), line
    assert gpu_rules == GPU_RULES


def test_every_job_asks_for_its_time_and_memory(cluster_run: ClusterRun) -> None:
    for key, argv in cluster_run.submissions.items():
        job, given = cluster_run.jobs[key], options(argv)
        assert given.get("-t") == job.resources["runtime"], (key, given)
        assert given.get("--mem") == job.resources["mem_mb"], (key, given)
    trainings = [k for k, job in cluster_run.jobs.items() if job.rule == "train"]
    assert {options(cluster_run.submissions[k])["-t"] for k in trainings} == {"720"}


def test_every_job_is_requeueable_and_appends_its_slurm_log(cluster_run: ClusterRun) -> None:
    """Preempted or on a failed node, Slurm requeues the job under the same id (the plugin
    2.x waits for it); its Slurm log, %j.log, is then appended to, not truncated."""
    for key, argv in cluster_run.submissions.items():
        given = options(argv)
        assert "--requeue" in given, key
        assert given.get("--open-mode") == "append", key
        assert given["--output"].endswith("%j.log"), key


def test_one_failed_job_does_not_stop_the_campaign() -> None:
    """Before: without keep-going, the first failed job of the grid stopped every other."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["keep-going"] is True
    assert profile["retries"] >= 1 and profile["slurm-requeue"] is True
