"""PRISM's score as a detector: how likely a sample's label is under the class centers.

PRISM (Liu et al., CVPR 2021; `irnoise.train.methods.prism`) filters each batch during
training by exp(f . c_y) / sum_k exp(f . c_k), the softmax over class centers c_k (mean
embeddings of a class) taken at the sample's label y. Here the centers are those of the
whole training split, embedded by the finished model (PRISM's memory at its fullest), and
the embeddings and centers are L2-normalized as the kNN detector's cosines are. The
suspicion score is 1 minus that probability; the suggested label is the most probable
class. Scored in chunks, like the class-head margin, so that samples x classes never has
to fit in memory at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_CELLS_PER_CHUNK = 1 << 25  # rows x classes of one chunk of probabilities (256 MB)


@dataclass(frozen=True)
class PrismScores:
    scores: np.ndarray  # 1 - p(label | centers)
    suggested: np.ndarray


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def class_centers(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The mean (unit) embedding of each class 0..max(label); zero for a class without rows."""
    classes = int(labels.max(initial=-1)) + 1
    sums = np.zeros((classes, embeddings.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, embeddings)
    counts = np.bincount(labels, minlength=classes)[:, None]
    return sums / np.maximum(counts, 1)


def prism_scores(embeddings: np.ndarray, labels: np.ndarray) -> PrismScores:
    unit = unit_rows(embeddings.astype(np.float64))
    centers = class_centers(unit, labels)
    scores = np.empty(len(labels), dtype=np.float64)
    suggested = np.empty(len(labels), dtype=np.int64)
    chunk = max(1, MAX_CELLS_PER_CHUNK // max(len(centers), 1))
    for start in range(0, len(labels), chunk):
        rows = slice(start, start + chunk)
        logits = unit[rows] @ centers.T
        logits -= logits.max(axis=1, keepdims=True)  # a stable softmax
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        own = probabilities[np.arange(len(logits)), labels[rows]]
        scores[rows], suggested[rows] = 1.0 - own, probabilities.argmax(axis=1)
    return PrismScores(scores, suggested)
