"""The train split's embeddings under a trained model: the frozen features that the
methods' first stages (sub-center's outliers, Smooth Proxy-Anchor's confidence module)
work on."""

from __future__ import annotations

from typing import Any

import numpy as np


def train_features(model_path: str, shard_dir: str, threads: int) -> tuple[np.ndarray, Any, dict]:
    """(embeddings of every train row, center crops; the model's loss; its payload)."""
    import torch

    from irnoise.data.loader import eval_batches
    from irnoise.data.manifest import split_count
    from irnoise.evaluate.embed import embed
    from irnoise.train.models import load_trained

    torch.set_num_threads(max(1, threads))
    model, loss, payload = load_trained(model_path, "cpu")
    total = split_count(shard_dir, "train")
    batches = eval_batches(
        shard_dir, "train", int(payload["config"]["crop_size"]), 256, max(threads - 1, 0)
    )
    embeddings, _ = embed(model, batches, "cpu", total)
    return embeddings, loss, payload
