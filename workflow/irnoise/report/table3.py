"""Table 3: noise-robust training methods under each noise scheme.

For each experiment, method, scheme and level of the Table 3 grid:

- R@1: the mean over seeds, with a seed-level t interval (statistics.confidence);
- the headline: the gain, method_noisy - none_noisy in R@1 points (plain training on the
  same noise, seeds and queries), with its interval;
- the share of the drop recovered, (method_noisy - none_noisy) / (none_clean - none_noisy)
  of the seed means (1 = back to the clean model, 0 = no better than plain training,
  negative = worse), with its interval; undefined where noise costs nothing;
- that drop itself, none_clean - none_noisy in R@1 points, with its interval: where
  the interval does not lie above 0, plain training lost no measurable R@1 and the share divides by
  noise (the markdown marks those shares); the share is readable (`share_readable`) only
  where the drop is measured well: its seeds-only interval lies above 0 too and its
  coefficient of variation over seeds is at most `MAX_DROP_CV`;
- for filtering methods, the precision and recall of the rows they dropped against the
  rows whose label the noise changed (each run's filter.json), mean over seeds, with
  intervals.

Intervals (`irnoise.report.bootstrap`, docs/statistics.md): with every run's
per_query.npz, the paired two-stage bootstrap over seeds and test queries (the clean,
noisy and method runs of a drawn seed are scored on the same drawn queries); without
them, the seeds-only bootstrap (none with fewer than two seeds). Precision and recall
give one number per seed: seeds-only. Values in %.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from irnoise.errors import UserError
from irnoise.plan import CLEAN_SCHEME, METHODS, PLAIN, clean_run, level_name, parse_run_path
from irnoise.report.bootstrap import Interval, resample_runs, seed_bootstrap
from irnoise.report.collect import read_json

if TYPE_CHECKING:
    import pandas as pd

METRIC = "R@1"
STATISTICS = ("gain", "r1", "recovered", "drop", "precision", "recall")
# The share divides by the drop: above this spread of the per-seed drops (std / mean),
# single seeds give shares like 137% and -625% and the mean share is not readable.
MAX_DROP_CV = 0.5
COLUMNS = [
    "experiment",
    "method",
    "scheme",
    "level",
    "seeds",
    *[f"{name}{suffix}" for name in STATISTICS for suffix in ("", "_low", "_high")],
    "drop_seed_low",
    "drop_cv",
    "share_readable",
]
RunKey = tuple[str, str, str, float, int]  # method, experiment, scheme, level, seed


def read_filters(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per filter.json: its run (from the path), precision and recall."""
    import pandas as pd

    rows = []
    for path in paths:
        run = parse_run_path(path)
        data = read_json(path, "filter summary")
        rows.append(
            {
                "method": run.method,
                "experiment": run.experiment,
                "scheme": run.scheme,
                "level": run.level,
                "seed": run.seed,
                "precision": _number(data.get("precision")),
                "recall": _number(data.get("recall")),
            }
        )
    columns = ["method", "experiment", "scheme", "level", "seed", "precision", "recall"]
    return pd.DataFrame(rows, columns=columns)


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def per_query_paths(paths: Sequence[str | os.PathLike]) -> dict[RunKey, str]:
    """Each run's per_query.npz by (method, experiment, scheme, level, seed)."""
    by_run: dict[RunKey, str] = {}
    for path in paths:
        run = parse_run_path(path)
        key = (run.method, run.experiment, run.scheme, run.level, run.seed)
        by_run[key] = os.fspath(path)
    return by_run


def recovered_share(m: dict[str, np.ndarray]) -> np.ndarray:
    """(method - none) / (clean - none), elementwise over resamples; NaN where no drop."""
    gap = m["clean"] - m["none"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap != 0, (m["method"] - m["none"]) / np.where(gap != 0, gap, 1), np.nan)


def noise_drop(m: dict[str, np.ndarray]) -> np.ndarray:
    """R@1 that plain training loses to the noise: the share's denominator."""
    return m["clean"] - m["none"]


def gain(m: dict[str, np.ndarray]) -> np.ndarray:
    """R@1 the method wins over plain training on the same noise: the headline."""
    return m["method"] - m["none"]


def condition_intervals(
    values: dict[str, list[float]],
    samples: dict[str, list] | None,
    resamples: int,
    confidence: float,
) -> tuple[Interval, Interval, Interval, Interval]:
    """(gain, R@1 of the method, share recovered, drop): paired over queries and seeds when
    there are per-query samples, else over seeds only (no interval with one seed)."""
    statistics = (gain, lambda m: m["method"], recovered_share, noise_drop)
    if samples is not None:
        resampled = resample_runs(samples, resamples)
        return tuple(resampled.interval(statistic, confidence) for statistic in statistics)
    intervals = [
        seed_bootstrap(values, statistic, resamples, confidence) for statistic in statistics
    ]
    if len(values["method"]) < 2:
        intervals = [Interval(i.estimate, np.nan, np.nan, confidence) for i in intervals]
    return tuple(intervals)


