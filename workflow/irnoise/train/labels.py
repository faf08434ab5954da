"""The label files a job reads: the (noisy) labels it trains on or scores, the clean ones.

Labels are indexed by train row. The clean labels come with the shards
(train_labels.npy); a noisy label file is written by `irnoise noise`, or by a user who
fixes or changes labels by hand. Every reader (train, detect, subcenter) takes its labels
from `train_labels`, which checks a label file against the train split before any use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irnoise.errors import UserError

FIX = "write it with `irnoise noise`, or save an int64 array with numpy.save"


def load_labels(path: str | Path) -> np.ndarray:
    """A label file as it is stored (its dtype kept, for `check_labels` to judge)."""
    if not Path(path).is_file():
        raise UserError(f"label file {path} not found: write it with `irnoise noise` first")
    try:
        # allow_pickle=False: an object array is refused here, not unpickled.
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        message = f"label file {path} is not a numeric .npy array ({error}): {FIX}"
        raise UserError(message) from error


def load_clean_labels(shard_dir: str | Path) -> np.ndarray:
    path = Path(shard_dir) / "train_labels.npy"
    if not path.is_file():
        raise UserError(
            f"clean train labels {path} not found: {shard_dir} is not a complete shard "
            "directory; rerun `irnoise shard`"
        )
    return np.load(path).astype(np.int64)


def train_labels(shard_dir: str | Path, path: str | Path | None) -> np.ndarray:
    """The labels of the train rows: the file at `path`, checked, or the shards' clean ones."""
    clean = load_clean_labels(shard_dir)
    if path is None:
        return clean
    labels = load_labels(path)
    check_labels(labels, clean, str(path))
    return labels.astype(np.int64)


def check_labels(labels: np.ndarray, clean: np.ndarray, name: str = "the label file") -> int:
    """The class count, after checking that `labels` are class ids of the train split: one
    integer per train row, each a train class (ids 0..K-1, K = the clean labels' classes)."""
    classes = int(clean.max(initial=-1)) + 1
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(
            f"{name} holds {labels.dtype} values, not integer class ids: {FIX} "
            "(floats are not rounded)"
        )
    if labels.shape != clean.shape:
        raise UserError(
            f"{name} has shape {labels.shape} but the train split has {clean.shape} rows (one "
            "class id per row): it was made for another dataset; rerun `irnoise noise` on these "
            "shards"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise UserError(
            f"{name} holds labels from {labels.min()} to {labels.max()}, but the train split "
            f"has {classes} classes (ids 0 to {classes - 1}): each label must be a train "
            "class id (classes.json of the shards names them)"
        )
    return classes
