"""GPU path check, parts 2-4: the training step, the input pipeline, and R@1 on the GPU."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

# As `irnoise train` does, before torch loads OpenMP (see irnoise/commands/train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

from irnoise.config import Training
from irnoise.data import loader
from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.data.sharding import write_shards
from irnoise.evaluate import faiss_build, knn
from irnoise.train.loop import run_epoch
from irnoise.train.runtime import Runtime, wrap_for_training
from irnoise.train.trainee import Trainee

from gpu_common import PeakMemory, Row, Sizes, baseline, bench_module, synchronize

# Classes of the loader's shards (the `irnoise train` check's head).
LOADER_CLASSES = 50

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


# The first wave of batches, one from each worker, carries each worker's start (process
# start, imports, opening its first shard): those batches arrive together, and counting
# them at no time overstated the loader by 1.3-1.6x with 2 batches per worker.
WARMUP_WAVES = 1


def loader_images(sizes: Sizes) -> int:
    """Images of the loader's shards: each worker (of the most) has its warm-up wave, the
    counted waves and a spare one, so that no counted wave meets the epoch's ragged end."""
    waves = WARMUP_WAVES + sizes.loader_waves + 1
    return sizes.loader_batch * max(sizes.loader_workers) * waves


def loader_shards(sizes: Sizes, scratch: Path) -> Path:
    """Shards of photo-like JPEGs (a few distinct ones, repeated), written once per scratch
    folder (the loader and the `irnoise train` checks read the same ones)."""
    folder, shards = scratch / "jpegs", scratch / "shards"
    if (shards / "manifest.json").exists():
        return shards
    photo_like = bench_module("loader").photo_like
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(sizes.loader_unique):
        paths.append(folder / f"{i:04d}.jpg")
        photo_like(rng, sizes.loader_image_size).save(paths[-1], quality=90)
    images = loader_images(sizes)
    records = [
        Record(f"{i:06d}", paths[i % len(paths)], f"class{i % LOADER_CLASSES:02d}")
        for i in range(images)
    ]
    # A multiple of every worker count's shards: each worker reads whole shards, as many
    # as the others, so that all of them are busy until the counted waves are in.
    shard_size = max(1, images // math.lcm(*sizes.loader_workers))
    write_shards(
        DatasetIndex("gpucheck", folder, {"train": records}),
        shards,
        image_size=sizes.loader_image_size,
        shard_size=shard_size,
        threads=sizes.threads,
    )
    return shards


def steady_rate(arrivals: Sequence[float], counts: Sequence[int], workers: int) -> float:
    """Images/s of a loader at steady state, from each batch's arrival time (seconds, any
    origin) and its number of images, in arrival order.

    A DataLoader hands its workers' batches out in turn (batch i from worker i % workers),
    so the first `workers` batches are the workers' first, slowed by their start. The clock
    starts when the last of them arrives; the whole waves after it are counted.
    """
    warmup = workers * WARMUP_WAVES
    waves = (len(arrivals) - warmup) // workers
    if waves < 1:
        raise ValueError(
            f"{len(arrivals)} batches from {workers} workers: a steady rate needs a wave "
            f"of {workers} after the first {warmup}"
        )
    end = warmup + waves * workers
    return sum(counts[warmup:end]) / (arrivals[end - 1] - arrivals[warmup - 1])


def loader_rate(sizes: Sizes, shards: Path, workers: int, device: torch.device) -> float:
    """Images/s of the loader on the device at steady state: the warm-up wave, then
    `loader_waves` batches per worker (the rest of the epoch is not read)."""
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
    wanted = workers * (WARMUP_WAVES + sizes.loader_waves)
    arrivals: list[float] = []
    counts: list[int] = []
    for batch in batches:
        synchronize(device)  # arrived = on the device
        arrivals.append(time.perf_counter())
        counts.append(len(batch[0]))
        if len(arrivals) == wanted:
            break
    del batches  # stops the workers
    if len(arrivals) < wanted:
        raise RuntimeError(f"the loader's shards gave {len(arrivals)} batches, not {wanted}")
    return steady_rate(arrivals, counts, workers)


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
                {
                    "gpu_rate": gpu_rate if gpu_rate > 0 else None,  # JSON has no NaN
                    "batches_per_worker": sizes.loader_waves,
                    "warmup_batches_per_worker": WARMUP_WAVES,
                },
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
