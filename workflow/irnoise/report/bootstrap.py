"""Paired bootstrap intervals for statistics that combine runs (relative drops and the like).

What is resampled: the seeds and, within each drawn seed, the test queries (or pairs). One
resample draws S seeds with replacement (S = the number of seeds) and, for each draw, one
multiset of query indices with replacement. Runs are **paired**: every run of a drawn seed
that was evaluated on the same test set (same `test_set` key) is scored on the same query
indices, so a clean and a noisy run are compared on the same queries. A run's resampled
metric is the mean, over the S drawn seeds, of its metric on that seed's drawn queries; a
statistic then combines the runs' metrics (a relative drop, a difference of drops, a rank
correlation...). The estimate is the statistic on the full data (every query, the mean
over the seeds). The interval is a **seed-level t interval**: estimate +- t(S - 1) x SE,
where SE is the standard deviation of the statistic over the two-stage resamples scaled
by sqrt(S / (S - 1)) (the bootstrap's variance of a mean of S draws is the plug-in one,
biased by (S - 1) / S), and t(S - 1) the Student quantile at the level asked for (the
config's statistics.confidence). The resamples carry both sources of variance (the
seed-to-seed spread and the query noise within a seed); the t quantile accounts for
estimating that spread from S seeds, which a percentile interval cannot (its seed part is
[min, max] of S values: it covers 74% at 3 seeds). With one seed there is no interval.
docs/statistics.md gives the simulated coverage.

Seed draws: runs of one `group` (one experiment: its seeds are the same trainings) share
their seed draws; runs of different groups are drawn independently (their seeds are
unrelated trainings, and pairing them by seed number would narrow the interval).
Pairs (`PairTpr`) are drawn stratified by same/different identity, so the number of
negatives, and with it the number of false positives the threshold allows, is the same
in every resample.

Two kinds of per-query samples (`PerQuery`):

- `QueryMean`: metrics that are a mean over queries of a per-query value (R@k hits,
  classification correctness, per-query average precision), over the `valid` queries only
  (retrieval queries with at least one positive);
- `PairTpr`: TPR at a fixed FPR on scored pairs; the threshold is recomputed on every
  resample, as `irnoise.evaluate.metrics.tpr_at_fpr` defines it.

Resampled query sets are count matrices (resample x query: how often each query was
drawn), so every metric of every resample is a weighted sum: vectorized with numpy.

`resample_runs` gives each run's resampled metric once, for any number of statistics
(`Resampled.interval`); a run's resamples do not depend on which other runs are passed,
so Table 1, the findings and the figures report the same interval for the same drop.

`seed_bootstrap` is the seeds-only variant, for runs that give one scalar per seed
(a detector's AUROC per seed), with the same t interval.

A statistic receives a mapping run name -> 1-D array of that run's metric, one entry per
resample (the estimate is computed with arrays of length 1), and returns an array of the
same length; write it with numpy operations (`1 - m["noisy"] / m["clean"]`). A resample
whose statistic is NaN (a metric undefined on the drawn queries) is left out of the
standard error; `Interval.resamples` counts the ones kept.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from irnoise.evaluate.metrics import allowed_false_positives

Statistic = Callable[[Mapping[str, np.ndarray]], np.ndarray]
CHUNK = 256  # resamples scored at once: bounds the count matrices' memory


@dataclass(frozen=True)
class Interval:
    """A point estimate and its seed-level t interval (NaN when undefined)."""

    estimate: float
    low: float
    high: float
    level: float
    resamples: int = 0  # resamples with a defined statistic

    def excludes(self, value: float = 0.0) -> bool:
        """Whether the whole interval lies strictly above or strictly below `value`."""
        return bool(self.low > value or self.high < value)

    def above(self, value: float) -> bool:
        return bool(self.low > value)

    def below(self, value: float) -> bool:
        return bool(self.high < value)


class PerQuery(Protocol):
    """One run's per-query (or per-pair) evaluation of one metric on one seed's test set."""

    test_set: str

    def __len__(self) -> int: ...

    def strata(self) -> np.ndarray | None:
        """Stratum of each query for the draws (None: one stratum)."""

    def value(self) -> float:
        """The metric on every query, each once."""

    def resampled(self, counts: np.ndarray) -> np.ndarray:
        """The metric of each row of `counts` (resample x query draw counts)."""


@dataclass(frozen=True)
class QueryMean:
    """A metric that is the mean of `values` over the `valid` queries (all when None)."""

    values: np.ndarray
    valid: np.ndarray | None = None
    test_set: str = ""

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        valid = np.ones(len(values), bool) if self.valid is None else np.asarray(self.valid, bool)
        if valid.shape != values.shape:
            raise ValueError(f"{len(valid)} valid flags for {len(values)} values")
        values = np.where(valid, values, 0.0)  # NaN of invalid queries must not propagate
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "valid", valid)

    def __len__(self) -> int:
        return len(self.values)

    def strata(self) -> None:
        return None

    def value(self) -> float:
        return float(_ratio(self.values.sum(), self.valid.sum()))

    def resampled(self, counts: np.ndarray) -> np.ndarray:
        # Row-wise products, not `counts @ values`: BLAS is slow on this shape (measured
        # 5x on 256 x 3,000 counts) and would convert the integer counts first.
        numerator = np.einsum("ij,j->i", counts, self.values)
        denominator = counts[:, self.valid].sum(axis=1)
        return _ratio(numerator, denominator)


@dataclass(frozen=True)
class PairTpr:
    """TPR at `fpr` on pair `scores` with same/different flags `is_same` (see module doc)."""

    scores: np.ndarray
    is_same: np.ndarray
    fpr: float
    test_set: str = ""

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        same = np.asarray(self.is_same).astype(bool).reshape(-1)
        if scores.shape != same.shape:
            raise ValueError(f"{len(scores)} scores for {len(same)} pair labels")
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "is_same", same)

    def __len__(self) -> int:
        return len(self.scores)

    def strata(self) -> np.ndarray:
        # Same/different drawn apart: the allowed false-positive count never flips.
        return self.is_same

    def value(self) -> float:
        return float(self.resampled(np.ones((1, len(self)), np.int64))[0])

    def resampled(self, counts: np.ndarray) -> np.ndarray:
        if self.is_same.all() or not self.is_same.any():
            return np.full(len(counts), np.nan)  # TPR@FPR needs positives and negatives
        # Negatives by descending score: the threshold must pass at most `allowed` of them.
        negative = np.flatnonzero(~self.is_same)
        negative = negative[np.argsort(-self.scores[negative], kind="stable")]
        positive = np.flatnonzero(self.is_same)
        positive = positive[np.argsort(self.scores[positive], kind="stable")]
        # Integer cumulative sums: exact, and several times faster than float ones.
        negative_counts = np.cumsum(counts[:, negative], axis=1, dtype=np.int32)
        total_negatives = negative_counts[:, -1]
        allowed = allowed_false_positives(total_negatives, self.fpr)
        # The (allowed + 1)-th highest drawn negative bounds the threshold from below.
        first_over = (negative_counts <= allowed[:, None]).sum(axis=1)
        everything_passes = allowed >= total_negatives
        bound = self.scores[negative[np.minimum(first_over, len(negative) - 1)]]
        # Positives scoring strictly above the bound pass.
        ascending = self.scores[positive]
        below = np.searchsorted(ascending, bound, side="right")
        positive_counts = np.cumsum(counts[:, positive], axis=1, dtype=np.int32)
        total_positives = positive_counts[:, -1]
        at_or_below = np.where(
            below > 0, positive_counts[np.arange(len(counts)), np.maximum(below - 1, 0)], 0
        )
        tpr = _ratio(total_positives - at_or_below, total_positives)
        tpr = np.where(everything_passes & (total_positives > 0), 1.0, tpr)
        return np.where(total_negatives > 0, tpr, np.nan)


def paired_bootstrap(
    runs: Mapping[str, Sequence[PerQuery]],
    statistic: Statistic,
    n_resamples: int,
    level: float,
    seed: int = 0,
) -> Interval:
    """The interval of one statistic of the runs; see the module docstring.

    `runs` maps a run name to its PerQuery of each seed, in the same seed order for every
    run; runs of one seed with the same `test_set` must have the same number of queries.
    """
    return paired_bootstrap_many(runs, {"": statistic}, n_resamples, level, seed)[""]


def paired_bootstrap_many(
    runs: Mapping[str, Sequence[PerQuery]],
    statistics: Mapping[str, Statistic],
    n_resamples: int,
    level: float,
    seed: int = 0,
) -> dict[str, Interval]:
    """Intervals of several statistics, all computed on the same resamples (faster)."""
    resampled = resample_runs(runs, n_resamples, seed)
    return {name: resampled.interval(statistic, level) for name, statistic in statistics.items()}


@dataclass(frozen=True)
class Resampled:
    """Each run's metric on the full data (mean over seeds) and on every resample."""

    estimates: dict[str, float]
    values: dict[str, np.ndarray]  # run name -> (n_resamples,)
    n_seeds: int = 0

    def interval(self, statistic: Statistic, level: float) -> Interval:
        estimates = {name: np.array([value]) for name, value in self.estimates.items()}
        return t_interval(statistic(estimates), statistic(self.values), level, self.n_seeds)


