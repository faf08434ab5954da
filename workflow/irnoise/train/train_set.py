"""Which train split a model was trained on: recorded in model.pt, checked by detect.

A model scores only the dataset it was trained on: its class head has one row per class
of that dataset, and its labels are that dataset's ids. `irnoise train` records the
train split's row count and a digest of its class names; `irnoise detect` compares them
(and the class count, for models written before the record) with the shards it is given.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from irnoise.data.manifest import split_count
from irnoise.errors import UserError

KEY = "train_set"


def identity(shard_dir: str | Path) -> dict[str, Any]:
    """The train split's row count and the SHA-256 of its shard directory's classes.json."""
    classes = Path(shard_dir) / "classes.json"
    digest = hashlib.sha256(classes.read_bytes()).hexdigest() if classes.is_file() else ""
    return {"rows": split_count(shard_dir, "train"), "classes_sha256": digest}


def check_trained_on(
    payload: dict[str, Any], model_path: str | Path, shard_dir: str | Path, num_classes: int
) -> None:
    """Refuse a model whose recorded train split is not the train split of `shard_dir`."""
    remedy = (
        f"give the model trained on {shard_dir} (results/runs/<experiment>/clean/0/seed0/"
        "model.pt of an experiment that trains on this dataset), or the shards it was "
        "trained on"
    )
    if payload["num_classes"] != num_classes:
        raise UserError(
            f"model {model_path} was trained on a dataset of {payload['num_classes']} classes, "
            f"but the train split of {shard_dir} has {num_classes}: {remedy}"
        )
    recorded = payload.get(KEY)
    if recorded is not None and recorded != identity(shard_dir):
        raise UserError(
            f"model {model_path} was trained on another train split ({recorded['rows']} "
            f"images, other class names) than that of {shard_dir} "
            f"({split_count(shard_dir, 'train')} images): {remedy}"
        )
