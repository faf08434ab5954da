"""Figure 3: how much each noise scheme hurts retrieval, by level and by corrupted classes.

One panel per retrieval experiment: the relative drop of R@1, (clean - noisy) / clean,
against the noise level, one line per scheme (uniform, small classes, large classes).
A last panel puts the same drops against the percentage of training classes the noise
corrupted (`corrupted_classes_pct` of the label stats files). Points are means over
seeds; error bars are the drops' seed-level t intervals (seeds and test queries)
when the runs' per_query.npz are given (--per-query), else the std over seeds of the
per-seed drops when there are several.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from irnoise.arguments import add_bootstrap_arguments
from irnoise.errors import UserError
from irnoise.plan import CLEAN_SCHEME, LARGE, RETRIEVAL, SCHEMES_BY_HARM, SMALL

if TYPE_CHECKING:
    import pandas as pd

TASK = RETRIEVAL
LINESTYLES = ("-", "--", ":", "-.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument(
        "--metrics",
        nargs="*",
        default=[],
        metavar="METRICS_JSON",
        help="metrics.json of every run of the retrieval experiments (clean included)",
    )
    parser.add_argument(
        "--stats",
        nargs="*",
        default=[],
        metavar="STATS_JSON",
        help="label stats data/labels/<dataset>/<scheme>/<level>/seed<seed>.json "
        "(without them the corrupted-classes panel is left out)",
    )
    parser.add_argument(
        "--per-query",
        nargs="*",
        default=[],
        metavar="NPZ",
        help="per_query.npz of the same runs: intervals for the drops",
    )
    add_bootstrap_arguments(parser)
    parser.add_argument("--metric", default="R@1", help="the metric whose drop is shown")


def retrieval_drops(
    paths: Sequence[str | os.PathLike],
    metric: str,
    per_query: Sequence[str | os.PathLike],
    resamples: int,
    confidence: float,
) -> pd.DataFrame:
    """Mean relative drop (its std, and its interval given `per_query`) per retrieval
    experiment, scheme and level."""
    from irnoise.report.collect import metrics_frame, summarize, with_relative_drop
    from irnoise.report.intervals import with_drop_intervals

    frame = metrics_frame(paths)
    frame = frame[(frame["task"] == TASK) & (frame["metric"] == metric)]
    if frame.empty:
        raise UserError(
            f"no {metric} of a retrieval experiment among the metrics files given: "
            "pass the metrics.json of the experiments whose task is retrieval"
        )
    drops = with_relative_drop(summarize(frame))
    if not per_query:
        return drops
    return with_drop_intervals(drops, frame, per_query, resamples, confidence)


def corrupted_classes(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Mean and std over seeds of corrupted_classes_pct per (dataset, scheme, level)."""
    import pandas as pd

    from irnoise.report.collect import read_json

    rows = []
    for path in paths:
        stats = read_json(path, "label stats file")
        try:
            rows.append(
                {
                    "train": str(stats["dataset"]),
                    "scheme": str(stats["scheme"]),
                    "level": float(stats["level"]),
                    "pct": float(stats["corrupted_classes_pct"]),
                }
            )
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(
                f"label stats file {path} lacks or mangles {error}: rerun `irnoise noise`"
            ) from None
    frame = pd.DataFrame(rows, columns=["train", "scheme", "level", "pct"])
    grouped = frame.groupby(["train", "scheme", "level"])["pct"]
    return grouped.agg(pct="mean", pct_std="std").reset_index()


def scheme_order(schemes: set[str]) -> list[str]:
    return [s for s in SCHEMES_BY_HARM if s in schemes] + sorted(schemes - set(SCHEMES_BY_HARM))


def scheme_label(scheme: str) -> str:
    return {SMALL: "small classes", LARGE: "large classes"}.get(scheme, scheme)


def draw_level_panel(axis: Any, drops: pd.DataFrame, metric: str) -> None:
    """Drop against noise level, one line per scheme, starting from the clean run at 0."""
    from irnoise.report.figures import SCHEME_COLORS, SCHEME_MARKERS, percent_axis, plot_series
    from irnoise.report.intervals import drop_error

    clean = drops[drops["scheme"] == CLEAN_SCHEME]
    for scheme in scheme_order(set(drops["scheme"]) - {CLEAN_SCHEME}):
        rows = drops[drops["scheme"] == scheme].sort_values("level")
        line = _stack(clean, rows)
        plot_series(
            axis,
            100 * line["level"],
            100 * line["drop"],
            100 * drop_error(line),
            color=SCHEME_COLORS.get(scheme),
            marker=SCHEME_MARKERS.get(scheme, "o"),
            label=scheme_label(scheme),
        )
    axis.axhline(0, color="grey", linewidth=0.8)
    percent_axis(axis.xaxis)
    percent_axis(axis.yaxis)
    axis.set_xlabel("label noise level (% of training labels changed)")
    axis.set_ylabel(f"relative drop of {metric} (%)")
    axis.legend(title="noise scheme")


