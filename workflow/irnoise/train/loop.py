"""The training loop: shards + (noisy) labels -> trained embedding network and its history.

It reads top to bottom like nanoGPT's train.py: `train` sets up the device, model,
loss, optimizer and any checkpoint, then one screen per epoch: set the learning rate,
run the batches, record a history row, save a checkpoint. Below it, its parts in the
order it calls them. `train_step` and `run_epoch` take any iterable of batches, so
`bench/baseline.py` feeds in-memory tensors through the very same code.

Where the process runs (CPU, one GPU, a DDP rank) is irnoise.train.runtime's business;
the job around the loop (label files in, model.pt and history.csv out) is
irnoise.train.job's. channels_last everywhere (on CPU too: ~14% less CPU time per image
for small_cnn at 32 px, one thread).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from irnoise.config import Training
from irnoise.data.loader import Batch, train_loader
from irnoise.data.manifest import split_count
from irnoise.errors import UserError
from irnoise.train import checkpoint
from irnoise.train.labels import check_labels, load_clean_labels
from irnoise.train.losses import ClassPredictions, build_loss, has_class_head
from irnoise.train.methods import SampleFilter
from irnoise.train.methods.sharing import share_across_ranks
from irnoise.train.models import build_model
from irnoise.train.runtime import (
    Runtime,
    decoded_train_split,
    loader_workers,
    log,
    progress_bar,
    reduce_totals,
    seed_everything,
    setup_runtime,
    uneven_inputs,
    wrap_for_training,
)
from irnoise.train.trainee import KeepFunction

# The fields of a history row (`epoch_row`), in the order of history.csv's columns.
HISTORY_COLUMNS = (
    "epoch",
    "loss",
    "lr",
    "seconds",
    "images_per_s",
    "train_clean_acc",
    "train_noisy_acc",
)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    model: nn.Module
    loss: nn.Module
    history: list[dict[str, float]]
    num_classes: int
    runtime: Runtime


def train(
    shard_dir: str | Path,
    labels: np.ndarray,
    config: Training | Mapping[str, Any],
    seed: int,
    out_dir: str | Path,
    threads: int = 1,
    sample_filter: SampleFilter | None = None,
) -> TrainResult:
    """Train `config`'s network on the train split with `labels` (indexed by train row).

    With a `sample_filter` (a noise-robust method), the loss of each batch sees only the
    samples the filter keeps.
    """
    if not isinstance(config, Training):
        config = Training.from_mapping(config)
    runtime = setup_runtime(config, threads)
    seed_everything(seed)
    clean_labels = torch.from_numpy(load_clean_labels(shard_dir))
    num_classes = check_labels(labels, clean_labels.numpy())
    model = build_model(config).to(runtime.device, memory_format=torch.channels_last)
    loss = build_loss(config, num_classes).to(runtime.device)
    optimizer = make_optimizer(model, loss, config)
    epochs = config.epochs
    # A filter's state (its memory) is not checkpointed: a method run resumes nothing
    # from another method's, and restarts its filter on resume.
    method = sample_filter.method if sample_filter is not None else None
    run_id = checkpoint.fingerprint(config, seed, labels, method)
    done, history = 0, []
    if state := checkpoint.load(out_dir, run_id, epochs):
        done, history = checkpoint.restore(state, model, loss, optimizer)
        log(
            runtime,
            f"resuming from {Path(out_dir) / checkpoint.CHECKPOINT_NAME} after epoch {done}",
        )
    trainee = wrap_for_training(model, loss, config, runtime)
    if sample_filter is not None and runtime.world_size > 1:
        share_across_ranks(sample_filter, config.embedding_size)
    decoded = decoded_train_split(shard_dir, runtime)
    workers = 0 if decoded else loader_workers(config, threads)
    batch_size = max(1, config.batch_size // runtime.world_size)
    images_per_rank = math.ceil(split_count(shard_dir, "train") / runtime.world_size)
    log(runtime, f"{runtime.device}, {runtime.world_size} process(es), {workers} loader workers")

    for epoch in range(done + 1, epochs + 1):
        lr = set_lr(optimizer, epoch, config)
        started = time.perf_counter()
        trainee.train()
        batches = train_loader(
            shard_dir,
            labels,
            crop_size=config.crop_size,
            batch_size=batch_size,
            workers=workers,
            seed=seed,
            epoch=epoch,
            flip=config.flip,
            rank=runtime.rank,
            world_size=runtime.world_size,
            pin_memory=runtime.cuda,
            device=runtime.device,
            decoded=decoded,
        )
        with (
            progress_bar(images_per_rank, epoch, epochs, runtime) as progress,
            uneven_inputs(trainee, runtime, sample_filter),
        ):
            totals = run_epoch(
                trainee,
                optimizer,
                loss,
                batches,
                clean_labels,
                runtime,
                epoch,
                progress,
                sample_filter,
            )
        totals = reduce_totals(totals, runtime)
        row = epoch_row(epoch, lr, totals, time.perf_counter() - started, has_class_head(loss))
        history.append(row)
        log(runtime, ", ".join(f"{key} {value:.4g}" for key, value in row.items()))
        if runtime.is_main:
            checkpoint.save(
                out_dir,
                model=model,
                loss=loss,
                optimizer=optimizer,
                epoch=epoch,
                history=history,
                run_fingerprint=run_id,
            )
    return TrainResult(model, loss, history, num_classes, runtime)


def make_optimizer(model: nn.Module, loss: nn.Module, config: Training) -> torch.optim.Optimizer:
    """The network's and the loss's own parameters (class weights), each with its lr.

    SGD with momentum is the paper's; AdamW converges in far fewer epochs on the small
    synthetic sets, where a few images per class and a CPU budget leave SGD barely started.
    """
    lr = float(config.lr)
    loss_lr = float(config.loss_lr or lr)
    groups = [{"params": list(model.parameters()), "lr": lr, "base_lr": lr}]
    if loss_parameters := list(loss.parameters()):
        groups.append({"params": loss_parameters, "lr": loss_lr, "base_lr": loss_lr})
    weight_decay = float(config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(
        groups, lr=lr, momentum=float(config.momentum), weight_decay=weight_decay
    )


def set_lr(optimizer: torch.optim.Optimizer, epoch: int, config: Training) -> float:
    factor = lr_factor(epoch, config.lr_milestones, config.lr_gamma)
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
    return optimizer.param_groups[0]["lr"]


def lr_factor(epoch: int, milestones: Iterable[int], gamma: float) -> float:
    """lr x gamma at the start of each (1-based) milestone epoch: a function of the epoch."""
    return gamma ** sum(1 for milestone in milestones if milestone <= epoch)


def run_epoch(
    trainee: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: nn.Module,
    batches: Iterable[Batch],
    clean_labels: torch.Tensor,
    runtime: Runtime,
    epoch: int,
    progress: Any = None,
    sample_filter: SampleFilter | None = None,
) -> torch.Tensor:
    """Train on every batch once; returns totals (loss x images, images, noisy hits, clean hits)."""
    totals = torch.zeros(4, dtype=torch.float64, device=runtime.device)
    with ClassPredictions(loss) as predict:
        for step, (images, labels, rows) in enumerate(batches, start=1):
            images = images.to(runtime.device, non_blocking=True, memory_format=torch.channels_last)
            labels = labels.to(runtime.device, non_blocking=True)
            keep = None
            if sample_filter is not None:
                keep = functools.partial(sample_filter, labels=labels, rows=rows, epoch=epoch)
            value, embeddings = train_step(
                trainee, optimizer, images, labels, runtime.precision, keep
            )
            if sample_filter is not None:
                sample_filter.share()  # under DDP: every rank absorbs every rank's batch
            value_item = value.item()
            if not math.isfinite(value_item):
                raise TrainingDiverged(
                    f"the loss became {value_item} at epoch {epoch}, step {step}: training "
                    f"diverged; lower the experiment's lr (now "
                    f"{optimizer.param_groups[0]['lr']:g}) or loss_lr, or check the loss_params"
                )
            clean = clean_labels[rows].to(runtime.device, non_blocking=True)
            count = len(labels)
            totals[:2] += torch.tensor([value_item * count, count], dtype=torch.float64).to(totals)
            totals[2:] += head_hits(predict, embeddings, labels, clean)
            if progress is not None:
                progress.update(count)
                progress.set_postfix(loss=f"{value_item:.4f}", refresh=False)
    return totals


def train_step(
    trainee: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    precision: Callable[[], contextlib.AbstractContextManager],
    keep: KeepFunction | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step; returns the (detached) loss and embeddings."""
    with precision():
        loss, embeddings = trainee(images, labels, keep)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), embeddings.detach()


@torch.no_grad()
def head_hits(
    predict: ClassPredictions,
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    clean: torch.Tensor,
) -> torch.Tensor:
    """(hits against the trained-on labels, hits against the clean labels) of the class head."""
    if not has_class_head(predict.loss):
        return torch.zeros(2, dtype=torch.float64, device=embeddings.device)
    predicted = predict(embeddings)
    return torch.stack([(predicted == labels).sum(), (predicted == clean).sum()]).double()


def epoch_row(
    epoch: int, lr: float, totals: torch.Tensor, seconds: float, head: bool
) -> dict[str, float]:
    loss_sum, images, noisy_hits, clean_hits = totals.tolist()
    images = max(images, 1.0)
    return {
        "epoch": epoch,
        "loss": loss_sum / images,
        "lr": lr,
        "seconds": seconds,
        "images_per_s": images / seconds if seconds > 0 else math.nan,
        "train_clean_acc": clean_hits / images if head else math.nan,
        "train_noisy_acc": noisy_hits / images if head else math.nan,
    }
