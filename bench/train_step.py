"""Training-loop overhead: irnoise's `run_epoch` against a bare PyTorch loop.

Both train the same network (same initial weights) with SGD and the same
pytorch-metric-learning loss on the same pre-made in-memory batches, in the same
process, interleaved in ABBA order (bare, irnoise, irnoise, bare, ...); the figure is the ratio of
their median times per step. The bare loop is bench/baseline.py's, the one
bench/gpu_check.py times on the GPU too. irnoise's loop adds: the Trainee wrapper (loss in float32
outside autocast), a per-step finiteness check (`loss.item()`), the class head's
training accuracy against noisy and clean labels (from the cosines the loss computes
anyway), and the running totals.

    nice .venv/bin/python bench/train_step.py [--model small_cnn] [--crop 40] [--batch 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# As `irnoise train` does, before torch loads OpenMP (see irnoise/commands/train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from baseline import bare_steps, fresh_training, random_batches

from irnoise.config import Training
from irnoise.train.loop import run_epoch
from irnoise.train.runtime import Runtime
from irnoise.train.trainee import Trainee


def bare_loop(config: Training, classes: int, batches: list) -> float:
    """The loop a PyTorch user writes by hand (bench/baseline.py): seconds for all batches."""
    model, loss_fn, optimizer = fresh_training(config, classes)
    model.train()
    started = time.perf_counter()
    bare_steps(model, loss_fn, optimizer, batches)
    return time.perf_counter() - started


def irnoise_loop(config: Training, classes: int, batches: list) -> float:
    model, loss, optimizer = fresh_training(config, classes)
    trainee = Trainee(model, loss).train()
    clean = torch.randint(0, classes, (len(batches) * len(batches[0][0]),))
    runtime = Runtime(torch.device("cpu"))
    started = time.perf_counter()
    run_epoch(trainee, optimizer, loss, batches, clean, runtime, epoch=1)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small_cnn", choices=("small_cnn", "resnet18"))
    parser.add_argument("--crop", type=int, default=40)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--loss", default="ArcFaceLoss")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # ArcFaceLoss gets the paper's scale and margin from the config's loss defaults.
    config = Training(backbone=args.model, embedding_size=512, loss=args.loss, lr=0.01)
    batches = random_batches(args.steps, args.batch, args.crop, args.classes)
    bare_loop(config, args.classes, batches[:3])  # warm-up: allocator, oneDNN kernels
    irnoise_loop(config, args.classes, batches[:3])
    bare, ours = [], []
    for repeat in range(args.repeats):
        # ABBA order: whatever favours the first (or second) run of a pair hits both.
        loops = [(bare, bare_loop), (ours, irnoise_loop)]
        for times, loop in loops if repeat % 2 == 0 else loops[::-1]:
            times.append(loop(config, args.classes, batches) / args.steps)
    bare_s, ours_s = statistics.median(bare), statistics.median(ours)
    images = args.batch / bare_s
    print(f"{args.model} {args.crop}px batch {args.batch}, {args.loss} {args.classes} classes")
    print(f"bare PyTorch loop: {bare_s * 1e3:.1f} ms/step ({images:.0f} images/s)")
    print(f"irnoise run_epoch: {ours_s * 1e3:.1f} ms/step ({args.batch / ours_s:.0f} images/s)")
    print(f"overhead: {ours_s / bare_s - 1:+.1%} (target <= +10%)")
    print(f"overhead of the best runs: {min(ours) / min(bare) - 1:+.1%}")


if __name__ == "__main__":
    main()
