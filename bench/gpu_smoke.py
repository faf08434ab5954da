"""GPU path check, part 1: the smoke preset through Snakemake on the GPU against the CPU."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

# As `irnoise train` does, before torch loads OpenMP (see irnoise/commands/train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import yaml

from gpu_common import REPO, PeakMemory, Row, Sizes, workflow_helpers

# "Same range" for a smoke metric: bf16 on the GPU vs float32 on the CPU after 2 epochs
# of a tiny model; chance-level differences between seeds are ~0.03-0.05 there.
SMOKE_TOLERANCE = 0.1

# -- 1. the smoke preset through Snakemake ---------------------------------------------


def smoke_config(gpus: int, path: Path, allow_cpu: bool = False) -> Path:
    """presets/smoke.yaml with every experiment's `gpus` set, written to `path`;
    `allow_cpu` for the CPU self-test, where a GPU experiment would otherwise stop."""
    config = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())
    for experiment in config["experiments"].values():
        experiment["gpus"] = gpus
        experiment["allow_cpu"] = allow_cpu
    config = {key: value for key, value in config.items() if not key.startswith("x-")}
    path.write_text(yaml.safe_dump(config, sort_keys=True))
    return path


def timed_snakemake(workdir: Path, config: Path, sizes: Sizes, log: Path) -> tuple[int, float]:
    """(exit status, seconds) of one Snakemake run; its output (stdout, then stderr) goes
    to `log`."""
    arguments = [*sizes.smoke_targets, "--cores", str(sizes.smoke_cores)]
    arguments += ["--configfile", str(config)]
    started = time.perf_counter()
    result = workflow_helpers.run_snakemake(workdir, *arguments, check=False)
    seconds = time.perf_counter() - started
    log.write_text(result.stdout + result.stderr)
    return result.returncode, seconds


def collect_metrics(workdir: Path) -> dict[str, dict[str, Any]]:
    """Every run's metrics.json under results/runs, by run path."""
    runs = workdir / "results" / "runs"
    return {
        str(path.parent.relative_to(runs)): json.loads(path.read_text())
        for path in sorted(runs.glob("**/metrics.json"))
    }


def train_devices(workdir: Path) -> list[str]:
    """The device each training job's log names ("irnoise train: cuda, 1 process(es)...")."""
    devices = []
    for path in sorted((workdir / "logs" / "train").glob("**/*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("irnoise train: ") and "process(es)" in line:
                devices.append(line.removeprefix("irnoise train: ").split(",")[0])
    return devices


def largest_difference(
    cpu: dict[str, dict[str, Any]], gpu: dict[str, dict[str, Any]]
) -> tuple[float, str]:
    """(largest |gpu - cpu| over every metric of every run, which one)."""
    worst, where = 0.0, ""
    for run, result in gpu.items():
        for name, value in result["metrics"].items():
            reference = cpu.get(run, {}).get("metrics", {}).get(name)
            if value is None or reference is None:
                continue
            if abs(value - reference) >= worst:
                worst, where = abs(value - reference), f"{run} {name}"
    return worst, where


def copy_workflow(workdir: Path, reference: Path | None) -> None:
    """This checkout's workflow files, or a finished smoke run's whole directory."""
    if reference is not None:
        shutil.copytree(reference, workdir, symlinks=True)
    else:
        workflow_helpers.copy_workflow(workdir)


def log_verdict(status: int, log: Path) -> str:
    """ "ok", or FAILED with the end of the Snakemake log (the scratch directory goes away)."""
    if status == 0:
        return "ok"
    tail = log.read_text(errors="replace").splitlines()[-40:]
    print(
        f"gpu_check: Snakemake failed ({status}); end of {log.name}:",
        *tail,
        sep="\n",
        file=sys.stderr,
    )
    return f"FAILED: Snakemake exit {status} (log tail on stderr)"


def check_smoke(sizes: Sizes, cuda: bool, scratch: Path, reference: Path | None) -> list[Row]:
    """`reference`: a finished smoke run with gpus: 0 to compare with instead of running one
    (its shards are reused too)."""
    workdir = scratch / "smoke"
    copy_workflow(workdir, reference)
    rows = []
    if reference is None:
        log = scratch / "smoke_cpu.log"
        status, seconds = timed_snakemake(workdir, smoke_config(0, scratch / "c0.yaml"), sizes, log)
        rows.append(
            Row("smoke", "gpus: 0 (CPU reference)", seconds, "s", verdict=log_verdict(status, log))
        )
    else:
        rows.append(Row("smoke", "gpus: 0 (CPU reference)", str(reference)))
    cpu_metrics = collect_metrics(workdir)
    # Shards and label files stay; runs and logs go. The run directories' checkpoints would
    # otherwise be resumed (`gpus` is a resumable change) and the GPU would train 0 epochs.
    for name in ("results", "logs"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    log = scratch / "smoke_gpu.log"
    with PeakMemory(cuda) as memory:
        status, seconds = timed_snakemake(
            workdir, smoke_config(1, scratch / "c1.yaml", allow_cpu=not cuda), sizes, log
        )
    gpu_metrics = collect_metrics(workdir)
    run_verdict = log_verdict(status, log)
    if run_verdict == "ok" and not (gpu_metrics and gpu_metrics.keys() <= cpu_metrics.keys()):
        run_verdict = f"FAILED: runs {sorted(gpu_metrics)} vs CPU runs {sorted(cpu_metrics)}"
    cpu_metrics = {run: cpu_metrics[run] for run in gpu_metrics if run in cpu_metrics}
    rows.append(
        Row(
            "smoke",
            "gpus: 1, every rule",
            seconds,
            "s",
            memory.peak_mib,
            run_verdict,
            {"runs": len(gpu_metrics)},
        )
    )
    expected = "cuda" if cuda else "cpu"
    trained = train_devices(workdir)
    evaluated = [result["device"] for result in gpu_metrics.values()]
    searched = [result.get("faiss", {}).get("device", "?") for result in gpu_metrics.values()]
    for item, devices in (("train jobs' device", trained), ("evaluate jobs' device", evaluated)):
        on = sum(device.startswith(expected) for device in devices)
        verdict = "ok" if devices and on == len(devices) else f"FAILED: {sorted(set(devices))}"
        rows.append(Row("smoke", item, f"{on}/{len(devices)} on {expected}", verdict=verdict))
    rows.append(Row("smoke", "evaluate jobs' faiss index", ", ".join(sorted(set(searched)))))
    difference, where = largest_difference(cpu_metrics, gpu_metrics)
    in_range = run_verdict == "ok" and difference <= SMOKE_TOLERANCE
    rows.append(
        Row(
            "smoke",
            "largest |metric(gpus 1) - metric(gpus 0)|",
            difference,
            "",
            verdict=("ok" if in_range else "FAILED") + f" (<= {SMOKE_TOLERANCE}; {where})",
            numbers={"cpu": cpu_metrics, "gpu": gpu_metrics},
        )
    )
    return rows
