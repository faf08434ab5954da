"""How well a detector's scores find the changed labels: AUROC, average precision,
precision and recall at T, and the precision-recall curve.

`changed` marks the samples whose training label differs from the clean one. T is the
number of changed samples, so precision@T and recall@T are both hits-in-top-T / T: they
coincide by construction (both are reported, as the study's table asks). The top T are
taken by score, ties broken by lower row, the order the CSV ranks in. AUROC, average
precision and the curve are scikit-learn's: AUROC counts ties as half (the Mann-Whitney
statistic), average precision sums precision over recall steps (no interpolation), tied
scores forming one threshold. scikit-learn is imported when a metric is computed, so that
the commands importing this module stay light.
"""

from __future__ import annotations

import numpy as np

METRICS = ("auroc", "average_precision", "precision_at_t", "recall_at_t")


def ranking(scores: np.ndarray) -> np.ndarray:
    """Rows from most to least suspicious; ties by lower row."""
    return np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=np.float64)))


def auroc(scores: np.ndarray, changed: np.ndarray) -> float:
    """Probability that a changed sample outscores an unchanged one (ties count half)."""
    from sklearn.metrics import roc_auc_score

    if changed.all() or not changed.any():
        return float("nan")  # scikit-learn raises: AUROC needs both kinds of sample
    return float(roc_auc_score(changed, scores))


def precision_recall_curve(
    scores: np.ndarray, changed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at each distinct score threshold, from the highest score down."""
    from sklearn import metrics

    changed = np.asarray(changed, dtype=bool)
    if not changed.any():
        # scikit-learn would set recall to 1 (with a warning); nothing is found: recall 0.
        zeros = np.zeros(len(np.unique(scores)))
        return zeros, zeros.copy()
    precision, recall, _ = metrics.precision_recall_curve(changed, scores)
    # scikit-learn runs from the lowest threshold up and appends (precision 1, recall 0),
    # a point without a threshold: drop it and run from the highest score down.
    return precision[-2::-1], recall[-2::-1]


def average_precision(scores: np.ndarray, changed: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if not changed.any():
        return float("nan")
    return float(average_precision_score(changed, scores))


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
