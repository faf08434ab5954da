"""Shared by the GPU path check's parts: sizes, table rows, GPU memory, bench and test modules."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

# As `irnoise train` does, before torch loads OpenMP (see irnoise/commands/train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sizes:
    """How big each check is: the full GPU sizes, or the CPU self-test's."""

    smoke_targets: tuple[str, ...]
    smoke_cores: int
    backbone: str
    crop: int
    batch: int
    classes: int
    steps: int
    distinct_batches: int
    repeats: int
    compile_backend: str
    loader_waves: int
    loader_unique: int
    loader_image_size: int
    loader_crop: int
    loader_batch: int
    loader_workers: tuple[int, ...]
    cli_epochs: int
    knn_scale: float
    threads: int


GPU_SIZES = Sizes(
    smoke_targets=(),  # the preset's default target: every rule
    smoke_cores=16,
    backbone="resnet50",
    crop=224,
    batch=256,
    classes=11318,  # SOP's train classes
    steps=10,
    distinct_batches=4,
    repeats=4,
    compile_backend="inductor",
    loader_waves=8,
    loader_unique=256,
    loader_image_size=256,
    loader_crop=224,
    loader_batch=256,
    loader_workers=(8, 15),
    cli_epochs=3,  # the first is warm-up (cuDNN autotuning, the loader's start)
    knn_scale=1.0,
    threads=16,
)
SELF_TEST_SIZES = Sizes(
    smoke_targets=("results/runs/sop/clean/0/seed0/metrics.json",),
    smoke_cores=2,
    backbone="small_cnn",
    crop=32,
    batch=8,
    classes=20,
    steps=3,
    distinct_batches=2,
    repeats=2,
    compile_backend="eager",  # dynamo's tracing without inductor's minutes of codegen
    loader_waves=8,
    loader_unique=8,
    loader_image_size=48,
    loader_crop=32,
    loader_batch=16,
    loader_workers=(1, 2),
    cli_epochs=2,
    knn_scale=0.02,
    # One thread: no OpenMP barriers, which spin on a busy machine when torch was loaded
    # before OMP_WAIT_POLICY could be set (the unit test's process).
    threads=1,
)


@dataclass
class Row:
    """One line of the table."""

    check: str
    item: str
    value: float | str | None
    unit: str = ""
    peak_gpu_mib: float | None = None
    verdict: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.verdict.startswith("FAILED")


def repo_module(folder: str, name: str) -> ModuleType:
    """<folder>/<name>.py of this checkout, loaded by path: neither bench/ nor tests/ is a
    package, and sys.path stays as it is (their modules' names would shadow others')."""
    module_name = f"irnoise_{folder}_{name}"
    if module_name not in sys.modules:
        path = REPO / folder / f"{name}.py"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def bench_module(name: str) -> ModuleType:
    return repo_module("bench", name)


# The bare PyTorch loop every overhead figure compares with, and the test suite's
# workflow helpers (a fresh copy of the workflow, Snakemake from this interpreter).
baseline = bench_module("baseline")
workflow_helpers = repo_module("tests", "helpers")


# -- GPU memory ------------------------------------------------------------------------


class PeakMemory:
    """Peak GPU memory over a block: torch's allocator and, sampled, the whole device's.

    The device-wide figure (cudaMemGetInfo) sees faiss's and other processes' memory
    (the Snakemake jobs), which torch's allocator statistics do not.
    """

    def __init__(self, cuda: bool, interval: float = 0.1) -> None:
        self.cuda, self.interval = cuda, interval
        self.torch_mib: float | None = None
        self.device_mib: float | None = None

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = self._peak = device_used()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, device_used())

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, device_used())
            self.torch_mib = torch.cuda.max_memory_allocated() / 2**20
            self.device_mib = (self._peak - self._base) / 2**20

    @property
    def peak_mib(self) -> float | None:
        if not self.cuda:
            return None
        return max(self.torch_mib or 0.0, self.device_mib or 0.0)


def device_used() -> int:
    free, total = torch.cuda.mem_get_info()
    return total - free


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