def _stack(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    return pd.concat([first, second], ignore_index=True)


def draw_corrupted_panel(
    axis: Any, drops: pd.DataFrame, corrupted: pd.DataFrame, metric: str
) -> None:
    """Drop against the share of corrupted classes; one line per experiment and scheme."""
    import numpy as np

    from irnoise.report.figures import SCHEME_COLORS, SCHEME_MARKERS, percent_axis
    from irnoise.report.intervals import drop_error

    points = drops.merge(corrupted, on=["train", "scheme", "level"], how="inner")
    experiments = sorted(set(points["experiment"]))
    for number, experiment in enumerate(experiments):
        runs = points[points["experiment"] == experiment]
        for scheme in scheme_order(set(runs["scheme"])):
            rows = runs[runs["scheme"] == scheme].sort_values("level")
            style = {
                "color": SCHEME_COLORS.get(scheme),
                "marker": SCHEME_MARKERS.get(scheme, "o"),
                "linestyle": LINESTYLES[number % len(LINESTYLES)],
                "label": f"{experiment}, {scheme_label(scheme)}",
            }
            x, y = rows["pct"], 100 * rows["drop"]
            if rows["seeds"].max() > 1 or "drop_low" in rows:
                xerr = rows["pct_std"].fillna(0)
                yerr = np.nan_to_num(100 * drop_error(rows))
                axis.errorbar(x, y, xerr=xerr, yerr=yerr, **style)
            else:
                axis.plot(x, y, **style)
    axis.axhline(0, color="grey", linewidth=0.8)
    percent_axis(axis.xaxis)
    percent_axis(axis.yaxis)
    axis.set_xlabel("corrupted training classes (% of classes)")
    axis.set_ylabel(f"relative drop of {metric} (%)")
    axis.set_title("drop against the share of corrupted classes")
    axis.legend(title="experiment, scheme")


def warn_unmatched(drops: pd.DataFrame, corrupted: pd.DataFrame) -> None:
    """Say which noisy runs have no label stats, rather than dropping them silently."""
    noisy = drops[drops["scheme"] != CLEAN_SCHEME][["train", "scheme", "level"]]
    merged = noisy.merge(corrupted, on=["train", "scheme", "level"], how="left")
    missing = merged[merged["pct"].isna()].drop_duplicates()
    for row in missing.itertuples():
        print(
            f"noise_patterns: no label stats for {row.train}/{row.scheme}/{row.level:g}; "
            "that point is left out of the corrupted-classes panel",
            file=sys.stderr,
        )


def draw(args: argparse.Namespace) -> None:
    from irnoise.report.figures import panel_grid, save_figure
    from irnoise.report.intervals import percent

    drops = retrieval_drops(
        args.metrics, args.metric, args.per_query, args.resamples, args.confidence
    )
    experiments = sorted(set(drops["experiment"]))
    corrupted = corrupted_classes(args.stats) if args.stats else None
    seeds = drops["seeds"].max()
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"
    if args.per_query:
        spread = f"mean over {seeds} seed(s), {percent(args.confidence)} seed-level t intervals"
    figure, axes = panel_grid(
        len(experiments) + (corrupted is not None),
        f"Relative drop of {args.metric} = (clean − noisy) / clean, by noise scheme ({spread})",
    )
    for axis, experiment in zip(axes[: len(experiments)], experiments, strict=True):
        rows = drops[drops["experiment"] == experiment]
        draw_level_panel(axis, rows, args.metric)
        axis.set_title(f"experiment {experiment} (train {rows['train'].iloc[0]})")
    if corrupted is not None:
        warn_unmatched(drops, corrupted)
        noisy = drops[drops["scheme"] != CLEAN_SCHEME]
        draw_corrupted_panel(axes[-1], noisy, corrupted, args.metric)
    save_figure(figure, args.out)