def resample_runs(
    runs: Mapping[str, Sequence[PerQuery]],
    n_resamples: int,
    seed: int = 0,
    groups: Mapping[str, str] | None = None,
) -> Resampled:
    """Every run's resampled metric; statistics of them are paired (module docstring).

    `groups` maps a run to its experiment: runs of one group share their seed draws, runs
    of different groups are drawn independently (default: one group for all).
    A run's resampled values depend only on `seed`, `n_resamples`, the number of seeds,
    its group, its test set and its own samples: not on the other runs passed along. So
    intervals computed from different subsets of the runs (Table 1, findings, figures) agree.
    """
    n_seeds = _seed_count(runs)
    estimates = {name: float(np.mean([q.value() for q in qs])) for name, qs in runs.items()}
    group_of = {name: (groups or {}).get(name, "") for name in runs}
    resampled = {name: np.empty((n_resamples, n_seeds)) for name in runs}
    for group in sorted(set(group_of.values())):
        members = {name: qs for name, qs in runs.items() if group_of[name] == group}
        drawn_seeds = _seed_draws(seed, n_seeds, n_resamples, group)
        for s in range(n_seeds):
            positions = np.flatnonzero(drawn_seeds.ravel() == s)
            for test_set, names in _test_set_groups(members, s).items():
                # One stream per (seed, test set): its query draws never depend on other runs.
                rng = np.random.default_rng([seed, s, zlib.crc32(test_set.encode())])
                strata = members[names[0]][s].strata()
                n_queries = len(members[names[0]][s])
                for start in range(0, len(positions), CHUNK):
                    chunk = positions[start : start + CHUNK]
                    counts = draw_counts(rng, len(chunk), n_queries, strata)
                    for name in names:
                        np.put(resampled[name], chunk, members[name][s].resampled(counts))
    values = {name: v.mean(axis=1) for name, v in resampled.items()}
    return Resampled(estimates, values, n_seeds)


