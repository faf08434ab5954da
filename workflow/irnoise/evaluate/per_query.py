"""A run's per-query evaluation arrays (per_query.npz beside its metrics.json).

Saved by `irnoise evaluate` so that tables compute bootstrap intervals without
re-embedding. Rows follow the evaluated split's row order (the query split for In-Shop,
the test split for leave-one-out retrieval and faces, val for classification). Keys:

- every task: `task` (a 0-d string array);
- retrieval: `ks` (the k of each column of `hits`), `hits` (queries x ks, bool: a
  same-label item among the k nearest), `valid` (bool: the query has a same-label item,
  i.e. it counts in R@k and MAP@R), `average_precision` (float, NaN where not valid);
- classification: `correct` (bool: top-1 at the true class);
- verification: `scores` (cosine score of each pair), `is_same`, `folds`, the R@1
  arrays of the test images `ks` (= [1]), `hits`, `valid`, and for TPR@FPR over all
  pairs of test images (`irnoise.evaluate.all_pairs`) their identities `labels`, every
  positive pair `all_pairs_positive_rows` (n x 2) with `all_pairs_positive_scores`, the
  highest negatives `all_pairs_negative_rows` with `all_pairs_negative_scores`
  (descending) and the count of all negatives `all_pairs_negatives`.

The metrics of metrics.json are exactly recomputable from these arrays
(`irnoise.report.metric_samples`).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping

import numpy as np

from irnoise.atomic import atomic_path
from irnoise.errors import UserError

FILENAME = "per_query.npz"
REQUIRED = {
    "retrieval": ("ks", "hits", "valid", "average_precision"),
    "classification": ("correct",),
    "verification": (
        *("scores", "is_same", "folds", "ks", "hits", "valid", "labels"),
        *("all_pairs_positive_rows", "all_pairs_positive_scores", "all_pairs_negatives"),
        *("all_pairs_negative_rows", "all_pairs_negative_scores"),
    ),
}


def save_per_query(path: str | os.PathLike, task: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write the task's arrays (see the module docstring) atomically, compressed."""
    missing = [key for key in REQUIRED[task] if key not in arrays]
    if missing:
        raise ValueError(f"the {task} arrays lack {missing}")
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, task=np.array(task), **dict(arrays))


def load_per_query(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a per_query.npz, checked for its task's keys; UserError if unusable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise UserError(
            f"cannot read the per-query arrays {path} ({error}): rerun the run's "
            "`irnoise evaluate` (snakemake reruns it when the file is deleted)"
        ) from error
    task = str(arrays.get("task", ""))
    missing = [key for key in REQUIRED.get(task, ("task",)) if key not in arrays]
    if missing:
        raise UserError(
            f"{path} lacks {', '.join(missing)} for task {task!r}: it was written by another "
            "version of `irnoise evaluate`; delete it and rerun the evaluation"
        )
    return arrays
