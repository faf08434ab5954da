"""Where and how a training process runs: device, DDP rank, threads, seeds, its output.

CPU (every algorithm deterministic, so a resumed run equals an uninterrupted one), one
GPU (bf16 autocast, optional torch.compile), or one rank of a torchrun launch (DDP;
`irnoise train` re-executes itself through torchrun when gpus > 1). The loop
(irnoise.train.loop) asks this module for everything that differs between them: the
module a step calls, the totals summed over ranks, uneven step counts, who logs.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from irnoise.config import Training
from irnoise.data.loader import DecodedSplit
from irnoise.data.manifest import split_shards
from irnoise.train.methods import SampleFilter
from irnoise.train.trainee import Trainee


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


def shutdown(runtime: Runtime) -> None:
    """End the DDP process group, if this process is one rank of several."""
    if runtime.world_size > 1:
        import torch.distributed as dist

        dist.destroy_process_group()


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


def reduce_totals(totals: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    if runtime.world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(totals)
    return totals


def uneven_inputs(
    trainee: nn.Module, runtime: Runtime, sample_filter: SampleFilter | None = None
) -> contextlib.AbstractContextManager:
    """Ranks read different shards, so their step counts differ; Join lets them finish.

    A finished rank shadows the others' gradient all-reduce (DDP) and, with a filter,
    their filter exchange, in the order a step runs them (backward, then exchange).
    """
    if runtime.world_size == 1:
        return contextlib.nullcontext()
    from torch.distributed.algorithms.join import Join

    from irnoise.train.methods.sharing import ExchangeJoinable

    joinables = [trainee]
    if sample_filter is not None:
        joinables.append(ExchangeJoinable(sample_filter, runtime.device))
    stack = contextlib.ExitStack()
    # Join's exit calls warnings.simplefilter("once") for the whole process: keep ours.
    stack.enter_context(warnings.catch_warnings())
    stack.enter_context(Join(joinables))
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
