"""The bootstrap's samples of TPR at a fixed FPR over all pairs of test images.

Over all pairs, pairs are not independent units: each image is in N - 1 of them, so
drawing pairs with replacement would treat 87M pairs of 13k images as 87M independent
observations and give far too narrow an interval. The images are the units: a resample
draws the images of each identity with replacement, as many as the identity has
(stratified by identity), and a pair of two distinct images (a, b) counts
c_a x c_b times, with c their draw counts (two draws of one image are no pair: an image
is never paired with itself). Drawing within identities keeps the number of negatives,
(N^2 - sum of squared identity sizes) / 2, the same in every resample, and with it the
number of false positives that FPR = 1e-3 allows; the positives vary a little.

The threshold of a resample is the (allowed + 1)-th highest drawn negative, as in
`irnoise.evaluate.metrics.tpr_at_fpr`. Only the highest negatives are kept
(`irnoise.evaluate.all_pairs`): a resample whose drawn kept negatives do not reach past
the allowed count has its threshold below them, and is undefined (NaN, counted by the
interval as left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irnoise.evaluate.metrics import allowed_false_positives

# Resamples weighted at once: bounds memory on LFW-sized pair lists (16 x 1.2M pairs of
# int32 weights and their cumulative sums: ~150 MB).
ROWS_AT_ONCE = 16


@dataclass(frozen=True)
class AllPairTpr:
    """TPR at `fpr` over all pairs of `labels`' images (see the module docstring)."""

    labels: np.ndarray  # identity of each test image: the strata of the draws
    positive_rows: np.ndarray  # (n_pos, 2)
    positive_scores: np.ndarray
    negative_rows: np.ndarray  # (kept, 2), descending score
    negative_scores: np.ndarray
    negatives: int  # all negatives, kept or not
    fpr: float
    test_set: str = ""

    def __post_init__(self) -> None:
        positive = np.argsort(np.asarray(self.positive_scores), kind="stable")
        negative = np.argsort(-np.asarray(self.negative_scores), kind="stable")
        object.__setattr__(self, "labels", np.asarray(self.labels).reshape(-1))
        object.__setattr__(
            self, "positive_rows", np.asarray(self.positive_rows, np.int64).reshape(-1, 2)[positive]
        )
        object.__setattr__(self, "positive_scores", np.asarray(self.positive_scores)[positive])
        object.__setattr__(
            self, "negative_rows", np.asarray(self.negative_rows, np.int64).reshape(-1, 2)[negative]
        )
        object.__setattr__(self, "negative_scores", np.asarray(self.negative_scores)[negative])
        object.__setattr__(self, "negatives", int(self.negatives))

    def __len__(self) -> int:
        return len(self.labels)  # the units drawn are the images

    def strata(self) -> np.ndarray:
        return self.labels

    def value(self) -> float:
        return float(self.resampled(np.ones((1, len(self)), np.int64))[0])

    def resampled(self, counts: np.ndarray) -> np.ndarray:
        if not len(self.positive_scores) or not self.negatives:
            return np.full(len(counts), np.nan)
        allowed = int(allowed_false_positives(self.negatives, self.fpr))
        if allowed >= self.negatives:
            return np.ones(len(counts))  # every threshold passes
        return np.concatenate(
            [
                self._tpr(counts[start : start + ROWS_AT_ONCE].astype(np.int32), allowed)
                for start in range(0, len(counts), ROWS_AT_ONCE)
            ]
        )

    def _tpr(self, counts: np.ndarray, allowed: int) -> np.ndarray:
        # int32 sums are exact: a pair weighs (draws of one image)^2 at most, ~100, and the
        # kept pairs number far fewer than 2^31 / 100 (1.4M on LFW).
        negative = _pair_weights(counts, self.negative_rows).cumsum(axis=1, dtype=np.int32)
        first_over = (negative <= allowed).sum(axis=1)
        # Kept negatives that do not reach past `allowed`: the threshold lies below them.
        beyond_kept = first_over >= len(self.negative_scores)
        bound = self.negative_scores[np.minimum(first_over, len(self.negative_scores) - 1)]
        positive = _pair_weights(counts, self.positive_rows).cumsum(axis=1, dtype=np.int32)
        total = positive[:, -1]
        below = np.searchsorted(self.positive_scores, bound, side="right")
        rows = np.arange(len(counts))
        at_or_below = np.where(below > 0, positive[rows, np.maximum(below - 1, 0)], 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            tpr = np.where(total > 0, (total - at_or_below) / np.maximum(total, 1), np.nan)
        return np.where(beyond_kept, np.nan, tpr)


def _pair_weights(counts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """How often each pair is drawn: the product of its two images' draw counts."""
    return counts[:, rows[:, 0]] * counts[:, rows[:, 1]]
