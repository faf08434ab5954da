#!/usr/bin/env python3
"""A stand-in for Slurm's commands, for running the real snakemake-executor-plugin-slurm
without a cluster. Installed (by `install`) as sbatch, squeue, sacct, scontrol, sinfo,
sacctmgr and sshare in one folder put first on PATH; every call is recorded as a JSON
line (command, argv) in calls.jsonl beside it.

sbatch does not run the job: it creates the job's outputs and benchmark file, which it
looks up by the job's `--target-jobs` (rule and wildcards) in outputs.json beside it
(written by the test from Snakemake's dry run), and answers a new job id; squeue and
sacct report every submitted job COMPLETED, so Snakemake goes on to the jobs that need
those outputs.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
from pathlib import Path

COMMANDS = ("sbatch", "squeue", "sacct", "scontrol", "sinfo", "sacctmgr", "sshare")
HERE = Path(__file__).resolve().parent
CALLS = HERE / "calls.jsonl"
OUTPUTS = HERE / "outputs.json"
JOBS = HERE / "jobs.txt"
# The cluster the plugin asks about: its limits, and its partitions (default first).
CONFIG = "MinJobAge = 300 sec\nMaxArraySize = 1001\n"
PARTITIONS = "cpu*\ngpu\n"


def job_key(rule: str, wildcards: dict[str, str]) -> str:
    return rule + ":" + ",".join(f"{k}={v}" for k, v in sorted(wildcards.items()))


def target_key(wrapped: str) -> str:
    """The job a wrapped command runs: rule and wildcards of its --target-jobs."""
    argv = shlex.split(wrapped)
    rule, _, spec = argv[argv.index("--target-jobs") + 1].partition(":")
    return job_key(rule, dict(item.split("=", 1) for item in spec.split(",") if item))


def submit(argv: list[str]) -> str:
    wrap = next(arg for arg in argv if arg.startswith("--wrap="))
    workdir = Path(argv[argv.index("-D") + 1])
    job = json.loads(OUTPUTS.read_text())[target_key(wrap.removeprefix("--wrap="))]
    for path in job["directories"]:
        (workdir / path).mkdir(parents=True, exist_ok=True)
    for path in job["files"]:
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        (workdir / path).touch()
    # The plugin submits from two threads: a lock keeps the job ids unique.
    with JOBS.open("a+") as jobs:
        fcntl.flock(jobs, fcntl.LOCK_EX)
        jobs.write(f"{job['rule']}\n")
        jobs.flush()
        jobs.seek(0)
        return str(len(jobs.read().splitlines()))


def status() -> str:
    count = len(JOBS.read_text().splitlines()) if JOBS.exists() else 0
    return "".join(f"{job}|COMPLETED\n" for job in range(1, count + 1))


def answer(command: str, argv: list[str]) -> str:
    if command == "sbatch":
        return submit(argv) + "\n"
    if command in ("squeue", "sacct") and "--name" in argv:
        return status()
    if command == "scontrol" and argv[:2] == ["show", "config"]:
        return CONFIG
    if command == "sinfo":
        return PARTITIONS
    return ""


def install(folder: Path, outputs: dict[str, dict]) -> Path:
    """The fake commands in `folder`, and the jobs' outputs by job key."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "fake_slurm.py"
    script.write_text(f"#!{sys.executable}\n" + Path(__file__).read_text())
    script.chmod(0o755)
    for command in COMMANDS:
        (folder / command).symlink_to(script.name)
    (folder / "outputs.json").write_text(json.dumps(outputs))
    return folder


def main() -> None:
    command = Path(sys.argv[0]).name
    argv = sys.argv[1:]
    with CALLS.open("a") as calls:
        print(json.dumps({"command": command, "argv": argv, "cwd": os.getcwd()}), file=calls)
    sys.stdout.write(answer(command, argv))


if __name__ == "__main__":
    main()