def _seed_draws(seed: int, n_seeds: int, n_resamples: int, group: str) -> np.ndarray:
    """(resample x seed) drawn seed positions of one group; the unnamed group keeps the
    stream it always had."""
    key = [seed, n_seeds] + ([zlib.crc32(group.encode())] if group else [])
    return np.random.default_rng(key).integers(0, n_seeds, size=(n_resamples, n_seeds))


def seed_bootstrap(
    runs: Mapping[str, Sequence[float]],
    statistic: Statistic,
    n_resamples: int,
    level: float,
    seed: int = 0,
) -> Interval:
    """The seeds-only variant: each run gives one scalar per seed (same seed order).

    A resample draws the seeds with replacement; a run's value is its mean over them. The
    interval is the same seed-level t interval (for a mean over seeds: the classical one).
    """
    n_seeds = _seed_count(runs)
    values = {name: np.asarray(v, dtype=np.float64) for name, v in runs.items()}
    drawn = np.random.default_rng(seed).integers(0, n_seeds, size=(n_resamples, n_seeds))
    estimates = {name: np.array([v.mean()]) for name, v in values.items()}
    metrics = {name: v[drawn].mean(axis=1) for name, v in values.items()}
    return t_interval(statistic(estimates), statistic(metrics), level, n_seeds)


