"""Embed an evaluation split: one forward pass per batch, results placed by row index.

Batches may arrive in any order (DataLoader workers interleave their shards), so each
embedding is stored at its `rows` entry. On CUDA the pass runs in bf16 autocast on a
channels_last model, like training; embeddings come back as float32 either way.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from tqdm import tqdm

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # images, labels, rows


def embed(
    model: torch.nn.Module,
    batches: Iterable[Batch],
    device: str | torch.device,
    total: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings float32 (n, d), labels int64 (n,)) with row i at index i.

    `total`, when known, sizes the progress bar and is checked against the rows seen.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    model.eval()
    if cuda:
        model.to(memory_format=torch.channels_last)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    progress = tqdm(total=total, desc="embed", unit="img", mininterval=1)
    with torch.inference_mode(), progress:
        for images, labels, rows in batches:
            if cuda:
                images = images.to(device, non_blocking=True, memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                embeddings = model(images.to(device))
            parts.append((embeddings.float().cpu().numpy(), labels.numpy(), rows.numpy()))
            progress.update(len(images))
    return _by_row(parts, total)


def _by_row(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], total: int | None
) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        raise ValueError("no images to embed: the split is empty")
    embeddings, labels, rows = (np.concatenate(column) for column in zip(*parts, strict=True))
    n = len(rows) if total is None else total
    # Every row exactly once: a gap or a repeat means the shards do not match their manifest.
    if len(rows) != n or not np.array_equal(np.sort(rows), np.arange(n)):
        raise ValueError(f"expected rows 0..{n - 1} once each, got {len(rows)} rows")
    order = np.argsort(rows)
    return np.ascontiguousarray(embeddings[order]), labels[order].astype(np.int64)
