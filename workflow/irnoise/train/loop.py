"""The training loop: shards + (noisy) labels -> trained embedding network and its history.

It reads top to bottom like nanoGPT's train.py: `train` sets up the device, model,
loss, optimizer and any checkpoint, then one screen per epoch: set the learning rate,
run the batches, record a history row, save a checkpoint. `train_step` and `run_epoch`
take any iterable of batches, so `bench/train_step.py` feeds in-memory tensors through
the very same code.

On CPU every algorithm is deterministic, so a resumed run equals an uninterrupted one.
channels_last everywhere (on CPU too: ~14% less CPU time per image for small_cnn at 32
px, one thread). On CUDA: bf16 autocast, optional torch.compile, and DDP when launched
by torchrun (`irnoise train` re-executes itself through torchrun when gpus > 1).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from irnoise.config import Training
from irnoise.data.loader import Batch, DecodedSplit, train_loader
from irnoise.data.manifest import split_count, split_shards
from irnoise.errors import UserError
from irnoise.train import checkpoint
from irnoise.train.losses import ClassPredictions, build_loss, has_class_head
from irnoise.train.methods import SampleFilter
from irnoise.train.models import build_model

HISTORY_COLUMNS = (
    "epoch",
    "loss",
    "lr",
    "seconds",
    "images_per_s",
    "train_clean_acc",
    "train_noisy_acc",
)


# Above this share of dropped rows, a method run warns that it learned from few samples.
MOSTLY_DROPPED = 0.9


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


@dataclass
class Runtime:
    """Where this process trains: device, and its rank among DDP processes."""

    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def precision(self) -> contextlib.AbstractContextManager:
        if self.cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


@dataclass
class TrainResult:
    model: nn.Module
    loss: nn.Module
    history: list[dict[str, float]]
    num_classes: int
    runtime: Runtime


class Trainee(nn.Module):
    """Network and loss as one module, so that DDP averages the gradients of both."""

    def __init__(self, model: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        keep: KeepFunction | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings = self.model(images)
        # Margin losses take arccos of cosines near 1: float32, outside bf16 autocast.
        with torch.autocast(embeddings.device.type, enabled=False):
            if keep is None:
                value = self.loss(embeddings.float(), labels)
            else:
                value = kept_loss(self.loss, embeddings.float(), labels, keep(embeddings))
        return value, embeddings


# A noise-robust method's per-batch filter (irnoise.train.methods), bound to the batch's
# rows and epoch: embeddings -> keep-mask. The loss sees only the kept samples.
KeepFunction = Callable[[torch.Tensor], torch.Tensor]


def kept_loss(
    loss: nn.Module, embeddings: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor
) -> torch.Tensor:
    """The loss on the kept samples; zero (with every parameter in the graph) if none is."""
    if keep.any():
        return loss(embeddings[keep], labels[keep])
    return loss(embeddings[:1], labels[:1]) * 0.0


def setup_runtime(config: Training, threads: int) -> Runtime:
    """CPU (deterministic), one GPU, or this process's rank of a torchrun launch."""
    torch.set_num_threads(max(1, threads))
    use_cuda = config.gpus > 0 and torch.cuda.is_available()
    if config.gpus > 0 and not use_cuda:
        warnings.warn(
            "the experiment asks for a GPU but CUDA is not available: training on CPU",
            stacklevel=2,
        )
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        local_rank = int(os.environ["LOCAL_RANK"])
        device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
        if use_cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        runtime = Runtime(device, dist.get_rank(), dist.get_world_size())
    else:
        runtime = Runtime(torch.device("cuda" if use_cuda else "cpu"))
    if runtime.cuda:
        # Fixed crop and batch sizes: let cuDNN pick its fastest kernels. (No TF32: the
        # loss's float32 cosines near 1 need their full mantissa.)
        torch.backends.cudnn.benchmark = True
    else:
        torch.use_deterministic_algorithms(True)
    return runtime


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def loader_workers(config: Training, threads: int) -> int:
    """DataLoader workers: config.workers, else every thread of the job but the main one."""
    return config.workers if config.workers is not None else max(threads - 1, 0)


