"""Figure 2: training loss per epoch under uniform label noise.

One panel per experiment, one line per noise level (clean included): the mean over seeds
of the loss on the (noisy) training labels, read from each run's history.csv, with a
band of ± one std when there are several seeds.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from irnoise.errors import UserError
from irnoise.plan import CLEAN_SCHEME, TABLE1_SCHEME

if TYPE_CHECKING:
    import pandas as pd

SCHEMES = (CLEAN_SCHEME, TABLE1_SCHEME)
REQUIRED = ("epoch", "loss")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument(
        "history",
        nargs="*",
        metavar="HISTORY_CSV",
        help="results/runs/<experiment>/<scheme>/<level>/seed<seed>/history.csv files",
    )


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    """One run's history.csv with its identity (from the path) as columns."""
    import pandas as pd

    from irnoise.plan import parse_run_path

    run = parse_run_path(path)
    try:
        history = pd.read_csv(path)
    except FileNotFoundError:
        raise UserError(f"training history {path} does not exist: train that run first") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"training history {path} is empty: rerun that training job") from None
    missing = [column for column in REQUIRED if column not in history.columns]
    if missing or history.empty:
        raise UserError(
            f"training history {path} lacks columns {missing} or rows: rerun that training job"
        )
    return history[list(REQUIRED)].assign(
        experiment=run.experiment, scheme=run.scheme, level=run.level, seed=run.seed
    )


def read_histories(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    import pandas as pd

    from irnoise.plan import parse_run_path

    if not paths:
        raise UserError("no history.csv files given: pass the runs' results/runs/.../history.csv")
    # Other schemes belong to Figure 3; they are left out here rather than mixed in.
    kept = [path for path in paths if parse_run_path(path).scheme in SCHEMES]
    skipped = len(paths) - len(kept)
    if skipped:
        print(f"training_curves: left out {skipped} run(s) of other schemes", file=sys.stderr)
    if not kept:
        raise UserError("no clean or uniform-noise runs among the history files given")
    return pd.concat([read_history(path) for path in kept], ignore_index=True)


def level_colors(levels: Sequence[float]) -> dict[float, Any]:
    """Black for clean, then light to dark red as the noise grows."""
    import matplotlib

    colormap = matplotlib.colormaps["YlOrRd"]
    noisy = [level for level in levels if level > 0]
    step = 0.55 / max(len(noisy) - 1, 1)
    shades = {level: colormap(0.45 + step * i) for i, level in enumerate(noisy)}
    return {0.0: "black"} | shades


def draw_panel(axis: Any, runs: pd.DataFrame, colors: dict[float, Any]) -> None:
    from matplotlib.ticker import MaxNLocator

    from irnoise.report.figures import level_label

    for level, rows in runs.groupby("level"):
        curve = rows.groupby("epoch")["loss"].agg(["mean", "std", "count"]).reset_index()
        color = colors[level]
        axis.plot(curve["epoch"], curve["mean"], marker="o", color=color, label=level_label(level))
        if curve["count"].max() > 1:
            low, high = curve["mean"] - curve["std"], curve["mean"] + curve["std"]
            axis.fill_between(curve["epoch"], low, high, color=color, alpha=0.2, linewidth=0)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("epoch")
    axis.set_ylabel("training loss on the noisy labels")
    axis.legend(title="uniform noise")


def draw(args: argparse.Namespace) -> None:
    from irnoise.report.figures import panel_grid, save_figure

    histories = read_histories(args.history)
    experiments = sorted(set(histories["experiment"]))
    colors = level_colors(sorted(set(histories["level"])))
    seeds = histories["seed"].nunique()
    spread = f"mean over {seeds} seeds, band ± 1 std" if seeds > 1 else "one seed"
    figure, axes = panel_grid(
        len(experiments), f"Training loss per epoch under uniform label noise ({spread})"
    )
    for axis, experiment in zip(axes, experiments, strict=True):
        draw_panel(axis, histories[histories["experiment"] == experiment], colors)
        axis.set_title(f"experiment {experiment}")
    save_figure(figure, args.out)
