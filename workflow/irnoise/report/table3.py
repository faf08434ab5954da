"""Table 3: noise-robust training methods under each noise scheme.

For each experiment, method, scheme and level of the Table 3 grid:

- R@1: the mean over seeds, with a 95% interval;
- the share of the drop recovered, (method_noisy - none_noisy) / (none_clean - none_noisy)
  of the seed means (1 = back to the clean model, 0 = no better than plain training,
  negative = worse), with a 95% interval; undefined where noise costs nothing;
- for filtering methods, the precision and recall of the rows they dropped against the
  rows whose label the noise changed (each run's filter.json), mean over seeds, with 95%
  intervals.

Intervals: a paired percentile bootstrap over seeds (the same resampled seeds for the
clean, noisy and method runs, which share their noisy labels seed by seed); none with
fewer than two seeds. Values in %.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from irnoise.errors import UserError
from irnoise.report.collect import CLEAN_SCHEME, DEFAULT_METHOD, level_name, read_json

if TYPE_CHECKING:
    import pandas as pd

METRIC = "R@1"
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
METHOD_ORDER = ("none", "oracle", "subcenter", "prism", "prism_guess", "knn")
STATISTICS = ("r1", "recovered", "precision", "recall")
COLUMNS = [
    "experiment",
    "method",
    "scheme",
    "level",
    "seeds",
    *[f"{name}{suffix}" for name in STATISTICS for suffix in ("", "_low", "_high")],
]
FILTER_PATH = re.compile(
    r"(?:^|/)methods/(?P<method>[^/]+)/(?P<experiment>[^/]+)/(?P<scheme>[^/]+)/"
    r"(?P<level>[^/]+)/seed(?P<seed>\d+)/filter\.json$"
)


def read_filters(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per filter.json: its run (from the path), precision and recall."""
    import pandas as pd

    rows = []
    for path in paths:
        match = FILTER_PATH.search(os.fspath(path).replace(os.sep, "/"))
        if match is None:
            raise UserError(
                f"cannot tell which run {path} belongs to: expected "
                "results/methods/<method>/<experiment>/<scheme>/<level>/seed<seed>/filter.json"
            )
        data = read_json(path, "filter summary")
        rows.append(
            match.groupdict()
            | {
                "level": float(match["level"]),
                "seed": int(match["seed"]),
                "precision": _number(data.get("precision")),
                "recall": _number(data.get("recall")),
            }
        )
    columns = ["method", "experiment", "scheme", "level", "seed", "precision", "recall"]
    return pd.DataFrame(rows, columns=columns)


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def paired_bootstrap(
    columns: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """(point, 2.5%, 97.5%) of `statistic` over seeds resampled with replacement.

    `columns` is (seeds, k): one row per seed, resampled as a whole (paired).
    `statistic` maps (..., seeds, k) to (...) by averaging over the seed axis first.
    """
    point = float(statistic(columns[None])[0])
    if len(columns) < 2:
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(columns), size=(samples, len(columns)))
    values = statistic(columns[draws])
    with np.errstate(all="ignore"):
        finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return point, float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return point, float(low), float(high)


def mean_of(column: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda draws: draws[..., column].mean(axis=-1)


def recovered_share(draws: np.ndarray) -> np.ndarray:
    """Columns (clean, none_noisy, method): (method - none) / (clean - none) of seed means."""
    clean, none, method = (draws[..., i].mean(axis=-1) for i in range(3))
    gap = clean - none
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap != 0, (method - none) / np.where(gap != 0, gap, 1), np.nan)