def condition_samples(
    paths: dict[RunKey, str],
    keys: dict[str, tuple[str, str, str, float]],
    seeds: list[int],
    test_set: str,
) -> dict[str, list] | None:
    """Per-query R@1 samples of the clean, none and method runs per seed, if all exist."""
    from irnoise.evaluate.per_query import load_per_query
    from irnoise.report.metric_samples import metric_samples

    if any((*key, seed) not in paths for key in keys.values() for seed in seeds):
        return None
    return {
        name: [metric_samples(load_per_query(paths[(*key, s)]), METRIC, test_set) for s in seeds]
        for name, key in keys.items()
    }


def build_table3(
    metrics: pd.DataFrame,
    filters: pd.DataFrame,
    per_query: Sequence[str | os.PathLike],
    resamples: int,
    confidence: float,
) -> pd.DataFrame:
    """The tidy Table 3 (COLUMNS), from the tidy metrics, the filter summaries and the
    runs' per_query.npz (may be empty: then intervals over seeds only), with `resamples`
    bootstrap resamples and `confidence` level."""
    import pandas as pd

    paths = per_query_paths(per_query)

    r1 = metrics[metrics["metric"] == METRIC]
    if r1.empty:
        raise UserError(f"no {METRIC} in the metrics given: Table 3 needs retrieval runs")
    rows = []
    for experiment, runs in r1.groupby("experiment", sort=True):
        clean = _by_seed(runs, PLAIN, CLEAN_SCHEME, None)
        if clean.empty:
            raise UserError(
                f"experiment {experiment!r} has no clean run of method none: the share of the "
                f"drop recovered is measured against it; add "
                f"{clean_run(experiment)}/metrics.json"
            )
        noisy = runs[runs["scheme"] != CLEAN_SCHEME]
        for (method, scheme, level), _ in noisy.groupby(["method", "scheme", "level"]):
            none = _by_seed(runs, PLAIN, scheme, level)
            mine = _by_seed(runs, method, scheme, level)
            seeds = sorted(set(clean.index) & set(none.index) & set(mine.index))
            if not seeds:
                raise UserError(
                    f"{experiment}/{scheme}/{level_name(level)}: method {method} has no seed "
                    "in common with method none's clean and noisy runs: run them on the same seeds"
                )
            values = {"clean": clean[seeds], "none": none[seeds], "method": mine[seeds]}
            keys = {
                "clean": (PLAIN, experiment, CLEAN_SCHEME, 0.0),
                "none": (PLAIN, experiment, scheme, level),
                "method": (method, experiment, scheme, level),
            }
            test_set = str(runs["eval"].iloc[0])
            samples = condition_samples(paths, keys, seeds, test_set)
            as_lists = {name: list(v) for name, v in values.items()}
            won, r1, recovered, drop = condition_intervals(as_lists, samples, resamples, confidence)
            row = {
                "experiment": experiment,
                "method": method,
                "scheme": scheme,
                "level": level,
                "seeds": len(seeds),
            }
            row |= _named("gain", won, scale=100)
            row |= _named("r1", r1, scale=100)
            row |= _named("recovered", recovered, scale=100)
            row |= _named("drop", drop, scale=100)
            condition = (experiment, method, scheme, level)
            row |= _filter_statistics(filters, condition, resamples, confidence)
            row |= drop_quality(as_lists, drop, resamples, confidence)
            rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = {method: i for i, method in enumerate(METHODS)}
    table["_order"] = table["method"].map(lambda m: order.get(m, len(order)))
    table = table.sort_values(["experiment", "_order", "method", "scheme", "level"])
    return table.drop(columns="_order").reset_index(drop=True)


def drop_quality(
    values: dict[str, list[float]], drop: Interval, resamples: int, confidence: float
) -> dict:
    """Whether the drop is measured well enough to divide by: its interval (paired) and its
    seeds-only interval lie above 0, and its spread over seeds is small."""
    drops = np.asarray(values["clean"]) - np.asarray(values["none"])
    seed_low, cv = np.nan, np.nan
    if len(drops) >= 2:
        seed_low = seed_bootstrap(values, noise_drop, resamples, confidence).low
        mean = drops.mean()
        cv = float(drops.std(ddof=1) / abs(mean)) if mean != 0 else np.inf
    readable = len(drops) >= 2 and drop.low > 0 and seed_low > 0 and cv <= MAX_DROP_CV
    return {"drop_seed_low": seed_low * 100, "drop_cv": cv, "share_readable": bool(readable)}


def _by_seed(runs: pd.DataFrame, method: str, scheme: str, level: float | None) -> pd.Series:
    chosen = runs[(runs["method"] == method) & (runs["scheme"] == scheme)]
    if level is not None:
        chosen = chosen[chosen["level"] == level]
    return chosen.set_index("seed")["value"].astype(float)


