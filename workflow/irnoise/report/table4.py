"""Table 4: which label noise can be found? Each detector against each scheme and level.

For every noisy run, the changed samples (noisy label != clean label) are the positives
and the detector's suspicion scores rank them (`irnoise.detect.evaluation`): AUROC,
average precision, precision@T and recall@T with T = the number of changed labels.
Rows are experiment x detector x scheme x level; each metric is the mean over seeds with
its seed-level t interval (statistics.confidence) (`<metric>_low`, `<metric>_high`; empty
with fewer than two seeds).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from irnoise.atomic import write_text
from irnoise.detect.evaluation import METRICS, detection_metrics
from irnoise.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

ID_COLUMNS = ["experiment", "detector", "scheme", "level"]
METRIC_TITLES = {
    "auroc": "AUROC",
    "average_precision": "AP",
    "precision_at_t": "P@T",
    "recall_at_t": "R@T",
}


@cache
def clean_labels(shard_dir: str) -> np.ndarray:
    path = Path(shard_dir) / "train_labels.npy"
    if not path.is_file():
        raise UserError(f"clean train labels {path} not found: rerun `irnoise shard`")
    return np.load(path).astype(np.int64)


def changed_mask(labels_path: str | os.PathLike, shard_dir: str | os.PathLike) -> np.ndarray:
    """The samples a noisy label file relabelled: noisy != clean."""
    noisy, clean = np.load(labels_path).astype(np.int64), clean_labels(str(shard_dir))
    if noisy.shape != clean.shape:
        raise UserError(
            f"label file {labels_path} has {len(noisy)} labels but {shard_dir} has "
            f"{len(clean)} train samples: rerun `irnoise noise` on those shards"
        )
    return noisy != clean


def run_rows(
    scores_path: str | os.PathLike, labels_path: str | os.PathLike, shard_dir: str | os.PathLike
) -> list[dict[str, Any]]:
    """One row per detector of one run: its identity, T and the four metrics."""
    from irnoise.detect.scores import load
    from irnoise.plan import parse_run_path

    run = parse_run_path(scores_path)
    result = load(scores_path)
    if not np.array_equal(result.labels, np.load(labels_path)):
        raise UserError(
            f"{scores_path} scored other labels than {labels_path}: rerun `irnoise detect` "
            "for that run (its label file changed)"
        )
    changed = changed_mask(labels_path, shard_dir)
    identity = {"experiment": run.experiment, "scheme": run.scheme, "level": run.level}
    rows = []
    for name in result.detectors:
        scored = evaluated_rows(result, name)
        rows.append(
            identity
            | {"seed": run.seed, "detector": name, "changed": int(changed[scored].sum())}
            | detection_metrics(result.scores[name][scored], changed[scored])
        )
    return rows


def evaluated_rows(result: Any, detector: str) -> np.ndarray:
    """The rows a detector is judged on: all, but CleanNet's verified rows (it was trained
    on their truth; what it claims is the transfer to the classes nobody verified)."""
    from irnoise.plan import CLEANNET_DETECTOR

    everything = np.ones(len(result.labels), dtype=bool)
    if detector == CLEANNET_DETECTOR and result.cleannet_verified is not None:
        return ~result.cleannet_verified
    return everything


def per_run_metrics(
    scores: Sequence[str], labels: Sequence[str], clean: Sequence[str]
) -> pd.DataFrame:
    import pandas as pd

    if not scores:
        raise UserError("no detect.npz files given: Table 4 needs the noisy runs' scores")
    if not len(scores) == len(labels) == len(clean):
        raise UserError(
            f"--scores, --labels and --clean must list one file per run each, got "
            f"{len(scores)}, {len(labels)} and {len(clean)}"
        )
    rows = [row for paths in zip(scores, labels, clean, strict=True) for row in run_rows(*paths)]
    return pd.DataFrame(rows)


def seeds_interval(
    values: Sequence[float], resamples: int, confidence: float
) -> tuple[float, float]:
    """Seed-level t interval of the mean over seeds; NaN for one seed."""
    from irnoise.report.bootstrap import seed_bootstrap

    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return math.nan, math.nan
    interval = seed_bootstrap({"metric": finite}, lambda m: m["metric"], resamples, confidence)
    return interval.low, interval.high


def build_table4(per_run: pd.DataFrame, resamples: int, confidence: float) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for key, group in per_run.groupby(ID_COLUMNS, sort=True):
        row = dict(zip(ID_COLUMNS, key, strict=True))
        row |= {"seeds": len(group), "changed": float(group["changed"].mean())}
        for metric in METRICS:
            values = group[metric].tolist()
            row[metric] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
            low, high = seeds_interval(values, resamples, confidence)
            row[f"{metric}_low"], row[f"{metric}_high"] = low, high
        rows.append(row)
    return pd.DataFrame(rows)


def best_detector(table: pd.DataFrame) -> str:
    """The detector with the highest average precision, averaged over every condition."""
    return str(table.groupby("detector")["average_precision"].mean().idxmax())


def cell(row: pd.Series, metric: str) -> str:
    value, low, high = row[metric], row[f"{metric}_low"], row[f"{metric}_high"]
    if not math.isfinite(value):
        return "–"
    if math.isfinite(low):
        return f"{value:.3f} [{low:.3f}, {high:.3f}]"
    return f"{value:.3f}"


def markdown(table: pd.DataFrame, confidence: float) -> str:
    from irnoise.report.intervals import percent

    header = ["experiment", "detector", "scheme", "level", "T", *METRIC_TITLES.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [row["experiment"], row["detector"], row["scheme"], f"{row['level']:g}"]
        cells += [f"{row['changed']:.0f}", *(cell(row, metric) for metric in METRIC_TITLES)]
        lines.append("| " + " | ".join(cells) + " |")
    seeds = int(table["seeds"].max())
    note = (
        f"Mean over {seeds} seeds [{percent(confidence)} seed-level t interval]."
        if seeds > 1
        else "One seed: no interval."
    )
    return (
        "Table 4: how well each detector finds the changed labels (T = number changed; "
        "P@T = R@T by construction).\n\n" + "\n".join(lines) + f"\n\n{note}\n"
    )


def write_table4(
    table: pd.DataFrame,
    csv_path: str | os.PathLike,
    md_path: str | os.PathLike,
    confidence: float,
):
    write_text(csv_path, table.to_csv(index=False, float_format="%.6g"))
    write_text(md_path, markdown(table, confidence))
