"""Evaluation metrics, exactly as docs/design.md ("Metrics") defines them.

- Retrieval (`retrieval_metrics`, `recall_at_k`): R@k and MAP@R over cosine similarity,
  leave-one-out (the query excluded by index) when no gallery is given. Queries with no
  same-label item in the gallery are left out of the means and counted. Ties in score
  are broken by gallery index (see `irnoise.evaluate.knn`).
- Verification (`tpr_at_fpr`, `verification_accuracy`): on the scores of labelled pairs.
- Classification (`classification_accuracy`): top-1 of class logits.

Every value is a fraction in [0, 1], or NaN where no query or pair makes it defined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from irnoise.evaluate.knn import DEFAULT_BATCH_SIZE, FlatIndex, iter_neighbors, normalized


@dataclass(frozen=True)
class RetrievalResult:
    """R@k for each k, MAP@R (NaN when not asked for), and who was counted."""

    recall: dict[int, float]
    map_at_r: float
    queries: int  # every query, scored or not
    left_out: int  # queries without a same-label item in the gallery (not in the means)
    gallery: int
    # Per query, in query order (what a bootstrap resamples): a hit at each k (ks order),
    # whether it was scored (has a same-label item), its average precision at R (NaN when
    # not scored or not asked for).
    hits: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool), repr=False)
    valid: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)
    average_precision: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def scored(self) -> int:
        return self.queries - self.left_out


def retrieval_metrics(
    embeddings: np.ndarray,
    labels: np.ndarray,
    ks: Sequence[int] = (1, 2, 4, 8),
    gallery_embeddings: np.ndarray | None = None,
    gallery_labels: np.ndarray | None = None,
    map_at_r: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> RetrievalResult:
    """R@k (a hit when any of the k nearest has the query's label) and MAP@R.

    MAP@R is pytorch-metric-learning's mean_average_precision_at_r: with R the number of
    same-label items in the gallery (the query itself not counted), the mean over the
    first R neighbors of precision@i at the ranks i that hold a same-label item.
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    queries, labels = normalized(embeddings), _labels(labels, len(embeddings), "labels")
    leave_one_out = gallery_embeddings is None
    if leave_one_out:
        gallery, gallery_labels = queries, labels
    else:
        if gallery_labels is None:
            raise ValueError("gallery_embeddings needs gallery_labels")
        gallery = normalized(gallery_embeddings)
        gallery_labels = _labels(gallery_labels, len(gallery), "gallery_labels")
    relevant = _relevant_counts(labels, gallery_labels, leave_one_out)
    depth = max(ks[-1], int(relevant.max(initial=0)) if map_at_r else 0)
    valid = relevant > 0
    hits = np.zeros((len(queries), len(ks)), dtype=bool)
    average_precision = np.full(len(queries), np.nan)
    if len(queries) and len(gallery):
        index = FlatIndex(gallery)
        neighbors = iter_neighbors(
            queries, depth, None if leave_one_out else gallery, batch_size, index
        )
        for batch in neighbors:
            rows = slice(batch.start, batch.start + len(batch.ids))
            match = _matches(batch.ids, gallery_labels, labels[rows])
            hits[rows] = _hits(match, valid[rows], ks)
            if map_at_r:
                precision = _average_precision_at_r(match, relevant[rows])
                average_precision[rows] = np.where(valid[rows], precision, np.nan)
    n_scored = int(valid.sum())
    recall = {k: _mean(int(h), n_scored) for k, h in zip(ks, hits.sum(axis=0), strict=True)}
    return RetrievalResult(
        recall=recall,
        map_at_r=_mean(np.nansum(average_precision), n_scored) if map_at_r else float("nan"),
        queries=len(queries),
        left_out=len(queries) - n_scored,
        gallery=len(gallery),
        hits=hits,
        valid=valid,
        average_precision=average_precision,
    )


def recall_at_k(
    embeddings: np.ndarray,
    labels: np.ndarray,
    ks: Sequence[int] = (1,),
    gallery_embeddings: np.ndarray | None = None,
    gallery_labels: np.ndarray | None = None,
) -> dict[int, float]:
    """R@k for each k in `ks`; leave-one-out when no gallery is given."""
    result = retrieval_metrics(
        embeddings, labels, ks, gallery_embeddings, gallery_labels, map_at_r=False
    )
    return result.recall


def tpr_at_fpr(scores: np.ndarray, is_same: np.ndarray, fpr: float) -> float:
    """The share of positive pairs scoring >= t, for the smallest score t at target FPR.

    The false-positive rate of a threshold t is the share of negative pairs scoring >= t;
    t ranges over the observed scores. This is the highest TPR of the ROC points with
    FPR <= `fpr`.
    """
    scores, same = _pairs(scores, is_same)
    negatives = np.sort(scores[~same])[::-1]
    positives = scores[same]
    if not len(negatives) or not len(positives):
        raise ValueError("TPR@FPR needs both positive and negative pairs")
    allowed = int(allowed_false_positives(len(negatives), fpr))
    if allowed >= len(negatives):
        return 1.0  # every threshold passes, the lowest score included
    # t must exceed the (allowed + 1)-th highest negative; the smallest such observed
    # score admits exactly the positives above that negative.
    bound = negatives[allowed]
    return float((positives > bound).mean())


def allowed_false_positives(negatives: int | np.ndarray, fpr: float) -> np.ndarray:
    """The most negatives that may pass, c / negatives <= fpr (compared as the ROC does),
    for each count of negatives: `tpr_at_fpr` and the bootstrap's resamples share it."""
    negatives = np.asarray(negatives, dtype=np.float64)
    count = np.clip(np.floor(fpr * negatives), 0, negatives)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Correct floor()'s rounding (at most one step) so that the float comparison decides.
        count = np.where((count < negatives) & ((count + 1) / negatives <= fpr), count + 1, count)
        count = np.where((count > 0) & (count / negatives > fpr), count - 1, count)
    return count.astype(np.int64)


def verification_accuracy(scores: np.ndarray, is_same: np.ndarray, folds: np.ndarray) -> float:
    """Standard k-fold verification accuracy (10 folds on LFW).

    For each fold, the threshold that maximizes accuracy on the other folds (the lowest
    one among equals) classifies the fold's pairs (same when score >= threshold); the
    result is the mean of the folds' accuracies.
    """
    scores, same = _pairs(scores, is_same)
    folds = np.asarray(folds).reshape(-1)
    if folds.shape != scores.shape:
        raise ValueError(f"{len(folds)} folds for {len(scores)} pairs")
    fold_ids = np.unique(folds)
    if len(fold_ids) < 2:
        raise ValueError("verification accuracy needs at least two folds")
    accuracies = []
    for fold in fold_ids:
        held_out = folds == fold
        threshold = best_threshold(scores[~held_out], same[~held_out])
        accuracies.append(((scores[held_out] >= threshold) == same[held_out]).mean())
    return float(np.mean(accuracies))


def best_threshold(scores: np.ndarray, is_same: np.ndarray) -> float:
    """The threshold with the highest accuracy of `score >= threshold` on these pairs.

    Candidates are -inf, +inf and the midpoints between consecutive distinct scores;
    among equally accurate candidates the lowest wins.
    """
    order = np.argsort(scores, kind="stable")
    ordered, same = scores[order], is_same[order]
    # Splitting before position j predicts "same" for ordered[j:].
    negatives_below = np.concatenate([[0], np.cumsum(~same)])
    positives_above = same.sum() - np.concatenate([[0], np.cumsum(same)])
    correct = negatives_below + positives_above
    # A split between two equal scores is no threshold: it cannot separate them.
    between_equal = np.zeros(len(correct), dtype=bool)
    between_equal[1:-1] = ordered[1:] == ordered[:-1]
    correct[between_equal] = -1
    j = int(np.argmax(correct))
    if j == 0:
        return -np.inf
    if j == len(ordered):
        return np.inf
    return float((ordered[j - 1] + ordered[j]) / 2)


def classification_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy: the share of rows whose highest logit is at the true class."""
    logits = np.asarray(logits)
    labels = _labels(labels, len(logits), "labels")
    if not len(labels):
        return float("nan")
    return float((logits.argmax(axis=1) == labels).mean())


def _labels(labels: np.ndarray, n: int, name: str) -> np.ndarray:
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries for {n} embeddings")
    return labels


def _pairs(scores: np.ndarray, is_same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    same = np.asarray(is_same).astype(bool).reshape(-1)
    if scores.shape != same.shape:
        raise ValueError(f"{len(scores)} scores for {len(same)} pair labels")
    if not np.isfinite(scores).all():
        raise ValueError("pair scores contain NaN or infinite values")
    return scores, same


def _relevant_counts(
    labels: np.ndarray, gallery_labels: np.ndarray, leave_one_out: bool
) -> np.ndarray:
    """R per query: the gallery items with its label, itself excluded."""
    classes, sizes = np.unique(gallery_labels, return_counts=True)
    if not len(classes):
        return np.zeros(len(labels), dtype=np.int64)
    position = np.minimum(np.searchsorted(classes, labels), len(classes) - 1)
    counts = np.where(classes[position] == labels, sizes[position], 0)
    return counts - int(leave_one_out)


def _matches(ids: np.ndarray, gallery_labels: np.ndarray, query_labels: np.ndarray) -> np.ndarray:
    """Whether each neighbor has its query's label (padding ids -1 never match)."""
    return (ids >= 0) & (gallery_labels[np.maximum(ids, 0)] == query_labels[:, None])


def _hits(match: np.ndarray, scored: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """Per query (rows) and k (columns): a same-label item among its k nearest."""
    # Rank of the first same-label neighbor (depth when there is none in the list).
    first = np.where(match.any(axis=1), match.argmax(axis=1), match.shape[1])
    return scored[:, None] & (first[:, None] < np.asarray(ks)[None, :])


def _average_precision_at_r(match: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Per query: sum over ranks i <= R holding a match of precision@i, divided by R."""
    ranks = np.arange(1, match.shape[1] + 1)
    within_r = ranks[None, :] <= relevant[:, None]
    hits = match & within_r
    precision = np.cumsum(hits, axis=1) / ranks
    total = (precision * hits).sum(axis=1)
    return np.divide(total, relevant, out=np.zeros(len(total)), where=relevant > 0)


def _mean(total: float, count: int) -> float:
    return float(total) / count if count else float("nan")
