"""Bootstrap resamples of every condition of the grid, from the runs' per_query.npz.

A condition is (experiment, scheme, level, metric); its runs are its seeds. Conditions
are resampled together (`irnoise.report.bootstrap.resample_runs`): the runs of one
experiment share their seed draws and their query draws (its evaluation set is their
test set), so the clean and the noisy runs of a seed are paired; different experiments
(unrelated trainings) get independent seed draws. Tables,
figures and findings compute their statistics (relative drops, differences of drops,
rank correlations) from the same resamples.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from irnoise.errors import UserError
from irnoise.evaluate.per_query import load_per_query
from irnoise.plan import CLEAN_SCHEME, level_name, parse_run_path
from irnoise.report.bootstrap import (
    Interval,
    PerQuery,
    Resampled,
    relative_drop,
    resample_runs,
)
from irnoise.report.metric_samples import metric_samples

if TYPE_CHECKING:
    import pandas as pd


def method_text(resamples: int, confidence: float) -> str:
    """How the intervals of a table or the findings are made, for their legends."""
    return (
        f"{percent(confidence)} intervals: seed-level t intervals, estimate +- t(seeds - 1) x "
        f"the standard error of a paired two-stage bootstrap ({resamples} resamples) over the "
        "seeds and the test queries (listed pairs for TPR@FPR, drawn within same/different "
        "identity; over all pairs of test images, the images drawn within identity): the "
        "clean and the noisy run of a seed are scored on the same resampled queries; no "
        "interval with one seed"
    )


def percent(confidence: float) -> str:
    """A confidence level as a legend writes it: 0.95 -> '95%'."""
    return f"{100 * confidence:g}%"


@dataclass(frozen=True)
class Condition:
    experiment: str
    scheme: str
    level: float
    metric: str

    @property
    def name(self) -> str:
        return f"{self.experiment}|{self.scheme}|{level_name(self.level)}|{self.metric}"

    @property
    def clean(self) -> Condition:
        return Condition(self.experiment, CLEAN_SCHEME, 0.0, self.metric)


@dataclass(frozen=True)
class GridResamples:
    """Resampled metrics of the conditions that have per-query arrays for every seed."""

    resampled: Resampled
    seeds: tuple[int, ...]
    confidence: float  # the level of every interval

    def has(self, *conditions: Condition) -> bool:
        return all(c.name in self.resampled.values for c in conditions)

    def metric(self, condition: Condition) -> np.ndarray:
        return self.resampled.values[condition.name]

    def interval(self, statistic) -> Interval:
        return self.resampled.interval(statistic, self.confidence)

    def drop(self, condition: Condition) -> Interval:
        """Relative drop (clean - noisy) / clean of a noisy condition; NaN if missing."""
        if not self.has(condition, condition.clean):
            return Interval(np.nan, np.nan, np.nan, self.confidence)
        noisy, clean = condition.name, condition.clean.name
        return self.interval(lambda m: relative_drop(m[clean], m[noisy]))


def grid_resamples(
    frame: pd.DataFrame,
    per_query_paths: Sequence[str | os.PathLike],
    metrics: Iterable[str] | None,
    n_resamples: int,
    confidence: float,
    seed: int = 0,
    runs_of: Mapping[str, str] | None = None,
) -> GridResamples:
    """Resamples of the conditions of the tidy metrics table `frame` (optionally only
    `metrics`), from the per_query.npz of each of their runs. `runs_of` maps an experiment
    of `frame` to the experiment whose run folders hold its arrays (a recipe's findings
    read a derived experiment's runs under the config's experiment name)."""
    paths = _paths_by_run(per_query_paths)
    if runs_of is not None:
        # Only the runs it reads: another recipe's runs would take the same names.
        renamed = {run: name for name, run in runs_of.items()}
        paths = {(renamed[e], *rest): path for (e, *rest), path in paths.items() if e in renamed}
    wanted = None if metrics is None else set(metrics)
    seeds = tuple(sorted(set(frame["seed"].astype(int))))
    runs: dict[str, list[PerQuery]] = {}
    groups: dict[str, str] = {}
    cache: dict[str, dict[str, np.ndarray]] = {}
    for key, rows in frame.groupby(["experiment", "scheme", "level", "metric"], sort=True):
        experiment, scheme, level, metric = key
        if wanted is not None and metric not in wanted:
            continue
        condition = Condition(experiment, scheme, float(level), metric)
        samples = _condition_samples(condition, rows["eval"].iloc[0], seeds, paths, cache)
        if samples is not None:
            runs[condition.name] = samples
            groups[condition.name] = experiment
    if not runs:
        return GridResamples(Resampled({}, {}, len(seeds)), seeds, confidence)
    resampled = resample_runs(runs, n_resamples, seed, groups)
    return GridResamples(resampled, seeds, confidence)


def _condition_samples(
    condition: Condition,
    test_set: str,
    seeds: tuple[int, ...],
    paths: dict[tuple[str, str, float, int], str],
    cache: dict[str, dict[str, np.ndarray]],
) -> list[PerQuery] | None:
    """The condition's samples per seed; None (with a note) when a seed lacks them."""
    samples = []
    for seed in seeds:
        path = paths.get((condition.experiment, condition.scheme, condition.level, seed))
        if path is None:
            print(f"irnoise: no per-query arrays for {condition.name}, seed {seed}: no "
                  "interval for it", file=sys.stderr)  # fmt: skip
            return None
        if path not in cache:
            cache[path] = load_per_query(path)
        try:
            samples.append(metric_samples(cache[path], condition.metric, test_set))
        except KeyError:
            return None  # a metric without a per-query form (10-fold accuracy)
    return samples


def _paths_by_run(paths: Sequence[str | os.PathLike]) -> dict[tuple[str, str, float, int], str]:
    by_run = {}
    for path in paths:
        run = parse_run_path(path)
        key = (run.experiment, run.scheme, run.level, run.seed)
        if key in by_run:
            raise UserError(f"per-query arrays of {key} given twice: {by_run[key]} and {path}")
        by_run[key] = str(path)
    return by_run


def with_drop_intervals(
    drops: pd.DataFrame,
    frame: pd.DataFrame,
    per_query_paths: Sequence[str | os.PathLike],
    n_resamples: int,
    confidence: float,
) -> pd.DataFrame:
    """`drops` (a summary with relative drops) with `drop_low` and `drop_high`: the
    `confidence` interval of each noisy row's drop, 0 for clean rows, NaN where there is none."""
    grid = grid_resamples(frame, per_query_paths, set(drops["metric"]), n_resamples, confidence)
    lows, highs = [], []
    for row in drops.itertuples():
        if row.scheme == CLEAN_SCHEME:
            lows.append(0.0)
            highs.append(0.0)
            continue
        interval = grid.drop(Condition(row.experiment, row.scheme, float(row.level), row.metric))
        lows.append(interval.low)
        highs.append(interval.high)
    return drops.assign(drop_low=lows, drop_high=highs)


def drop_error(rows: pd.DataFrame) -> np.ndarray:
    """Error bars of the drops, in the drops' unit: the interval (2 x n, below and above)
    when `rows` has one, else the std over seeds."""
    if "drop_low" in rows:
        below = (rows["drop"] - rows["drop_low"]).to_numpy(dtype=float)
        above = (rows["drop_high"] - rows["drop"]).to_numpy(dtype=float)
        # Error bars cannot be negative (an interval without bounds gives NaN).
        return np.maximum(np.stack([below, above]), 0.0)
    return rows["drop_std"].to_numpy(dtype=float)
