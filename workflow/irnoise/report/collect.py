"""The tidy metrics table: every run's metrics.json as rows, and summaries over seeds.

One row per run and metric, with the columns `COLUMNS`. Tables and figures start from
this table, so that each of them averages seeds and computes relative drops the same way.
Each metrics.json names its run; nothing here is read from a path.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irnoise.atomic import atomic_path
from irnoise.errors import UserError
from irnoise.plan import CLEAN_SCHEME, PLAIN, clean_run, level_name

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = [
    "experiment",
    "train",
    "eval",
    "task",
    "method",
    "scheme",
    "level",
    "seed",
    "metric",
    "value",
]
RUN_KEYS = ("experiment", "train", "eval", "task", "scheme", "level", "seed")
# A condition is a point of the grid; its seeds are averaged.
CONDITION = ["experiment", "train", "eval", "task", "method", "scheme", "level", "metric"]


def read_json(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """A JSON object from disk, or a UserError that names the file and what wrote it."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist: run the step that writes it") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{what} {path} is not valid JSON ({error}): delete it and rerun") from None
    if not isinstance(data, dict):
        raise UserError(f"{what} {path} should hold a JSON object: delete it and rerun")
    return data


def read_csv(
    path: str | os.PathLike, what: str, remedy: str, columns: Sequence[str] = ()
) -> pd.DataFrame:
    """A CSV table from disk with `columns`, or a UserError naming the file and `remedy`."""
    import pandas as pd

    if not Path(path).is_file():
        raise UserError(f"{what} {path} does not exist: {remedy}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{what} {path} is not a readable CSV table ({reason}): {remedy}") from None
    if missing := [column for column in columns if column not in frame.columns]:
        raise UserError(f"{what} {path} lacks columns {missing}: {remedy}")
    return frame


def _metric_value(value: Any) -> float:
    # Evaluation writes null where a metric is undefined (e.g. no query has a match).
    return math.nan if value is None else float(value)


def metrics_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per metric of a run's metrics.json ({"run": {...}, "metrics": {...}})."""
    data = read_json(path, "metrics file")
    run, metrics = data.get("run"), data.get("metrics")
    if not isinstance(run, dict) or not isinstance(metrics, dict):
        raise UserError(
            f"metrics file {path} lacks its 'run' or 'metrics' object: rerun `irnoise evaluate`"
        )
    missing = [key for key in RUN_KEYS if key not in run]
    if missing:
        raise UserError(f"metrics file {path}: 'run' lacks {missing}; rerun `irnoise evaluate`")
    identity = {key: run[key] for key in RUN_KEYS}
    identity["level"], identity["seed"] = float(run["level"]), int(run["seed"])
    identity["method"] = run.get("method", PLAIN)
    return [
        identity | {"metric": name, "value": _metric_value(value)}
        for name, value in sorted(metrics.items())
    ]


def metrics_frame(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """The tidy table of several metrics.json files, sorted by run and metric."""
    import pandas as pd

    if not paths:
        raise UserError(
            "no metrics files given: pass the runs' metrics.json files "
            "(results/runs/<experiment>/<scheme>/<level>/seed<seed>/metrics.json)"
        )
    rows = [row for path in paths for row in metrics_rows(path)]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    _refuse_duplicates(frame)
    return frame.sort_values(COLUMNS[:-1], kind="stable", ignore_index=True)


def _refuse_duplicates(frame: pd.DataFrame) -> None:
    # The same run twice (e.g. a copied run directory) would silently count as two seeds.
    keys = ["experiment", "method", "scheme", "level", "seed", "metric"]
    duplicated = frame[frame.duplicated(keys, keep=False)]
    if not duplicated.empty:
        first = duplicated.iloc[0]
        raise UserError(
            f"run {first.experiment}/{first.scheme}/{level_name(first.level)}/seed{first.seed} "
            "appears in more than one metrics file: give each run's metrics.json once"
        )


def write_metrics_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_metrics_csv(path: str | os.PathLike) -> pd.DataFrame:
    """results/metrics.csv back as the tidy table, checked for its columns."""

    frame = read_csv(path, "metrics table", "build it with `irnoise collect`")
    if "method" not in frame.columns:  # a table collected before the method axis
        frame.insert(COLUMNS.index("method"), "method", PLAIN)
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise UserError(
            f"metrics table {path} lacks columns {missing}: rebuild it with `irnoise collect`"
        )
    if frame.empty:
        raise UserError(f"metrics table {path} has no rows: rebuild it with `irnoise collect`")
    return frame[COLUMNS]


def load_metrics(
    json_paths: Sequence[str | os.PathLike] = (), csv_path: str | os.PathLike | None = None
) -> pd.DataFrame:
    """The tidy table from metrics.json files, a metrics.csv, or both."""
    import pandas as pd

    frames = [read_metrics_csv(csv_path)] if csv_path else []
    if json_paths or not frames:
        frames.append(metrics_frame(json_paths))
    frame = pd.concat(frames, ignore_index=True)
    _refuse_duplicates(frame)
    return frame


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std and count over seeds for each condition (std is NaN for one seed)."""
    grouped = frame.groupby(CONDITION, sort=True, dropna=False)["value"]
    summary = grouped.agg(["mean", "std", "count"]).reset_index()
    return summary.rename(columns={"count": "seeds"})


def with_relative_drop(summary: pd.DataFrame) -> pd.DataFrame:
    """Add `clean`, `drop` = (clean - noisy) / clean and `drop_std` to a summary.

    `clean` is the mean of the experiment's clean runs. The drop is taken between means;
    `drop_std` is the spread over seeds of the per-seed drops (clean mean - value) / clean
    mean, i.e. std / clean, so that the mean of those per-seed drops is `drop` itself.
    """
    clean = summary[summary["scheme"] == CLEAN_SCHEME]
    _require_clean(summary, clean)
    clean_means = clean.set_index(["experiment", "metric"])["mean"].rename("clean")
    result = summary.join(clean_means, on=["experiment", "metric"])
    # A clean value of 0 has no relative drop.
    denominator = result["clean"].where(result["clean"] != 0)
    result["drop"] = (result["clean"] - result["mean"]) / denominator
    result["drop_std"] = result["std"] / denominator
    return result


def _require_clean(summary: pd.DataFrame, clean: pd.DataFrame) -> None:
    for experiment in sorted(set(summary["experiment"]) - set(clean["experiment"])):
        raise UserError(
            f"experiment {experiment!r} has no clean run: relative drops are measured against "
            f"it; add {clean_run(experiment)}/metrics.json to the inputs"
        )
