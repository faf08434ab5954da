"""Retrieval against classification: what uniform label noise costs each task.

Table 1 as a picture. Left: each experiment's headline metric (R@1 for retrieval,
accuracy for classification, R@1 and TPR@FPR=1e-3, on the listed pairs and over all
pairs, for verification) against the uniform noise level, clean at 0. Right: its
relative drop, (clean - noisy) / clean. Points are means over seeds; error bars on the
left the std over seeds when there are several; on the right the drop's seed-level t
interval (seeds and test queries) when the runs' per_query.npz are given (--per-query),
else the std over seeds."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from irnoise.arguments import add_bootstrap_arguments

if TYPE_CHECKING:
    import pandas as pd

# Shades within a task family, so that two retrieval sets differ but still read as retrieval.
TASK_COLORMAPS = {"retrieval": "Blues", "verification": "Purples", "classification": "Reds"}
METRIC_LINESTYLES = {"TPR@FPR=1e-3": "--", "TPR@FPR=1e-3 (all pairs)": ":"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument(
        "metrics",
        nargs="*",
        metavar="METRICS_JSON",
        help="metrics.json of the clean and uniform-noise runs of every experiment",
    )
    parser.add_argument(
        "--per-query",
        nargs="*",
        default=[],
        metavar="NPZ",
        help="per_query.npz of the same runs: intervals for the drops",
    )
    add_bootstrap_arguments(parser)


def uniform_drops(
    paths: Sequence[str | os.PathLike],
    per_query: Sequence[str | os.PathLike],
    resamples: int,
    confidence: float,
) -> pd.DataFrame:
    """Mean, std and relative drop (with its interval, given `per_query`) per experiment,
    headline metric and uniform level."""
    from irnoise.report.collect import metrics_frame, summarize, with_relative_drop
    from irnoise.report.intervals import with_drop_intervals
    from irnoise.report.table1 import headline_metrics, uniform_runs

    frame = headline_metrics(uniform_runs(metrics_frame(paths)))
    drops = with_relative_drop(summarize(frame))
    if not per_query:
        return drops
    return with_drop_intervals(drops, frame, per_query, resamples, confidence)


def line_styles(drops: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """A color per experiment (shade of its task's colormap) and a dash per metric."""
    import matplotlib

    from irnoise.report.table1 import row_order

    styles = {}
    pairs = row_order(drops)
    tasks = drops.drop_duplicates("experiment").set_index("experiment")["task"]
    for task, colormap_name in TASK_COLORMAPS.items():
        experiments = sorted(e for e in tasks.index if tasks[e] == task)
        colormap = matplotlib.colormaps[colormap_name]
        for number, experiment in enumerate(experiments):
            color = colormap(0.9 - 0.45 * number / max(len(experiments) - 1, 1))
            for pair in (p for p in pairs if p[0] == experiment):
                linestyle = METRIC_LINESTYLES.get(pair[1], "-")
                styles[pair] = {"color": color, "linestyle": linestyle, "marker": "o"}
    return styles


def draw(args: argparse.Namespace) -> None:
    from irnoise.report.figures import panel_grid, percent_axis, plot_series, save_figure
    from irnoise.report.intervals import drop_error, percent
    from irnoise.report.table1 import row_order

    drops = uniform_drops(args.metrics, args.per_query, args.resamples, args.confidence)
    seeds = drops["seeds"].max()
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"
    if args.per_query:
        spread = (
            f"{seeds} seed(s); left ± std, right {percent(args.confidence)} seed-level t intervals"
        )
    figure, (values_axis, drop_axis) = panel_grid(
        2, f"Uniform label noise: retrieval against classification ({spread})"
    )
    styles = line_styles(drops)
    for experiment, metric in row_order(drops):
        rows = drops[(drops["experiment"] == experiment) & (drops["metric"] == metric)]
        rows = rows.sort_values("level")
        label = f"{experiment} ({rows['task'].iloc[0]}): {metric}"
        style = styles[(experiment, metric)] | {"label": label}
        x = 100 * rows["level"]
        plot_series(values_axis, x, 100 * rows["mean"], 100 * rows["std"], **style)
        plot_series(drop_axis, x, 100 * rows["drop"], 100 * drop_error(rows), **style)
    for axis in (values_axis, drop_axis):
        percent_axis(axis.xaxis)
        percent_axis(axis.yaxis)
        axis.set_xlabel("uniform label noise level (% of training labels changed)")
    values_axis.set_ylabel("metric on clean test data (%)")
    values_axis.set_title("headline metric")
    drop_axis.axhline(0, color="grey", linewidth=0.8)
    drop_axis.set_ylabel("relative drop (clean − noisy) / clean (%)")
    drop_axis.set_title("relative drop")
    drop_axis.legend(title="experiment (task): metric")
    save_figure(figure, args.out)