def decoded_train_split(shard_dir: str | Path, runtime: Runtime) -> DecodedSplit | None:
    """The train split decoded once for all epochs, when one process trains and it fits.

    Then no loader worker competes with the compute threads for the CPU (measured in
    bench/train_throughput.py); under DDP each rank streams its own part instead.
    """
    if runtime.world_size > 1 or not DecodedSplit.fits(shard_dir, "train"):
        return None
    return DecodedSplit(split_shards(shard_dir, "train"))


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


def lr_factor(epoch: int, milestones: Iterable[int], gamma: float) -> float:
    """lr x gamma at the start of each (1-based) milestone epoch: a function of the epoch."""
    return gamma ** sum(1 for milestone in milestones if milestone <= epoch)


def set_lr(optimizer: torch.optim.Optimizer, epoch: int, config: Training) -> float:
    factor = lr_factor(epoch, config.lr_milestones, config.lr_gamma)
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
    return optimizer.param_groups[0]["lr"]


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


def reduce_totals(totals: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    if runtime.world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(totals)
    return totals


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


def wrap_for_training(model: nn.Module, loss: nn.Module, config: Training, runtime: Runtime):
    """The module the steps call: compiled (CUDA, if asked) and DDP-wrapped (torchrun)."""
    network = model
    if runtime.cuda and config.compile:
        network = torch.compile(model)
    trainee: nn.Module = Trainee(network, loss)
    if runtime.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [runtime.device.index] if runtime.cuda else None
        trainee = DistributedDataParallel(trainee, device_ids=device_ids)
    return trainee


def uneven_inputs(trainee: nn.Module, runtime: Runtime) -> contextlib.AbstractContextManager:
    """Ranks read different shards, so their step counts differ; Join lets them finish."""
    if runtime.world_size == 1:
        return contextlib.nullcontext()
    from torch.distributed.algorithms.join import Join

    stack = contextlib.ExitStack()
    # Join's exit calls warnings.simplefilter("once") for the whole process: keep ours.
    stack.enter_context(warnings.catch_warnings())
    stack.enter_context(Join([trainee]))
    return stack


def progress_bar(total: int, epoch: int, epochs: int, runtime: Runtime):
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=f"epoch {epoch}/{epochs}",
        unit="img",
        mininterval=1,
        file=sys.stderr,
        disable=not runtime.is_main,
    )


def log(runtime: Runtime, message: str) -> None:
    if runtime.is_main:
        print(f"irnoise train: {message}", file=sys.stderr, flush=True)


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
            uneven_inputs(trainee, runtime),
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


def load_clean_labels(shard_dir: str | Path) -> np.ndarray:
    path = Path(shard_dir) / "train_labels.npy"
    if not path.is_file():
        raise UserError(
            f"clean train labels {path} not found: {shard_dir} is not a complete shard "
            "directory; rerun `irnoise shard`"
        )
    return np.load(path).astype(np.int64)


def check_labels(labels: np.ndarray, clean: np.ndarray) -> int:
    """The class count, after checking that `labels` fits the train split."""
    if labels.shape != clean.shape:
        raise UserError(
            f"the label file has {labels.shape} labels but the train split has {clean.shape}: "
            "it was made for another dataset; rerun `irnoise noise` on these shards"
        )
    if labels.min(initial=0) < 0:
        raise UserError("the label file holds negative labels: rerun `irnoise noise`")
    return int(max(clean.max(initial=0), labels.max(initial=0))) + 1


def history_csv(history: list[dict[str, float]]) -> str:
    lines = [",".join(HISTORY_COLUMNS)]
    for row in history:
        lines.append(",".join(f"{row[column]:.6g}" for column in HISTORY_COLUMNS))
    return "\n".join(lines) + "\n"


