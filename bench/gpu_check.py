"""GPU path check: every CUDA code path of irnoise in one command, one table (JSON too).

    python bench/gpu_check.py [--out bench/out/gpu_check.json] [--only smoke,train,...]

On a machine with one GPU and 16 cores it takes about 5-8 minutes and measures:

1. smoke: the smoke preset through Snakemake with `gpus: 1` (a derived config file written
   to a temporary directory; the preset is not edited), after the same preset with
   `gpus: 0` in the same directory (shards and labels shared, training and evaluation
   rerun): every rule succeeds, train and evaluate ran on CUDA (their logs and
   metrics.json say so), and each metric is within 0.1 of the CPU run's;
2. train: ResNet-50, 224 px, batch 256, bf16 autocast, channels_last, ArcFace over
   11,318 classes: images/s of irnoise's `run_epoch` against the bare PyTorch loop of
   bench/baseline.py on the same device-resident tensors (the ratio of
   bench/train_step.py), without and with torch.compile, interleaved ABBA;
3. loader: irnoise's shard loader at 224 px crops, batch 256, with 8 and 15 workers,
   batches moved to the GPU and normalized there, against the GPU's consumption rate
   from (2): is the loader the bottleneck?
4. knn: R@1 on 60,502 x 512 embeddings (bench/eval.py's data, SOP test class sizes),
   leave-one-out, with faiss on the GPU against the CPU index (same value expected); when
   this faiss has no GPU support, the table says so, and torch's matmul + top-1 on the
   GPU serves as the GPU reference (it runs in any case);
5. the peak GPU memory of each (torch's allocator peak; for faiss and the Snakemake jobs,
   the device-wide memory in use sampled every 0.1 s, above what it was before).

Without CUDA (or with --self-test) it says so and runs a CPU-sized self-test instead:
tiny sizes, every code path but the CUDA calls (torch.compile with the "eager" backend,
one Snakemake target), and exits 0 when every check passes (tests/test_gpu_check.py).

faiss on the GPU needs the GPU build installed instead of faiss-cpu (README, "GPU nodes").
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

# As `irnoise train` does, before torch loads OpenMP (see irnoise/commands/train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import yaml

from irnoise.config import Training
from irnoise.data import loader
from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.data.sharding import write_shards
from irnoise.evaluate import faiss_build, knn
from irnoise.train.loop import run_epoch
from irnoise.train.runtime import Runtime, wrap_for_training
from irnoise.train.trainee import Trainee

REPO = Path(__file__).resolve().parents[1]

CHECKS = ("smoke", "train", "loader", "knn")
# "Same range" for a smoke metric: bf16 on the GPU vs float32 on the CPU after 2 epochs
# of a tiny model; chance-level differences between seeds are ~0.03-0.05 there.
SMOKE_TOLERANCE = 0.1


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
    loader_images: int
    loader_unique: int
    loader_image_size: int
    loader_crop: int
    loader_batch: int
    loader_workers: tuple[int, ...]
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
    loader_images=7680,
    loader_unique=256,
    loader_image_size=256,
    loader_crop=224,
    loader_batch=256,
    loader_workers=(8, 15),
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
    loader_images=96,
    loader_unique=8,
    loader_image_size=48,
    loader_crop=32,
    loader_batch=16,
    loader_workers=(1, 2),
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


# -- 1. the smoke preset through Snakemake ---------------------------------------------


def smoke_config(gpus: int, path: Path) -> Path:
    """presets/smoke.yaml with every experiment's `gpus` set, written to `path`."""
    config = yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text())
    for experiment in config["experiments"].values():
        experiment["gpus"] = gpus
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
        status, seconds = timed_snakemake(workdir, smoke_config(1, scratch / "c1.yaml"), sizes, log)
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


# -- 2. the training step ---------------------------------------------------------------


def train_config(sizes: Sizes) -> Training:
    return Training.from_mapping(
        {
            "backbone": sizes.backbone,
            "embedding_size": 512,
            "loss": "ArcFaceLoss",
            "loss_params": {"scale": 64, "margin": 28.6},
            "lr": 0.01,
        }
    )