def t_interval(estimate, resampled, level: float, n_seeds: int) -> Interval:
    """estimate +- t(n_seeds - 1) x the resamples' standard deviation x sqrt(S / (S - 1))
    (module docstring); NaN bounds with fewer than 2 seeds or 2 defined resamples."""
    from scipy.stats import t as student

    resampled = np.asarray(resampled, dtype=np.float64).reshape(-1)
    kept = resampled[np.isfinite(resampled)]
    point = float(np.asarray(estimate, dtype=np.float64).reshape(-1)[0])
    if n_seeds < 2 or len(kept) < 2 or not np.isfinite(point):
        return Interval(point, float("nan"), float("nan"), level, len(kept))
    standard_error = kept.std(ddof=1) * np.sqrt(n_seeds / (n_seeds - 1))
    half = float(student.ppf((1 + level) / 2, n_seeds - 1) * standard_error)
    return Interval(point, point - half, point + half, level, len(kept))


def relative_drop(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """(clean - noisy) / clean: the share of the clean metric that noise loses."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (clean - noisy) / clean


def rank_correlation(x: Sequence[float], ys: Sequence[np.ndarray]) -> np.ndarray:
    """Spearman correlation of fixed `x` with y, per resample; ys[i] holds y_i per resample.

    Ties get average ranks (as scipy.stats.spearmanr); NaN where a side is constant.
    """
    x_ranks = _average_ranks(np.asarray(x, dtype=np.float64)[None, :])
    y_ranks = _average_ranks(np.stack([np.asarray(y, dtype=np.float64) for y in ys], axis=1))
    xc = x_ranks - x_ranks.mean(axis=1, keepdims=True)
    yc = y_ranks - y_ranks.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (xc * yc).sum(1) / np.sqrt((xc**2).sum(1) * (yc**2).sum(1))


def draw_counts(
    rng: np.random.Generator, rows: int, n: int, strata: np.ndarray | None = None
) -> np.ndarray:
    """`rows` resamples of n indices out of n with replacement, as draw counts per index
    (int32: rows x n); with `strata` (a label per index), each stratum is drawn apart with
    its own size, so every resample holds as many of each stratum as the data."""
    if n == 0:
        return np.zeros((rows, 0), dtype=np.int32)
    if strata is None:
        return _draw_counts(rng, rows, n)
    counts = np.zeros((rows, n), dtype=np.int32)
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        counts[:, members] = _draw_counts(rng, rows, len(members))
    return counts


def _draw_counts(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    drawn = rng.integers(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]
    return np.bincount(drawn.ravel(), minlength=rows * n).reshape(rows, n).astype(np.int32)


def _average_ranks(rows: np.ndarray) -> np.ndarray:
    """Ranks (1-based, ties averaged) along axis 1; rows with NaN give NaN ranks."""
    from scipy.stats import rankdata

    return rankdata(rows, method="average", axis=1, nan_policy="propagate")


def _seed_count(runs: Mapping[str, Sequence]) -> int:
    counts = {name: len(per_seed) for name, per_seed in runs.items()}
    if not counts or len(set(counts.values())) != 1 or 0 in counts.values():
        raise ValueError(f"every run needs the same, non-zero number of seeds, got {counts}")
    return next(iter(counts.values()))


def _test_set_groups(runs: Mapping[str, Sequence[PerQuery]], s: int) -> dict[str, list[str]]:
    """Run names of seed s grouped by test set: each group shares its query resamples."""
    groups: dict[str, list[str]] = {}
    for name, per_seed in runs.items():
        groups.setdefault(per_seed[s].test_set, []).append(name)
    for test_set, names in groups.items():
        sizes = {name: len(runs[name][s]) for name in names}
        if len(set(sizes.values())) != 1:
            raise ValueError(
                f"seed {s}, test set {test_set!r}: paired runs need the same queries, got "
                f"sizes {sizes}; give runs on different test sets different test_set keys"
            )
    return groups


def _ratio(numerator, denominator):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1e-300), np.nan)
