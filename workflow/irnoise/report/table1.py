"""The study's Table 1: each experiment's headline metrics, clean against uniform noise.

Rows are experiment x metric; columns the clean value and the value at each uniform noise
level, in %, as the mean over seeds with the sample std beside it (`<column>_std`, empty
for one seed), then the relative drop per level, `drop@<level>` = (clean - noisy) / clean,
also in %. Means are taken before the drop, as in the paper. With the runs' per-query
arrays, each drop gets its seed-level t interval at the config's statistics.confidence
(`drop@<level>_low`, `_high`, in %; `irnoise.report.intervals`). With the label stats,
`achieved@<level>` is the noise rate actually achieved on the experiment's train dataset
(labels changed, %, mean over seeds) beside the nominal level (empty without stats).
Verification experiments report TPR@FPR=1e-3 on the listed pairs and over all pairs of
test images.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from irnoise.atomic import write_text
from irnoise.errors import UserError
from irnoise.evaluate.tasks import ALL_PAIRS_TPR_NAME, TPR_NAME
from irnoise.plan import CLEAN_SCHEME, TABLE1_SCHEME, clean_run, level_name
from irnoise.report.collect import summarize, with_relative_drop
from irnoise.report.intervals import Condition, GridResamples, method_text

if TYPE_CHECKING:
    import pandas as pd

NOISE_SCHEME = TABLE1_SCHEME
# The paper's choice per task; a face set evaluated on LFW reports retrieval and verification.
HEADLINE_METRICS = {
    "retrieval": ("R@1",),
    "verification": ("R@1", TPR_NAME, ALL_PAIRS_TPR_NAME),
    "classification": ("accuracy",),
}
TASK_ORDER = tuple(HEADLINE_METRICS)
ID_COLUMNS = ["experiment", "dataset", "task", "metric"]


def headline_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the tidy table that Table 1 reports: its task's metrics per experiment."""
    import pandas as pd

    pairs = zip(frame["task"], frame["metric"], strict=True)
    reported = [metric in HEADLINE_METRICS.get(task, ()) for task, metric in pairs]
    keep = pd.Series(reported, index=frame.index, dtype=bool)
    for experiment, rows in frame.groupby("experiment"):
        if not keep[rows.index].any():
            task = rows["task"].iloc[0]
            raise UserError(
                f"experiment {experiment!r} (task {task}) has none of the metrics Table 1 "
                f"reports for its task ({', '.join(HEADLINE_METRICS.get(task, ()))}); its "
                f"metrics files hold {sorted(set(rows['metric']))}: rerun `irnoise evaluate`"
            )
    return frame[keep]


def uniform_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Clean and uniform-noise runs only (other schemes belong to Figure 3)."""
    runs = frame[frame["scheme"].isin([CLEAN_SCHEME, NOISE_SCHEME])]
    if runs.empty:
        raise UserError(
            "no clean or uniform-noise runs among the metrics given: Table 1 compares "
            "results/runs/<experiment>/clean/0/... with .../uniform/<level>/..."
        )
    return runs


def dataset_label(train: str, eval_: str) -> str:
    return train if train == eval_ else f"{train} -> {eval_}"


def row_order(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(experiment, metric) pairs: retrieval, verification, classification, as in the paper."""
    pairs = summary[["experiment", "task", "metric"]].drop_duplicates()
    return [
        (row.experiment, row.metric)
        for row in sorted(
            pairs.itertuples(),
            key=lambda r: (
                TASK_ORDER.index(r.task),
                r.experiment,
                HEADLINE_METRICS[r.task].index(r.metric),
            ),
        )
    ]


Achieved = Mapping[tuple[str, float], float]  # (train dataset, level) -> % labels changed


def build_table1(
    frame: pd.DataFrame,
    resamples: GridResamples | None = None,
    achieved: Achieved | None = None,
) -> pd.DataFrame:
    """Table 1 from the tidy metrics table (values as fractions in, percentages out), with
    the drops' intervals when `resamples` are given (NaN where a condition has none) and
    the achieved noise rates of `achieved` (NaN where it has none)."""
    import pandas as pd

    stats = with_relative_drop(summarize(headline_metrics(uniform_runs(frame))))
    noisy = stats[stats["scheme"] == NOISE_SCHEME]
    levels = sorted(set(noisy["level"]))
    indexed = stats.set_index(["experiment", "metric", "scheme", "level"])
    rows = [
        table_row(indexed, experiment, metric, levels, resamples, achieved or {})
        for experiment, metric in row_order(stats)
    ]
    return pd.DataFrame(rows, columns=table_columns(levels))


