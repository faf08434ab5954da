"""TPR at a fixed FPR over all pairs of a verification test set, in bounded memory.

The listed pairs of an LFW-style set (3,000 negatives) allow 3 false positives at
FPR = 1e-3: the threshold rests on 4 scores. Every pair of two test images is a pair too:
same identity is a positive, different identities a negative. Over all of them the
threshold rests on ~1e-3 of N (N - 1) / 2 negatives (87M on LFW's 13k images).

What is kept (`AllPairs`), so that memory stays bounded whatever N:

- every positive pair (rows and score): their number is the sum over identities of
  n (n - 1) / 2 (242k on LFW);
- the negatives with the highest scores only: `kept_negatives` of them, enough for the
  threshold of the data and of almost every bootstrap resample (the resampled threshold
  moves with the drawn images; a resample whose threshold falls below the kept
  negatives is undefined and counted as such), with the total count of negatives.

Scores are cosine similarities of the L2-normalized embeddings, computed a block of rows
at a time (`BLOCK_ROWS` x N floats). The threshold follows
`irnoise.evaluate.metrics.tpr_at_fpr` (docs/design.md, "Metrics").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from irnoise.evaluate.knn import normalized
from irnoise.evaluate.metrics import allowed_false_positives

# Similarity rows computed at once: 256 x 13k scores, and at most as many candidate
# negatives (rows and score: ~70 MB on LFW), whatever N.
BLOCK_ROWS = 256
# Negatives kept beyond those the threshold of the data needs: the allowed count itself
# again (a resample's threshold moves by a few of its standard deviations, sqrt-sized),
# plus a floor for small sets, where this keeps every negative.
KEPT_FLOOR = 1000


@dataclass(frozen=True)
class AllPairs:
    """The pairs of a test set that TPR@FPR over all pairs needs (module docstring)."""

    positive_rows: np.ndarray  # (n_pos, 2) int64, row_a < row_b, same identity
    positive_scores: np.ndarray  # (n_pos,) float32
    negative_rows: np.ndarray  # (kept, 2) int64, the highest-scoring negatives
    negative_scores: np.ndarray  # (kept,) float32, descending
    negatives: int  # all negative pairs: N (N - 1) / 2 minus the positives


def count_pairs(labels: np.ndarray) -> tuple[int, int]:
    """(positives, negatives) among all unordered pairs of distinct images."""
    _, sizes = np.unique(np.asarray(labels), return_counts=True)
    n = int(sizes.sum())
    positives = int((sizes * (sizes - 1) // 2).sum())
    return positives, n * (n - 1) // 2 - positives


def kept_negatives(negatives: int, fpr: float) -> int:
    """How many of the highest negatives to keep: 2 x ceil(fpr x negatives) + KEPT_FLOOR,
    at most all of them."""
    return min(negatives, 2 * math.ceil(fpr * negatives) + KEPT_FLOOR)


def all_pairs(
    embeddings: np.ndarray, labels: np.ndarray, fpr: float, keep: int | None = None
) -> AllPairs:
    """Every positive pair and the `keep` (default: `kept_negatives`) highest negatives."""
    labels = np.asarray(labels)
    unit = normalized(embeddings)
    _, negatives = count_pairs(labels)
    keep = kept_negatives(negatives, fpr) if keep is None else min(keep, negatives)
    positives: list[tuple[np.ndarray, np.ndarray]] = []
    top = _TopScores(keep)
    for start in range(0, len(unit), BLOCK_ROWS):
        rows = np.arange(start, min(start + BLOCK_ROWS, len(unit)))
        scores = unit[rows] @ unit.T
        later = np.arange(len(unit))[None, :] > rows[:, None]  # each pair once
        same = labels[rows][:, None] == labels[None, :]
        a, b = np.nonzero(later & same)
        positives.append((np.stack([rows[a], b], axis=1), scores[a, b]))
        # Only negatives at or above the lowest kept score can enter the top.
        a, b = np.nonzero(later & ~same & (scores >= top.floor()))
        top.add(scores[a, b], np.stack([rows[a], b], axis=1))
    negative_rows, negative_scores = top.descending()
    return AllPairs(
        positive_rows=np.concatenate([p[0] for p in positives]).astype(np.int64).reshape(-1, 2),
        positive_scores=np.concatenate([p[1] for p in positives]).astype(np.float32),
        negative_rows=negative_rows,
        negative_scores=negative_scores,
        negatives=negatives,
    )


def tpr_at_fpr_all_pairs(pairs: AllPairs, fpr: float) -> float:
    """TPR at `fpr` over all pairs: the share of positives above the (allowed + 1)-th
    highest negative, as `irnoise.evaluate.metrics.tpr_at_fpr` (NaN without positives)."""
    if not len(pairs.positive_scores) or not pairs.negatives:
        return math.nan
    allowed = int(allowed_false_positives(pairs.negatives, fpr))
    if allowed >= pairs.negatives:
        return 1.0
    if allowed >= len(pairs.negative_scores):
        raise ValueError(f"{len(pairs.negative_scores)} negatives kept, {allowed + 1} needed")
    bound = pairs.negative_scores[allowed]
    return float((pairs.positive_scores > bound).mean())


class _TopScores:
    """The `size` highest scores seen so far, with their rows."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.scores = np.empty(0, np.float32)
        self.rows = np.empty((0, 2), np.int64)

    def floor(self) -> float:
        """The lowest score a candidate needs to enter (-inf while the top is not full)."""
        return float(self.scores.min(initial=np.inf)) if len(self.scores) >= self.size else -np.inf

    def add(self, scores: np.ndarray, rows: np.ndarray) -> None:
        scores = np.concatenate([self.scores, scores.astype(np.float32)])
        rows = np.concatenate([self.rows, rows.astype(np.int64)])
        if len(scores) > self.size:
            chosen = np.argpartition(-scores, self.size - 1)[: self.size] if self.size else []
            scores, rows = scores[chosen], rows[chosen]
        self.scores, self.rows = scores, rows

    def descending(self) -> tuple[np.ndarray, np.ndarray]:
        # Ties in score by rows, so the kept order is the same on every machine.
        order = np.lexsort((self.rows[:, 1], self.rows[:, 0], -self.scores))
        return self.rows[order], self.scores[order]
