"""A validation split carved out of a dataset's train split: recipes are chosen on it, so
that nothing downstream of a held-out dataset can read the dataset's test split.

`carve` rewrites the `DatasetIndex` an adapter returns (docs/configuration.md,
"Held-out validation"):

- open-set (retrieval, verification; every dataset without a `val` split): a share of
  the train classes, drawn with the seed over the sorted class names, becomes the `test`
  split (leave-one-out retrieval over held-out classes, the SOP protocol); the other
  classes stay `train`;
- closed-set (a dataset with a `val` split, ImageNet-shaped): a share of each class's
  train images becomes `val`; every class with two images or more keeps at least one
  image on each side.

Every other split (the original test, query, gallery or val) and the verification pairs
are dropped. Records keep their train order within each new split.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.errors import UserError

# The split that makes a dataset closed-set, and the one an open-set validation becomes.
CLOSED_SET_SPLIT = "val"
OPEN_SET_SPLIT = "test"


@dataclass(frozen=True)
class Holdout:
    """The share held out (of the classes, or of each class's images) and its draw's seed."""

    share: float
    seed: int

    def __post_init__(self) -> None:
        if not 0 < self.share < 1:
            raise UserError(
                f"holdout: the held-out share must lie strictly between 0 and 1, got {self.share}"
            )
        if self.seed < 0:
            raise UserError(f"holdout: the seed must be 0 or more, got {self.seed}")


def carve(index: DatasetIndex, holdout: Holdout) -> DatasetIndex:
    """The index with its validation split carved from `train` and nothing else kept."""
    if not index.splits.get("train"):
        raise UserError(
            f"holdout: the dataset at {index.root} has no train images to hold a share of out "
            "(an evaluation-only set, such as LFW's pairs): set holdout on its training set"
        )
    train = index.splits["train"]
    if CLOSED_SET_SPLIT in index.splits:
        kept, held = _closed_set(train, holdout)
        validation = CLOSED_SET_SPLIT
    else:
        kept, held = _open_set(train, holdout)
        validation = OPEN_SET_SPLIT
    return dataclasses.replace(index, splits={"train": kept, validation: held}, pairs=[])


def held_out_classes(labels: list[str], holdout: Holdout) -> set[str]:
    """round(share x classes) of the sorted classes, at least one and all but one."""
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise UserError(
            f"holdout: the train split has {len(classes)} class(es); holding classes out "
            "needs at least two (one to train on, one to validate on)"
        )
    count = min(max(round(holdout.share * len(classes)), 1), len(classes) - 1)
    order = np.random.default_rng(holdout.seed).permutation(len(classes))
    return {classes[i] for i in order[:count]}


def _open_set(train: list[Record], holdout: Holdout) -> tuple[list[Record], list[Record]]:
    held = held_out_classes([record.label for record in train], holdout)
    return (
        [record for record in train if record.label not in held],
        [record for record in train if record.label in held],
    )


def _closed_set(train: list[Record], holdout: Holdout) -> tuple[list[Record], list[Record]]:
    rows_by_class: dict[str, list[int]] = defaultdict(list)
    for row, record in enumerate(train):
        rows_by_class[record.label].append(row)
    rng = np.random.default_rng(holdout.seed)
    held: set[int] = set()
    for label in sorted(rows_by_class):  # sorted: the draw does not depend on the file order
        rows = rows_by_class[label]
        count = held_images(len(rows), holdout.share)
        held.update(rows[i] for i in rng.permutation(len(rows))[:count])
    return (
        [record for row, record in enumerate(train) if row not in held],
        [record for row, record in enumerate(train) if row in held],
    )


def held_images(images: int, share: float) -> int:
    """A class's held-out images: round(share x images), but one on each side where it has two."""
    if images < 2:
        return 0
    return min(max(round(share * images), 1), images - 1)
