"""GPU path check, part 5: `irnoise train` end to end against the bare step, and under DDP.

The real CLI, in a process of its own, on the loader check's shards (reading, decoding,
cropping and the job's files included); its images/s come from its history.csv, epochs
after the first (cuDNN autotuning and the loader's start are warm-up). The bare step is
bench/baseline.py's loop on device-resident batches of the same shape, in this process.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

# As `irnoise train` does, before torch loads OpenMP (see irnoise/commands/train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

from gpu_common import REPO, PeakMemory, Row, Sizes
from gpu_compute import (
    LOADER_CLASSES,
    bare_step_loop,
    device_batches,
    loader_shards,
    timed_steps,
    train_config,
)

# `irnoise train` against the compute-only floor, as on the CPU (docs/performance.md).
END_TO_END_TARGET = 0.85
DDP_GPUS = 2


def cli_sizes(sizes: Sizes) -> Sizes:
    """The training check's sizes with the loader shards' batch, crop and classes."""
    return replace(sizes, batch=sizes.loader_batch, crop=sizes.loader_crop, classes=LOADER_CLASSES)


def cli_config(sizes: Sizes, gpus: int) -> str:
    """The train job's --config: the training check's network and loss, the shards' shape."""
    config = train_config(sizes).to_dict() | {
        "batch_size": sizes.loader_batch,
        "crop_size": sizes.loader_crop,
        "epochs": sizes.cli_epochs,
        "gpus": gpus,
    }
    return json.dumps(config)


def steady_history_rate(history: list[dict[str, str]]) -> float:
    """Median images/s of the epochs after the first (all ranks together under DDP)."""
    steady = [float(row["images_per_s"]) for row in history[1:]]
    if not steady:
        raise ValueError("history.csv needs two epochs: the first one is warm-up")
    return statistics.median(steady)


def run_train_cli(
    sizes: Sizes, shards: Path, out_dir: Path, gpus: int, cuda: bool
) -> tuple[float, float]:
    """(steady images/s from history.csv, wall seconds) of one `irnoise train`."""
    command = [sys.executable, "-m", "irnoise.cli", "train", "--shards", str(shards)]
    command += ["--config", cli_config(sizes, gpus), "--out-dir", str(out_dir)]
    command += ["--threads", str(sizes.threads)] + ([] if cuda else ["--allow-cpu"])
    # This checkout's package, whatever the installed one points at.
    path = os.pathsep.join(filter(None, [str(REPO / "workflow"), os.environ.get("PYTHONPATH")]))
    started = time.perf_counter()
    result = subprocess.run(
        command, env=dict(os.environ, PYTHONPATH=path), capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-8000:], sep="\n", file=sys.stderr)
        raise RuntimeError(f"irnoise train (gpus: {gpus}) exited {result.returncode}")
    with open(out_dir / "history.csv", newline="") as stream:
        return steady_history_rate(list(csv.DictReader(stream))), wall


def bare_rate(sizes: Sizes, device: torch.device) -> float:
    """Images/s of the bare loop on the same network, loss and batch shape (after 3 steps
    of warm-up)."""
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as `irnoise train` does
    run = bare_step_loop(sizes, device, compiled=False)
    batches = device_batches(sizes, device)
    run(batches[: min(3, len(batches))])
    return sizes.batch / timed_steps(run, batches, device)


def end_to_end_verdict(ratio: float, cuda: bool) -> str:
    if not cuda:
        return "self-test sizes: not a measurement"
    if ratio >= END_TO_END_TARGET:
        return f"ok (>= {END_TO_END_TARGET}x)"
    return f"under {END_TO_END_TARGET}x: the loader or the job's overhead holds the GPU back"


def ddp_row(sizes: Sizes, shards: Path, scratch: Path, cuda: bool, one_gpu: float) -> Row:
    """`irnoise train` with gpus: 2 (torchrun, DDP) against gpus: 1, or why it is skipped."""
    item = f"irnoise train, gpus: {DDP_GPUS} (DDP) / gpus: 1"
    found = torch.cuda.device_count() if cuda else 0
    if found < DDP_GPUS:
        return Row("cli", item, f"skipped: needs {DDP_GPUS} GPUs", verdict=f"{found} here")
    with PeakMemory(cuda) as memory:
        rate, wall = run_train_cli(sizes, shards, scratch / "ddp", DDP_GPUS, cuda)
    return Row(
        "cli",
        item,
        rate / one_gpu,
        "ratio",
        memory.peak_mib,
        f"{rate:,.0f} images/s on {DDP_GPUS} GPUs (ideal {DDP_GPUS:.2f}x)",
        {"images_per_s": rate, "one_gpu_images_per_s": one_gpu, "wall_s": wall},
    )


def check_cli(sizes: Sizes, device: torch.device, scratch: Path) -> list[Row]:
    cuda = device.type == "cuda"
    shards = loader_shards(sizes, scratch / "loader")
    sizes = cli_sizes(sizes)
    with PeakMemory(cuda) as memory:
        rate, wall = run_train_cli(sizes, shards, scratch / "cli", 1, cuda)
    bare = bare_rate(sizes, device)
    if cuda:
        torch.cuda.empty_cache()
    end_to_end = Row(
        "cli",
        "irnoise train end to end / bare step, gpus: 1",
        rate / bare,
        "ratio",
        memory.peak_mib,
        f"{rate:,.0f} vs {bare:,.0f} images/s; " + end_to_end_verdict(rate / bare, cuda),
        {"images_per_s": rate, "bare_images_per_s": bare, "wall_s": wall},
    )
    return [end_to_end, ddp_row(sizes, shards, scratch, cuda, rate)]
