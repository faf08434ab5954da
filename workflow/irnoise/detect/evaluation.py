"""How well a detector's scores find the changed labels: AUROC, average precision,
precision and recall at T, and the precision-recall curve.

`changed` marks the samples whose training label differs from the clean one. T is the
number of changed samples, so precision@T and recall@T are both hits-in-top-T / T: they
coincide by construction (both are reported, as the study's table asks). The top T are
taken by score, ties broken by lower row, the order the CSV ranks in. AUROC counts ties
as half (the Mann-Whitney statistic); average precision is scikit-learn's definition
(precision summed over recall steps, tied scores forming one threshold).
"""

from __future__ import annotations

import numpy as np

METRICS = ("auroc", "average_precision", "precision_at_t", "recall_at_t")


def ranking(scores: np.ndarray) -> np.ndarray:
    """Rows from most to least suspicious; ties by lower row."""
    return np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=np.float64)))


def auroc(scores: np.ndarray, changed: np.ndarray) -> float:
    """Probability that a changed sample outscores an unchanged one (ties count half)."""
    positives, negatives = int(changed.sum()), int((~changed).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Average rank (1-based) of each distinct score: the midpoint of its block.
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = average_rank[inverse][changed].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def precision_recall_curve(
    scores: np.ndarray, changed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at each distinct score threshold, from the highest score down."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    sorted_scores, hits = np.asarray(scores)[order], changed[order]
    # The last position of each block of equal scores: one threshold per distinct score.
    ends = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    true_positives = np.cumsum(hits)[ends]
    precision = true_positives / (ends + 1)
    recall = true_positives / max(int(changed.sum()), 1)
    return precision, recall


def average_precision(scores: np.ndarray, changed: np.ndarray) -> float:
    if not changed.any():
        return float("nan")
    precision, recall = precision_recall_curve(scores, changed)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def hits_at_t(scores: np.ndarray, changed: np.ndarray) -> tuple[float, float]:
    """(precision@T, recall@T) with T = number of changed samples."""
    t = int(changed.sum())
    if t == 0:
        return float("nan"), float("nan")
    hits = int(changed[ranking(scores)[:t]].sum())
    return hits / t, hits / t


def detection_metrics(scores: np.ndarray, changed: np.ndarray) -> dict[str, float]:
    changed = np.asarray(changed, dtype=bool)
    if scores.shape != changed.shape:
        raise ValueError(f"{scores.shape[0]} scores for {changed.shape[0]} samples")
    precision, recall = hits_at_t(scores, changed)
    return {
        "auroc": auroc(scores, changed),
        "average_precision": average_precision(scores, changed),
        "precision_at_t": precision,
        "recall_at_t": recall,
    }
