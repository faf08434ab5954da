"""The bare PyTorch loop that irnoise's training loop is measured against.

"Training loop overhead <= 10% over a bare PyTorch loop": the loop a PyTorch user writes
by hand (forward, loss, backward, optimizer step), on the same network, loss and
optimizer with the same initial weights, over batches made beforehand. It is defined
here once; bench/train_step.py (the CPU overhead), bench/train_throughput.py (its
compute-only floor) and bench/gpu_check.py (the GPU overhead, eager and compiled) all
time this loop against irnoise's `run_epoch`.

Not a script: the benchmarks import it (`python bench/<name>.py` puts bench/ on sys.path).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from irnoise.config import Training
from irnoise.train.loop import make_optimizer
from irnoise.train.losses import build_loss
from irnoise.train.models import build_model

# (images, labels, rows): what irnoise's train_loader yields and run_epoch takes.
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def random_batches(count: int, batch: int, crop: int, classes: int) -> list[Batch]:
    """`count` batches of random images and labels, the same every time (seed 0)."""
    generator = torch.Generator().manual_seed(0)
    batches = []
    for step in range(count):
        images = torch.randn(batch, 3, crop, crop, generator=generator)
        labels = torch.randint(0, classes, (batch,), generator=generator)
        rows = torch.arange(step * batch, (step + 1) * batch)
        batches.append((images, labels, rows))
    return batches


def fresh_training(
    config: Training,
    classes: int,
    device: torch.device | None = None,
    channels_last: bool = False,
) -> tuple[nn.Module, nn.Module, torch.optim.Optimizer]:
    """(model, loss, optimizer) with the same initial weights every time, so that the
    loops compared start from the same point; irnoise's own optimizer for both."""
    torch.manual_seed(0)
    device = device or torch.device("cpu")
    model = build_model(config).to(device)
    if channels_last:  # as `irnoise train` lays the network out
        model = model.to(memory_format=torch.channels_last)
    loss = build_loss(config, classes).to(device)
    return model, loss, make_optimizer(model, loss, config)


def bare_steps(
    network: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Batch],
    bf16: bool = False,
) -> None:
    """The bare loop: one optimizer step per batch, nothing else.

    With `bf16`, the network runs under bf16 autocast and the loss in float32, as a
    PyTorch user trains on a GPU (and as irnoise does); without, `.float()` is a no-op.
    """
    for images, labels, _ in batches:
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
            embeddings = network(images)
        loss = loss_fn(embeddings.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