def _named(name: str, interval: Interval, scale: float = 1.0) -> dict:
    # + 0.0 turns the -0.0 of method none's own share into 0.0.
    point, low, high = (v * scale + 0.0 for v in (interval.estimate, interval.low, interval.high))
    return {name: point, f"{name}_low": low, f"{name}_high": high}


def _filter_statistics(
    filters: pd.DataFrame,
    condition: tuple[str, str, str, float],
    resamples: int,
    confidence: float,
) -> dict:
    """Precision and recall of the condition's (experiment, method, scheme, level) filter."""
    experiment, method, scheme, level = condition
    chosen = filters[
        (filters["experiment"] == experiment)
        & (filters["method"] == method)
        & (filters["scheme"] == scheme)
        & (filters["level"] == level)
    ]
    result = {}
    for name in ("precision", "recall"):
        values = chosen.sort_values("seed")[name].dropna().to_numpy(dtype=float) * 100
        interval = Interval(np.nan, np.nan, np.nan, confidence)
        if len(values):
            interval = seed_bootstrap({"x": values}, lambda m: m["x"], resamples, confidence)
        if len(values) < 2:
            interval = Interval(interval.estimate, np.nan, np.nan, confidence)
        result |= _named(name, interval)
    return result


# Marks a share whose denominator, the drop, is not measured well.
NO_DROP_MARK = "†"
NO_DROP_NOTE = (
    f"{NO_DROP_MARK} the R@1 plain training lost here is not measured well (fewer than two "
    "seeds, an interval not above 0, or per-seed drops spread by more than "
    f"{MAX_DROP_CV:.0%} of their mean): the share divides by noise and is not readable; "
    "read the gain instead (its interval is left out here; results/table3.csv has it)."
)


def markdown(table: pd.DataFrame, confidence: float) -> str:
    """Rows method, columns scheme x level, one block per statistic and experiment
    (`confidence`: the level of the intervals)."""
    from irnoise.report.intervals import percent

    interval = f"[{percent(confidence)} interval]"
    titles = {
        "gain": f"Gain over plain training on the same noise (R@1 points) {interval}",
        "r1": f"R@1 (%), mean over seeds {interval}",
        "drop": f"R@1 lost to the noise by plain training (points) {interval}",
        "recovered": f"Share of the drop recovered (%) {interval}",
        "precision": "Precision of the dropped rows vs the changed labels (%)",
        "recall": "Recall of the changed labels among the dropped rows (%)",
    }
    blocks = []
    for experiment, rows in table.groupby("experiment", sort=True):
        conditions = sorted({(s, lv) for s, lv in zip(rows["scheme"], rows["level"], strict=True)})
        header = [f"{scheme} {level_name(level)}" for scheme, level in conditions]
        for statistic, title in titles.items():
            lines = [
                f"### {experiment}: {title}",
                "",
                "| method | " + " | ".join(header) + " |",
                "| --- |" + " --- |" * len(header),
            ]
            # The drop is method none's: the same denominator for every method; the gain
            # is measured against method none.
            methods = dict.fromkeys(rows["method"])
            if statistic == "drop":
                methods = [PLAIN]
            elif statistic == "gain":
                methods = [m for m in methods if m != PLAIN]
            for method in methods:
                mine = rows[rows["method"] == method]
                cells = [_cell(mine, statistic, scheme, level) for scheme, level in conditions]
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
            if statistic == "recovered" and NO_DROP_MARK in "".join(lines):
                lines += ["", NO_DROP_NOTE]
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _cell(rows: pd.DataFrame, statistic: str, scheme: str, level: float) -> str:
    match = rows[(rows["scheme"] == scheme) & (rows["level"] == level)]
    if match.empty or not np.isfinite(match.iloc[0][statistic]):
        return "–"
    row = match.iloc[0]
    text = f"{row[statistic]:.1f}"
    if statistic == "recovered" and row["method"] != PLAIN and not share_is_readable(row):
        # Its interval divides by drops near 0 (bounds like 1e15): the csv keeps it.
        return f"{text} {NO_DROP_MARK}"
    if np.isfinite(row[f"{statistic}_low"]):
        text += f" [{row[f'{statistic}_low']:.1f}, {row[f'{statistic}_high']:.1f}]"
    return text


def share_is_readable(row: pd.Series) -> bool:
    """Whether the noise's R@1 drop is measured well enough for the share (`drop_quality`)."""
    return bool(row["share_readable"])


def write_table3(
    table: pd.DataFrame,
    csv_path: str | os.PathLike,
    md_path: str | os.PathLike,
    confidence: float,
):
    from irnoise.atomic import atomic_path, write_text

    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4g")
    write_text(md_path, markdown(table, confidence))