def build_table3(metrics: pd.DataFrame, filters: pd.DataFrame) -> pd.DataFrame:
    """The tidy Table 3 (COLUMNS), from the tidy metrics and the filter summaries."""
    import pandas as pd

    r1 = metrics[metrics["metric"] == METRIC]
    if r1.empty:
        raise UserError(f"no {METRIC} in the metrics given: Table 3 needs retrieval runs")
    rows = []
    for experiment, runs in r1.groupby("experiment", sort=True):
        clean = _by_seed(runs, DEFAULT_METHOD, CLEAN_SCHEME, None)
        if clean.empty:
            raise UserError(
                f"experiment {experiment!r} has no clean run of method none: the share of the "
                f"drop recovered is measured against it; add "
                f"results/runs/{experiment}/clean/0/seed<seed>/metrics.json"
            )
        noisy = runs[runs["scheme"] != CLEAN_SCHEME]
        for (method, scheme, level), _ in noisy.groupby(["method", "scheme", "level"]):
            none = _by_seed(runs, DEFAULT_METHOD, scheme, level)
            mine = _by_seed(runs, method, scheme, level)
            seeds = sorted(set(clean.index) & set(none.index) & set(mine.index))
            if not seeds:
                raise UserError(
                    f"{experiment}/{scheme}/{level_name(level)}: method {method} has no seed "
                    "in common with method none's clean and noisy runs: run them on the same seeds"
                )
            columns = np.stack([clean[seeds], none[seeds], mine[seeds]], axis=1)
            row = {
                "experiment": experiment,
                "method": method,
                "scheme": scheme,
                "level": level,
                "seeds": len(seeds),
            }
            row |= _named("r1", paired_bootstrap(columns * 100, mean_of(2)))
            row |= _named("recovered", paired_bootstrap(columns, recovered_share), scale=100)
            row |= _filter_statistics(filters, experiment, method, scheme, level)
            rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = {method: i for i, method in enumerate(METHOD_ORDER)}
    table["_order"] = table["method"].map(lambda m: order.get(m, len(order)))
    table = table.sort_values(["experiment", "_order", "method", "scheme", "level"])
    return table.drop(columns="_order").reset_index(drop=True)


def _by_seed(runs: pd.DataFrame, method: str, scheme: str, level: float | None) -> pd.Series:
    chosen = runs[(runs["method"] == method) & (runs["scheme"] == scheme)]
    if level is not None:
        chosen = chosen[chosen["level"] == level]
    return chosen.set_index("seed")["value"].astype(float)


def _named(name: str, interval: tuple[float, float, float], scale: float = 1.0) -> dict:
    # + 0.0 turns the -0.0 of method none's own share into 0.0.
    point, low, high = (value * scale + 0.0 for value in interval)
    return {name: point, f"{name}_low": low, f"{name}_high": high}


def _filter_statistics(
    filters: pd.DataFrame, experiment: str, method: str, scheme: str, level: float
) -> dict:
    chosen = filters[
        (filters["experiment"] == experiment)
        & (filters["method"] == method)
        & (filters["scheme"] == scheme)
        & (filters["level"] == level)
    ]
    result = {}
    for name in ("precision", "recall"):
        values = chosen[name].dropna().to_numpy(dtype=float)[:, None] * 100
        interval = paired_bootstrap(values, mean_of(0)) if len(values) else (np.nan,) * 3
        result |= _named(name, interval)
    return result


def markdown(table: pd.DataFrame) -> str:
    """Rows method, columns scheme x level, one block per statistic and experiment."""
    titles = {
        "r1": "R@1 (%), mean over seeds [95% interval]",
        "recovered": "Share of the drop recovered (%) [95% interval]",
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
            for method in dict.fromkeys(rows["method"]):
                mine = rows[rows["method"] == method]
                cells = [_cell(mine, statistic, scheme, level) for scheme, level in conditions]
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _cell(rows: pd.DataFrame, statistic: str, scheme: str, level: float) -> str:
    match = rows[(rows["scheme"] == scheme) & (rows["level"] == level)]
    if match.empty or not np.isfinite(match.iloc[0][statistic]):
        return "–"
    row = match.iloc[0]
    text = f"{row[statistic]:.1f}"
    if np.isfinite(row[f"{statistic}_low"]):
        text += f" [{row[f'{statistic}_low']:.1f}, {row[f'{statistic}_high']:.1f}]"
    return text


def write_table3(table: pd.DataFrame, csv_path: str | os.PathLike, md_path: str | os.PathLike):
    from irnoise.atomic import atomic_path, write_text

    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4g")
    write_text(md_path, markdown(table))