def device_batches(sizes: Sizes, device: torch.device) -> list[tuple[torch.Tensor, ...]]:
    """`steps` batches cycling over a few distinct ones, already on the device (channels_last
    there, as the loop puts them), so that both loops time the step alone."""
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    made = baseline.random_batches(sizes.distinct_batches, sizes.batch, sizes.crop, sizes.classes)
    distinct = [
        (images.to(device, memory_format=memory_format), labels.to(device), rows)
        for images, labels, rows in made
    ]
    return [distinct[step % len(distinct)] for step in range(sizes.steps)]


def setup_training(sizes: Sizes, device: torch.device):
    """(model, loss, optimizer) with the same initial weights every time."""
    cuda = device.type == "cuda"
    return baseline.fresh_training(train_config(sizes), sizes.classes, device, channels_last=cuda)


def bare_step_loop(sizes: Sizes, device: torch.device, compiled: bool) -> Callable[[list], None]:
    """bench/baseline.py's bare loop: bf16 autocast around the network (on CUDA), loss in
    float32."""
    model, loss_fn, optimizer = setup_training(sizes, device)
    network = torch.compile(model, backend=sizes.compile_backend) if compiled else model
    cuda = device.type == "cuda"

    def run(batches: list) -> None:
        baseline.bare_steps(network, loss_fn, optimizer, batches, bf16=cuda)

    return run


def irnoise_step_loop(sizes: Sizes, device: torch.device, compiled: bool) -> Callable[[list], None]:
    """irnoise's `run_epoch` over the module `irnoise train` builds (wrap_for_training)."""
    model, loss, optimizer = setup_training(sizes, device)
    runtime = Runtime(device)
    if runtime.cuda:
        trainee = wrap_for_training(
            model, loss, replace(train_config(sizes), compile=compiled), runtime
        )
    else:  # wrap_for_training compiles on CUDA only: the self-test's stand-in
        network = torch.compile(model, backend=sizes.compile_backend) if compiled else model
        trainee = Trainee(network, loss)
    trainee.train()
    clean = torch.randint(0, sizes.classes, (sizes.distinct_batches * sizes.batch,))

    def run(batches: list) -> None:
        run_epoch(trainee, optimizer, loss, batches, clean, runtime, epoch=1)

    return run


def timed_steps(run: Callable[[list], None], batches: list, device: torch.device) -> float:
    """Seconds per step of one pass over `batches`."""
    synchronize(device)
    started = time.perf_counter()
    run(batches)
    synchronize(device)
    return (time.perf_counter() - started) / len(batches)


def check_train(sizes: Sizes, device: torch.device) -> tuple[list[Row], float]:
    """Rows, and the GPU's consumption rate (irnoise's best images/s) for the loader check."""
    cuda = device.type == "cuda"
    torch.backends.cudnn.benchmark = cuda  # as irnoise's setup_runtime does on CUDA
    batches = device_batches(sizes, device)
    rows, best = [], 0.0
    for compiled in (False, True):
        label = f"compile ({sizes.compile_backend})" if compiled else "eager"
        loops = {"bare": bare_step_loop, "irnoise": irnoise_step_loop}
        runs = {name: make(sizes, device, compiled) for name, make in loops.items()}
        times: dict[str, list[float]] = {name: [] for name in runs}
        peaks: dict[str, float | None] = dict.fromkeys(runs)
        for name, run in runs.items():  # warm-up: compilation, cuDNN autotuning, allocator
            started = time.perf_counter()
            run(batches[: min(3, len(batches))])
            synchronize(device)
            times[name + " warm-up"] = [time.perf_counter() - started]
        for repeat in range(sizes.repeats):  # ABBA: whatever favours one position hits both
            order = list(runs) if repeat % 2 == 0 else list(runs)[::-1]
            for name in order:
                with PeakMemory(cuda) as memory:
                    times[name].append(timed_steps(runs[name], batches, device))
                peaks[name] = max(peaks[name] or 0.0, memory.peak_mib or 0.0) if cuda else None
        bare, ours = statistics.median(times["bare"]), statistics.median(times["irnoise"])
        best = max(best, sizes.batch / ours)
        numbers = {"times_s_per_step": times, "batch": sizes.batch}
        rows.append(
            Row(
                "train",
                f"bare PyTorch loop, {label}",
                sizes.batch / bare,
                "images/s",
                peaks["bare"],
                numbers=numbers,
            )
        )
        rows.append(
            Row(
                "train",
                f"irnoise run_epoch, {label}",
                sizes.batch / ours,
                "images/s",
                peaks["irnoise"],
            )
        )
        rows.append(
            Row(
                "train",
                f"irnoise overhead, {label}",
                ours / bare - 1,
                "",
                verdict=overhead_verdict(ours / bare, cuda),
            )
        )
        del runs
    return rows, best