def run_training(
    shard_dir: str | Path,
    labels_path: str | Path | None,
    config: Training | Mapping[str, Any],
    seed: int,
    out_dir: str | Path,
    threads: int = 1,
    method: dict[str, Any] | None = None,
    keep_path: str | Path | None = None,
    keep_checkpoint: bool = False,
) -> TrainResult:
    """`irnoise train`: train, then write model.pt and history.csv (rank 0 only).

    With a noise-robust `method` other than none, also filter.json: what its filter
    dropped (by each row's last verdict) against the truly changed labels. The
    checkpoint is deleted once model.pt is written, unless `keep_checkpoint`.
    """
    from irnoise.atomic import write_text
    from irnoise.train import state_files

    if not isinstance(config, Training):
        config = Training.from_mapping(config)
    labels = load_labels(labels_path) if labels_path else load_clean_labels(shard_dir)
    sample_filter = method_filter(method, shard_dir, labels, keep_path, config)
    result = train(shard_dir, labels, config, seed, out_dir, threads, sample_filter)
    if result.runtime.is_main and sample_filter is not None:
        write_filter_summary(out_dir, sample_filter, labels, load_clean_labels(shard_dir))
    if result.runtime.is_main:
        # State dicts and plain values only (loaded with weights_only=True); no timings,
        # so that identical runs give identical files (history.csv has them).
        payload = {
            "state_dict": result.model.state_dict(),
            "loss_state_dict": result.loss.state_dict(),
            "config": config.to_dict(),
            "num_classes": result.num_classes,
            "seed": seed,
            "epochs_done": len(result.history),
        }
        state_files.save(Path(out_dir) / "model.pt", payload)
        write_text(Path(out_dir) / "history.csv", history_csv(result.history))
        if not keep_checkpoint:
            checkpoint.remove(out_dir)
    if result.runtime.world_size > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return result


def load_labels(path: str | Path) -> np.ndarray:
    if not Path(path).is_file():
        raise UserError(f"label file {path} not found: write it with `irnoise noise` first")
    return np.load(path).astype(np.int64)


def method_filter(
    method: dict[str, Any] | None,
    shard_dir: str | Path,
    labels: np.ndarray,
    keep_path: str | Path | None,
    config: Training,
) -> SampleFilter | None:
    """The method's per-batch filter; the oracle's keep-mask comes from the clean labels."""
    from irnoise.train.methods import build_filter
    from irnoise.train.methods.oracle import oracle_keep

    if not method:
        return None
    keep_rows = None
    if method.get("name") == "oracle":
        keep_rows = oracle_keep(labels, load_clean_labels(shard_dir))
    elif keep_path is not None:
        if not Path(keep_path).is_file():
            raise UserError(f"keep-mask {keep_path} not found: run `irnoise subcenter-mask` first")
        keep_rows = np.load(keep_path).astype(bool)
    return build_filter(method, labels, keep_rows, config.embedding_size)


def write_filter_summary(
    out_dir: str | Path, sample_filter: SampleFilter, labels: np.ndarray, clean: np.ndarray
) -> None:
    from irnoise.atomic import save_npy, write_json
    from irnoise.train.methods import filter_summary

    dropped = sample_filter.record.dropped()
    save_npy(Path(out_dir) / "dropped.npy", dropped)
    summary = filter_summary(dropped, labels, clean)
    if dropped.mean() > MOSTLY_DROPPED:
        # Filters that judge by the embedding (sub-center angles, kNN labels) drop almost
        # everything when the embedding is weak: say so beside the run, not only in Table 3.
        warnings.warn(
            f"method {sample_filter.method}: the filter dropped {dropped.mean():.0%} of the "
            "rows at their last visit, so the model learned from few samples; the embedding "
            "it judged by is probably too weak (train longer, or a longer warm-up)",
            stacklevel=2,
        )
    write_json(Path(out_dir) / "filter.json", {"method": sample_filter.method} | summary)
