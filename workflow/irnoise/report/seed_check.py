"""Seed-level t intervals from metrics.csv alone: the check that every verdict must pass.

Each run gives one value per metric; a claim's effect is computed per seed (a relative
drop of the seed's clean and noisy runs, a difference of drops, a rank correlation),
and the interval is the classical t interval of its mean over seeds. Runs of one
experiment are paired by seed; runs of different experiments are not (Welch's interval
of the difference of two means). No query resampling: this is what a reader can
recompute from metrics.csv with a calculator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

NAN_PAIR = (math.nan, math.nan)


def per_seed_metrics(frame: pd.DataFrame, name_of) -> dict[str, dict[int, float]]:
    """condition name -> {seed: value}; `name_of(experiment, scheme, level, metric)` names
    the condition (as `irnoise.report.intervals.Condition.name`)."""
    values: dict[str, dict[int, float]] = {}
    for row in frame.itertuples():
        name = name_of(row.experiment, row.scheme, float(row.level), row.metric)
        values.setdefault(name, {})[int(row.seed)] = float(row.value)
    return values


def mean_interval(values: Sequence[float], level: float) -> tuple[float, float]:
    """The t interval of the mean of `values` (NaN with fewer than 2 finite values)."""
    from scipy.stats import t as student

    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if len(finite) < 2:
        return NAN_PAIR
    half = (
        student.ppf((1 + level) / 2, len(finite) - 1) * finite.std(ddof=1) / math.sqrt(len(finite))
    )
    return float(finite.mean() - half), float(finite.mean() + half)


def welch_interval(a: Sequence[float], b: Sequence[float], level: float) -> tuple[float, float]:
    """Welch's t interval of mean(a) - mean(b), for unpaired samples."""
    from scipy.stats import t as student

    a = np.asarray([v for v in a if math.isfinite(v)], dtype=np.float64)
    b = np.asarray([v for v in b if math.isfinite(v)], dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return NAN_PAIR
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        difference = float(a.mean() - b.mean())
        return difference, difference
    freedom = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = student.ppf((1 + level) / 2, freedom) * math.sqrt(va + vb)
    difference = float(a.mean() - b.mean())
    return difference - half, difference + half


def per_seed_drops(
    values: Mapping[str, Mapping[int, float]], clean: str, noisy: str
) -> dict[int, float]:
    """(clean - noisy) / clean per seed that has both runs."""
    clean_values, noisy_values = values.get(clean, {}), values.get(noisy, {})
    seeds = sorted(set(clean_values) & set(noisy_values))
    return {
        s: (clean_values[s] - noisy_values[s]) / clean_values[s] if clean_values[s] else math.nan
        for s in seeds
    }
