"""cleanlab's confident learning on kNN-derived class probabilities.

cleanlab asks for out-of-sample predicted probabilities, a dense samples x classes matrix.
They come from the leave-one-out kNN vote (`knn.knn_probabilities`): leave-one-out, not
out-of-sample, since the embedding was trained on these rows; cleanlab itself then
decides which labels are issues (`cleanlab.filter.find_label_issues`, confident learning
pruned by noise rate) and how good each label is (`cleanlab.rank.get_label_quality_scores`,
normalized margin). The score ranks cleanlab's flagged issues first, each group ordered by
label quality: score = flagged + (1 - quality), in [0, 2].

The dense matrix is the limit: it is built only when samples x classes stays within
`max_cells` (default 2.5e8 float32 cells, 1 GB). SOP-train (60,502 x 11,318 = 6.8e8) and
MS-Celeb-1M (5.8M x 85,742 = 5e11, 2 TB) exceed it; there cleanlab is skipped with a
message, and the kNN disagreement (same neighbors, O(n k) memory) is the detector that runs.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import numpy as np

from irnoise.detect.knn import Neighborhoods, knn_probabilities


@dataclass(frozen=True)
class CleanlabResult:
    scores: np.ndarray  # flagged + (1 - quality), higher is more suspicious
    flagged: np.ndarray  # bool: cleanlab's label issues
    suggested: np.ndarray  # argmax of the kNN probabilities


def fits(samples: int, classes: int, max_cells: int) -> bool:
    return samples * classes <= max_cells


def cleanlab_detect(
    labels: np.ndarray,
    probabilities: np.ndarray,
) -> CleanlabResult:
    """cleanlab's issues and label quality for `labels` under `probabilities` (n, classes)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    with warnings.catch_warnings():
        # "too few examples in class c": expected with small classes; the scores stand.
        warnings.filterwarnings("ignore", message="May not flag all label issues")
        flagged = find_label_issues(labels, probabilities, n_jobs=1)
    quality = get_label_quality_scores(labels, probabilities, method="normalized_margin")
    scores = flagged.astype(np.float64) + (1.0 - quality)
    return CleanlabResult(scores, flagged, probabilities.argmax(axis=1).astype(np.int64))


def cleanlab_from_neighbors(
    labels: np.ndarray, hoods: Neighborhoods, max_cells: int
) -> CleanlabResult | None:
    """cleanlab on the kNN vote, or None (with a message) where the dense matrix is too big."""
    classes = int(labels.max()) + 1
    if len(np.unique(labels)) < 2:
        print("cleanlab skipped: every sample has the same label", file=sys.stderr)
        return None
    if not fits(len(labels), classes, max_cells):
        print(
            f"cleanlab skipped: its {len(labels):,} x {classes:,} probability matrix exceeds "
            f"{max_cells:,} cells (detect.cleanlab_max_cells); the kNN detector runs alone",
            file=sys.stderr,
        )
        return None
    return cleanlab_detect(labels, knn_probabilities(labels, hoods, classes))