def overhead_verdict(ratio: float, cuda: bool) -> str:
    if not cuda:
        return "self-test sizes: not a measurement"
    return "ok (<= +10%)" if ratio <= 1.10 else "over the +10% target"


# -- 3. the input pipeline ----------------------------------------------------------------


def loader_shards(sizes: Sizes, scratch: Path) -> Path:
    """Shards of `loader_images` photo-like JPEGs (a few distinct ones, repeated)."""
    photo_like = bench_module("loader").photo_like
    folder, shards = scratch / "jpegs", scratch / "shards"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(sizes.loader_unique):
        paths.append(folder / f"{i:04d}.jpg")
        photo_like(rng, sizes.loader_image_size).save(paths[-1], quality=90)
    records = [
        Record(f"{i:06d}", paths[i % len(paths)], f"class{i % 50:02d}")
        for i in range(sizes.loader_images)
    ]
    # Twice as many shards as the most workers: every worker has shards to read.
    shard_size = max(1, sizes.loader_images // (2 * max(sizes.loader_workers)))
    write_shards(
        DatasetIndex("gpucheck", folder, {"train": records}),
        shards,
        image_size=sizes.loader_image_size,
        shard_size=shard_size,
    )
    return shards


def loader_rate(sizes: Sizes, shards: Path, workers: int, device: torch.device) -> float:
    """Images/s of one epoch on the device, from the first batch on (workers' start left out)."""
    labels = np.load(shards / "train_labels.npy")
    cuda = device.type == "cuda"
    batches = loader.train_loader(
        shards,
        labels,
        sizes.loader_crop,
        sizes.loader_batch,
        workers,
        seed=0,
        epoch=1,
        pin_memory=cuda,
        device=device,
    )
    first, images, started = True, 0, 0.0
    for batch in batches:
        if first:
            synchronize(device)
            first, started = False, time.perf_counter()
        else:
            images += len(batch[0])
    synchronize(device)
    return images / (time.perf_counter() - started)


def check_loader(sizes: Sizes, device: torch.device, scratch: Path, gpu_rate: float) -> list[Row]:
    shards = loader_shards(sizes, scratch / "loader")
    rows = []
    for workers in sizes.loader_workers:
        with PeakMemory(device.type == "cuda") as memory:
            rate = loader_rate(sizes, shards, workers, device)
        rows.append(
            Row(
                "loader",
                f"{workers} workers, {sizes.loader_crop} px",
                rate,
                "images/s",
                memory.peak_mib,
                bottleneck_verdict(rate, gpu_rate),
                {"gpu_rate": gpu_rate if gpu_rate > 0 else None},  # JSON has no NaN
            )
        )
    return rows


def bottleneck_verdict(rate: float, gpu_rate: float) -> str:
    """The loader's rate against the training step's (irnoise's best, from check 2)."""
    if not gpu_rate > 0:
        return "no training rate to compare (train check not run)"
    ratio = rate / gpu_rate
    where = "not the bottleneck" if ratio >= 1 else "the loader is the bottleneck"
    return f"{ratio:.2f}x the training step's rate: {where}"


# -- 4. R@1 on the GPU and the CPU ---------------------------------------------------------


def faiss_r_at_1(embeddings: np.ndarray, labels: np.ndarray, use_gpu: bool) -> float:
    """Leave-one-out R@1 through irnoise's FlatIndex on the chosen device."""
    index = knn.FlatIndex(embeddings, use_gpu=use_gpu)
    hits = 0
    for part in knn.iter_neighbors(embeddings, 1, index=index):
        rows = np.arange(part.start, part.start + len(part.ids))
        hits += int((labels[part.ids[:, 0]] == labels[rows]).sum())
    return hits / len(labels)


def torch_r_at_1(embeddings: np.ndarray, labels: np.ndarray, device: torch.device) -> float:
    """The reference: float32 matmul and top-1 in torch, self excluded by row, ties to the
    lowest index (argmax's first maximum), as irnoise orders them."""
    vectors = torch.from_numpy(embeddings).to(device)
    targets = torch.from_numpy(labels).to(device)
    hits = 0
    for start in range(0, len(vectors), 8192):
        scores = vectors[start : start + 8192] @ vectors.T
        rows = torch.arange(start, start + len(scores), device=device)
        scores[rows - start, rows] = -math.inf
        hits += int((targets[scores.argmax(dim=1)] == targets[rows]).sum())
    synchronize(device)
    return hits / len(labels)


def check_knn(sizes: Sizes, device: torch.device) -> list[Row]:
    data = bench_module("eval").data  # SOP test class sizes, mid-range R@1
    cuda = device.type == "cuda"
    embeddings, labels = data(sizes.knn_scale)
    shape = f"{embeddings.shape[0]:,} x {embeddings.shape[1]}"
    candidates: dict[str, Callable[[], float]] = {
        "faiss CPU index": lambda: faiss_r_at_1(embeddings, labels, use_gpu=False),
    }
    if knn.gpu_available():
        candidates["faiss GPU index"] = lambda: faiss_r_at_1(embeddings, labels, use_gpu=True)
    candidates[f"torch matmul top-1 ({device.type})"] = lambda: torch_r_at_1(
        embeddings, labels, device
    )
    rows, values = [], {}
    for name, compute in candidates.items():
        with PeakMemory(cuda and "CPU" not in name) as memory:
            started = time.perf_counter()
            values[name] = compute()
            seconds = time.perf_counter() - started
        rows.append(
            Row(
                "knn",
                f"R@1 {shape}, {name}",
                values[name],
                "",
                memory.peak_mib,
                f"{seconds:.2f} s",
                {"seconds": seconds},
            )
        )
    reference = values["faiss CPU index"]
    for row in rows[1:]:
        same = row.value == reference
        row.verdict += (
            ", same value as the CPU index"
            if same
            else (f", FAILED: differs from the CPU index by {row.value - reference:+.2e}")
        )
    if not knn.gpu_available():
        rows.insert(0, Row("knn", "faiss GPU index", "not available", verdict=no_gpu_faiss()))
    return rows


def no_gpu_faiss() -> str:
    try:
        info = faiss_build.build_info()
    except Exception as error:  # two builds installed: the check's own message says which
        return str(error)
    return (
        f"{info['distribution']} {info['version']} has no GPU support "
        f"(gpu_build={info['gpu_build']}): torch is the GPU reference"
    )


# -- the table ------------------------------------------------------------------------------


def machine(cuda: bool) -> str:
    cpu_machine = bench_module("eval").machine
    gpu = f"{torch.cuda.get_device_name(0)}, " if cuda else "no CUDA, "
    return gpu + cpu_machine()


def versions(cuda: bool) -> dict[str, Any]:
    import faiss

    found: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "faiss": faiss.__version__,
    }
    try:
        found["faiss_build"] = faiss_build.build_info()
    except Exception as error:  # reported, not fatal: the check goes on with what it has
        found["faiss_build"] = str(error)
    return found


