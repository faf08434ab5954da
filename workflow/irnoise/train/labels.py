"""The label files a training job reads: the (noisy) labels it trains on, the clean ones.

Labels are indexed by train row. The clean labels come with the shards
(train_labels.npy); a noisy label file is written by `irnoise noise`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irnoise.errors import UserError


def load_labels(path: str | Path) -> np.ndarray:
    if not Path(path).is_file():
        raise UserError(f"label file {path} not found: write it with `irnoise noise` first")
    return np.load(path).astype(np.int64)


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
