"""CPU training speed: `irnoise train`'s epochs against the compute-only floor.

On one shard directory (default: the default preset's SOP-shaped train split), in one
process, interleaved (ABC, CBA, ...), the same network, loss, batch size and torch threads:

- floor: the bare PyTorch loop of bench/baseline.py (forward, loss, backward, AdamW
  step) over one epoch of batches made beforehand, already normalized floats in memory:
  nothing but compute;
- streaming: `train_loader` reading and decoding the shards every epoch (`workers`
  DataLoader workers, as `irnoise train` picks them from its threads), through
  `run_epoch`, the loop `irnoise train` runs;
- decoded: the same with the split decoded once (`DecodedSplit`), as `irnoise train`
  now does when the split fits in memory; the one-off decode is charged to the epochs
  of a default training (`--epochs`).

The figure is images/s of each against the floor (medians of the repeats). Also
printed: CPU seconds per image of this process (steadier than wall time on a shared
machine; a streaming loader's worker process is not counted), and where a streaming
epoch's time goes (decode, crop, normalize) per image. Comparing the CPU time per
image at --threads 1 and 2 tells whether two 1-thread jobs beat one 2-thread job.

    .venv/bin/python bench/train_throughput.py --shards data/shards/synth_sop [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

# As `irnoise train` does, before torch loads OpenMP (see irnoise/commands/train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from baseline import bare_steps, fresh_training

from irnoise.config import Training
from irnoise.data.loader import (
    DecodedSplit,
    decode_jpeg,
    normalize,
    random_crop,
    train_loader,
)
from irnoise.data.manifest import split_shards
from irnoise.train.labels import load_clean_labels
from irnoise.train.loop import run_epoch
from irnoise.train.runtime import Runtime
from irnoise.train.trainee import Trainee


def experiment(args: argparse.Namespace) -> Training:
    return Training.from_mapping(
        {
            "backbone": "small_cnn",
            "embedding_size": 512,
            "loss": "ArcFaceLoss",
            "loss_params": {"scale": 30, "margin": 11.5},
            "optimizer": "adamw",
            "lr": 0.003,
            "batch_size": args.batch,
            "crop_size": args.crop,
        }
    )


def floor_epoch(config: Training, classes: int, batches: list) -> float:
    """Seconds for one epoch of the bare loop (bench/baseline.py) on ready float batches."""
    model, loss_fn, optimizer = fresh_training(config, classes, channels_last=True)
    model.train()
    started = time.perf_counter()
    bare_steps(model, loss_fn, optimizer, batches)
    return time.perf_counter() - started


def irnoise_epoch(config: Training, args: argparse.Namespace, labels: np.ndarray, decoded) -> float:
    """Seconds for one epoch of `irnoise train`'s loader + `run_epoch`."""
    classes = int(labels.max()) + 1
    model, loss, optimizer = fresh_training(config, classes, channels_last=True)
    trainee = Trainee(model, loss).train()
    started = time.perf_counter()
    batches = train_loader(
        args.shards,
        labels,
        crop_size=args.crop,
        batch_size=args.batch,
        workers=max(args.threads - 1, 0),
        seed=0,
        epoch=1,
        decoded=decoded,
    )
    clean = torch.from_numpy(labels)
    run_epoch(trainee, optimizer, loss, batches, clean, Runtime(torch.device("cpu")), epoch=1)
    return time.perf_counter() - started


def input_costs(args: argparse.Namespace) -> dict[str, float]:
    """Microseconds per image of each input stage, measured alone on 1,000 images."""
    decoded = DecodedSplit(split_shards(args.shards, "train")[:2])
    samples = [s for shard in decoded.samples.values() for s in shard][:1000]
    jpegs = []
    from irnoise.data.loader import tar_files

    for item in tar_files(split_shards(args.shards, "train")[:2]):
        if item and item["fname"].endswith(".jpg"):
            jpegs.append(bytes(item["data"]))
    jpegs = jpegs[: len(samples)]
    rng = random.Random(0)
    started = time.perf_counter()
    for data in jpegs:
        decode_jpeg(data)
    decode = (time.perf_counter() - started) / len(jpegs)
    batch = torch.empty((len(samples), 3, args.crop, args.crop), dtype=torch.uint8)
    started = time.perf_counter()
    for i, sample in enumerate(samples):
        batch[i] = random_crop(sample["image"], args.crop, True, rng)
    crop = (time.perf_counter() - started) / len(samples)
    started = time.perf_counter()
    normalize(batch)
    norm = (time.perf_counter() - started) / len(samples)
    return {"decode": decode * 1e6, "crop+flip": crop * 1e6, "normalize": norm * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", default="data/shards/synth_sop")
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=12, help="epochs the decode is spread on")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    config = experiment(args)
    labels = load_clean_labels(args.shards)
    classes = int(labels.max()) + 1
    images = len(labels)

    started = time.perf_counter()
    decoded = DecodedSplit(split_shards(args.shards, "train"))
    decode_once = time.perf_counter() - started
    ready = [
        (normalize(x).contiguous(memory_format=torch.channels_last), y, r)
        for x, y, r in train_loader(
            args.shards, labels, args.crop, args.batch, 0, seed=0, epoch=1, decoded=decoded
        )
    ]
    runs = {
        "floor": lambda: floor_epoch(config, classes, ready),
        "streaming": lambda: irnoise_epoch(config, args, labels, None),
        "decoded": lambda: irnoise_epoch(config, args, labels, decoded),
    }
    for run in runs.values():  # warm-up: allocator, oneDNN kernels, page cache
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        order = list(runs) if repeat % 2 == 0 else list(runs)[::-1]
        for name in order:
            started = time.process_time()  # this process's CPU time: steadier under load
            times[name].append(runs[name]())
            cpu[name].append(time.process_time() - started)
    print(
        f"{args.shards}: {images} train images, {classes} classes; small_cnn {args.crop}px, "
        f"batch {args.batch}, ArcFace, AdamW, {args.threads} thread(s), "
        f"{max(args.threads - 1, 0)} streaming worker(s); medians of {args.repeats} epochs"
    )
    floor = statistics.median(times["floor"])
    for name, seconds in times.items():
        median = statistics.median(seconds)
        cpu_median = statistics.median(cpu[name])
        if name == "decoded":
            median += decode_once / args.epochs
            cpu_median += decode_once / args.epochs
        print(
            f"  {name:10s} {median:7.2f} s/epoch {images / median:7.0f} images/s "
            f"{floor / median:5.2f}x floor; CPU {cpu_median / images * 1e6:6.0f} us/image"
        )
    print(f"  (decoded includes the one-off decode, {decode_once:.2f} s, / {args.epochs} epochs)")
    costs = input_costs(args)
    per_image = floor / images * 1e6
    print(
        f"  per image: compute {per_image:.0f} us, "
        + ", ".join(f"{stage} {us:.0f} us" for stage, us in costs.items())
    )


if __name__ == "__main__":
    main()