def formatted(value: float | str | None, unit: str) -> str:
    if isinstance(value, float):
        if unit == "images/s":
            return f"{value:,.0f} images/s"
        if unit == "s":
            return f"{value:.1f} s"
        return f"{value:+.1%}" if "overhead" in unit else f"{value:.6f}"
    return "" if value is None else str(value)


def table(rows: Iterable[Row]) -> str:
    lines = [
        "| check | what | value | peak GPU MiB | verdict |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for row in rows:
        unit = "overhead" if row.item.startswith("irnoise overhead") else row.unit
        peak = "" if row.peak_gpu_mib is None else f"{row.peak_gpu_mib:,.0f}"
        lines.append(
            f"| {row.check} | {row.item} | {formatted(row.value, unit)} | {peak} | {row.verdict} |"
        )
    return "\n".join(lines)


@contextmanager
def section(name: str, rows: list[Row]) -> Iterator[None]:
    """Run one check; a crash becomes a FAILED row and the other checks still run."""
    started = time.perf_counter()
    print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
    try:
        yield
    except Exception as error:
        import traceback

        traceback.print_exc()
        rows.append(Row(name, "crashed", None, verdict=f"FAILED: {type(error).__name__}: {error}"))
    print(
        f"gpu_check: {name} done in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def run_checks(
    sizes: Sizes,
    device: torch.device,
    only: set[str],
    scratch: Path,
    smoke_reference: Path | None = None,
) -> list[Row]:
    rows: list[Row] = []
    cuda = device.type == "cuda"
    if "smoke" in only:
        with section("smoke", rows):
            rows += check_smoke(sizes, cuda, scratch, smoke_reference)
    gpu_rate = math.nan
    if "train" in only:
        with section("train", rows):
            train_rows, gpu_rate = check_train(sizes, device)
            rows += train_rows
        if cuda:
            torch.cuda.empty_cache()
    if "loader" in only:
        with section("loader", rows):
            rows += check_loader(sizes, device, scratch, gpu_rate)
    if "knn" in only:
        with section("knn", rows):
            rows += check_knn(sizes, device)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "gpu_check.json")
    parser.add_argument("--only", default=",".join(CHECKS), help="comma-separated checks")
    parser.add_argument("--self-test", action="store_true", help="CPU sizes, even with CUDA")
    parser.add_argument(
        "--smoke-reference",
        type=Path,
        help="a finished smoke-preset run directory (gpus: 0) to compare with, not rerun",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if unknown := only - set(CHECKS):
        parser.error(f"unknown checks {sorted(unknown)}: choose from {', '.join(CHECKS)}")
    cuda = torch.cuda.is_available() and not args.self_test
    if not cuda:
        reason = "--self-test" if args.self_test else "CUDA is not available"
        print(
            f"gpu_check: {reason}: running the CPU-sized self-test (tiny sizes, every code "
            "path but the CUDA calls); no GPU figure is measured",
            flush=True,
        )
    sizes = GPU_SIZES if cuda else SELF_TEST_SIZES
    device = torch.device("cuda" if cuda else "cpu")
    torch.set_num_threads(sizes.threads)
    knn.set_threads(sizes.threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="irnoise-gpu-check-") as scratch:
        rows = run_checks(sizes, device, only, Path(scratch), args.smoke_reference)
    seconds = time.perf_counter() - started
    report = {
        "mode": "gpu" if cuda else "cpu self-test",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(cuda),
        "versions": versions(cuda),
        "sizes": asdict(sizes),
        "seconds": seconds,
        "rows": [asdict(row) for row in rows],
        "failed": sum(row.failed for row in rows),
    }
    print(f"\n{report['mode']}, {report['machine']}, {report['date']}, {seconds:.0f} s")
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from irnoise.atomic import write_json

    write_json(args.out, report)
    print(f"\nwritten: {args.out}")
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