def table_columns(levels: list[float]) -> list[str]:
    columns = [*ID_COLUMNS, "clean", "clean_std"]
    for level in levels:
        columns += [level_name(level), f"{level_name(level)}_std"]
    columns += [f"achieved@{level_name(level)}" for level in levels]
    for level in levels:
        drop = f"drop@{level_name(level)}"
        columns += [drop, f"{drop}_low", f"{drop}_high"]
    return columns


def table_row(
    indexed: pd.DataFrame,
    experiment: str,
    metric: str,
    levels: list[float],
    resamples: GridResamples | None = None,
    achieved: Achieved | None = None,
) -> dict[str, object]:
    if (experiment, metric, CLEAN_SCHEME, 0.0) not in indexed.index:
        raise UserError(
            f"experiment {experiment!r} has no clean {metric} to compare with: add its clean "
            f"run, {clean_run(experiment)}/metrics.json, to the inputs"
        )
    clean = indexed.loc[(experiment, metric, CLEAN_SCHEME, 0.0)]
    row: dict[str, object] = {
        "experiment": experiment,
        "dataset": dataset_label(clean["train"], clean["eval"]),
        "task": clean["task"],
        "metric": metric,
        "clean": 100 * clean["mean"],
        "clean_std": 100 * clean["std"],
    }
    for level in levels:
        name, key = level_name(level), (experiment, metric, NOISE_SCHEME, level)
        cell = indexed.loc[key] if key in indexed.index else None
        row[name] = math.nan if cell is None else 100 * cell["mean"]
        row[f"{name}_std"] = math.nan if cell is None else 100 * cell["std"]
        # Only where the experiment trained at this level (label files cover every level).
        rate = (achieved or {}).get((clean["train"], level), math.nan)
        row[f"achieved@{name}"] = math.nan if cell is None else rate
        row[f"drop@{name}"] = math.nan if cell is None else 100 * cell["drop"]
        interval = (
            resamples.drop(Condition(experiment, NOISE_SCHEME, level, metric))
            if (resamples and cell is not None)
            else None
        )
        row[f"drop@{name}_low"] = math.nan if interval is None else 100 * interval.low
        row[f"drop@{name}_high"] = math.nan if interval is None else 100 * interval.high
    return row


def _cell(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.1f}" if math.isnan(std) else f"{mean:.1f} ± {std:.1f}"


def _percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.1f}%"


def _drop(value: float, low: float, high: float) -> str:
    if math.isnan(value) or math.isnan(low) or math.isnan(high):
        return _percent(value)
    return f"{value:.1f}% [{low:.1f}, {high:.1f}]"


def table1_markdown(
    table: pd.DataFrame, seeds: list[int], resamples: int = 0, confidence: float = math.nan
) -> str:
    """A readable Markdown rendering of Table 1 with its legend (`resamples`: of the
    intervals' bootstrap, 0 when the table has none; `confidence`: their level)."""
    levels = [
        column[len("drop@") :]
        for column in table.columns
        if column.startswith("drop@") and not column.endswith(("_low", "_high"))
    ]
    header = ["Experiment", "Dataset", "Metric", "Clean"]
    header += [f"{float(level) * 100:g}% noise" for level in levels]
    header += [f"Achieved @{float(level) * 100:g}%" for level in levels]
    header += [f"Drop @{float(level) * 100:g}%" for level in levels]
    lines = [
        "# Table 1: uniform label noise",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * 3 + "---:|" * (1 + 3 * len(levels)),
    ]
    for row in table.to_dict("records"):
        cells = [row["experiment"], row["dataset"], row["metric"]]
        cells.append(_cell(row["clean"], row["clean_std"]))
        cells += [_cell(row[level], row[f"{level}_std"]) for level in levels]
        cells += [_percent(row.get(f"achieved@{level}", math.nan)) for level in levels]
        cells += [
            _drop(row[f"drop@{level}"], row[f"drop@{level}_low"], row[f"drop@{level}_high"])
            for level in levels
        ]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    names = ", ".join(map(str, seeds))
    if len(seeds) > 1:
        spread = f"mean ± sample std over {len(seeds)} seeds ({names})"
    else:
        spread = f"one run per cell (seed {names})"
    legend = (
        f"Values in %: {spread}. Achieved: labels actually changed in the train dataset "
        "(% of its samples, mean over seeds), beside the nominal level. Drop: relative drop "
        "of the mean, (clean - noisy) / clean, in %"
    )
    if resamples:
        legend += f"; [low, high]: {method_text(resamples, confidence)}"
    lines += ["", legend + ".", ""]
    return "\n".join(lines)


def write_table1(
    table: pd.DataFrame,
    seeds: list[int],
    csv_path: str | os.PathLike,
    md_path: str | os.PathLike,
    resamples: int = 0,
    confidence: float = math.nan,
) -> None:
    write_text(csv_path, table.to_csv(index=False))
    write_text(md_path, table1_markdown(table, seeds, resamples, confidence))
