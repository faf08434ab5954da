"""How often the report's intervals cover the true effect: a simulation of the two-level model.

Each replicate simulates S seeds of a clean and a noisy run scored on the same queries:
a seed moves each run's accuracy (training noise, `seed_sd`), and a query is a hit when
its difficulty (shared by the runs of a seed) plus the run's own luck (`luck_sd`) is
below the run's accuracy. The true effect is the relative drop of the expected accuracies,
(clean - noisy) / clean; a replicate covers it when its interval
(`irnoise.report.bootstrap.paired_bootstrap`, the one every table uses) contains it.

    python -m irnoise.report.coverage      # the numbers docs/statistics.md quotes
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from irnoise.report.bootstrap import QueryMean, paired_bootstrap, relative_drop

CLEAN, NOISY = 0.6, 0.5  # expected accuracies: a true drop of 1/6


@dataclass(frozen=True)
class Model:
    """One two-level model: seed noise of the accuracies and query noise within a seed."""

    seeds: int
    seed_sd: float  # sd of a run's accuracy over seeds (training noise)
    luck_sd: float  # a run's own noise per query, beside the shared difficulty
    queries: int = 200


def replicate_runs(rng: np.random.Generator, model: Model) -> dict[str, list[QueryMean]]:
    """The clean and noisy runs of one replicate's seeds, paired through the difficulty."""
    runs: dict[str, list[QueryMean]] = {"clean": [], "noisy": []}
    for _ in range(model.seeds):
        difficulty = rng.random(model.queries)
        for name, accuracy in (("clean", CLEAN), ("noisy", NOISY)):
            shift = rng.normal(0, model.seed_sd)
            luck = rng.normal(0, model.luck_sd, model.queries)
            # Luck widens the spread of scores: rescale so that the accuracy stays expected.
            threshold = _quantile_of_sum(accuracy, model.luck_sd)
            runs[name].append(QueryMean(difficulty + luck < threshold + shift))
    return runs


def coverage(
    model: Model, replicates: int, resamples: int = 200, level: float = 0.95, seed: int = 0
) -> float:
    """Share of replicates whose interval contains the true drop."""
    rng = np.random.default_rng([seed, model.seeds])
    true_drop = (CLEAN - NOISY) / CLEAN
    covered = 0
    for index in range(replicates):
        runs = replicate_runs(rng, model)
        interval = paired_bootstrap(runs, _drop, resamples, level, seed=index)
        covered += bool(interval.low <= true_drop <= interval.high)
    return covered / replicates


def _drop(m):
    return relative_drop(m["clean"], m["noisy"])


@lru_cache
def _quantile_of_sum(probability: float, luck_sd: float) -> float:
    """t with P(U + N(0, luck_sd) < t) = probability, U uniform on [0, 1] (bisection)."""
    from scipy.stats import norm

    def share_below(t: float) -> float:
        if luck_sd == 0:
            return min(max(t, 0.0), 1.0)
        grid = np.linspace(0, 1, 2001)
        return float(norm.cdf((t - grid) / luck_sd).mean())

    low, high = -1.0 - 5 * luck_sd, 2.0 + 5 * luck_sd
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if share_below(middle) < probability else (low, middle)
    return (low + high) / 2


# Seed noise dominating (the default run: a seed SE of the paired R@1 difference 2-3x the
# query SE), then both of similar size, then query noise dominating.
MODELS = {
    "seed-dominated": dict(seed_sd=0.03, luck_sd=0.1, queries=500),
    "balanced": dict(seed_sd=0.01, luck_sd=0.2, queries=500),
    "query-dominated": dict(seed_sd=0.0, luck_sd=0.3, queries=500),
}


def main(replicates: int = 2000, resamples: int = 200) -> None:
    print(f"coverage of the true drop by 95% intervals, {replicates} replicates each")
    for name, parameters in MODELS.items():
        for seeds in (3, 5):
            share = coverage(Model(seeds, **parameters), replicates, resamples)
            print(f"{name:>16}, {seeds} seeds: {100 * share:.1f}%")


if __name__ == "__main__":
    main()
