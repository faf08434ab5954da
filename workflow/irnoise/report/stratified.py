"""C3's test within each noise level: a rank correlation stratified by level, and its
permutation null that shuffles the schemes within a level (docs/findings.md)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from irnoise.report.bootstrap import rank_correlation

C3_EXACT_PERMUTATIONS = 20_000  # above this, C3_RANDOM_PERMUTATIONS random ones
C3_RANDOM_PERMUTATIONS = 5_000


def stratified_rho(xs: Sequence[Sequence[float]], ys: Sequence[Sequence[float]]) -> float:
    """Mean over strata of the Spearman correlation within a stratum (strata where it is
    undefined, a constant side, are left out); NaN when none is defined."""
    rhos = [
        float(rank_correlation(x, [np.array([v]) for v in y])[0])
        for x, y in zip(xs, ys, strict=True)
    ]
    defined = [r for r in rhos if math.isfinite(r)]
    return float(np.mean(defined)) if defined else math.nan


def stratified_permutation_test(
    xs: Sequence[Sequence[float]], ys: Sequence[Sequence[float]], seed: int = 0
) -> tuple[float, float, float]:
    """(stratified rho, P(rho_perm >= rho), P(rho_perm <= rho)) under the null that
    shuffles y within each stratum: every combination when they are few, else random ones."""
    observed = stratified_rho(xs, ys)
    if not math.isfinite(observed):
        return math.nan, 1.0, 1.0
    # Each stratum's rho under each of its permutations; undefined strata stay undefined.
    per_stratum = []
    for x, y in zip(xs, ys, strict=True):
        shuffled = [
            np.array([y[i] for i in order]) for order in itertools.permutations(range(len(y)))
        ]
        rhos = rank_correlation(x, list(np.stack(shuffled, axis=1)))
        if np.isfinite(rhos).all():
            per_stratum.append(rhos)
    if math.prod(len(r) for r in per_stratum) <= C3_EXACT_PERMUTATIONS:
        total = np.zeros(1)
        for rhos in per_stratum:
            total = np.add.outer(total, rhos).ravel()
    else:
        rng = np.random.default_rng(seed)
        picks = [r[rng.integers(0, len(r), C3_RANDOM_PERMUTATIONS)] for r in per_stratum]
        total = np.sum(picks, axis=0)
    null = total / len(per_stratum)
    tolerance = 1e-12  # ties with the observed value count as at least as extreme
    above = float(np.mean(null >= observed - tolerance))
    return observed, above, float(np.mean(null <= observed + tolerance))
