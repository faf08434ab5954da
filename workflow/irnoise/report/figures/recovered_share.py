"""Share of the drop recovered by each noise-robust method, per scheme (Table 3).

One panel per experiment and level; a group of bars per scheme, one bar per method (method
none is the 0 line by definition, the clean model is 100%), with the seed-level t intervals of
results/table3.csv as error bars where there are several seeds. The axis spans -150% to
200%: a share beyond (a method that collapses, or a drop too small to divide by) would
flatten every other bar, so its bar is cut at the edge and labelled with its value. A
scheme whose drop has no interval above 0 gets no bars, only that note: its shares
divide by noise.
"""

from __future__ import annotations

import argparse
from typing import Any

SHARE_LIMITS = (-150.0, 200.0)  # % of the drop recovered shown on the axis
# What draw() reads of results/table3.csv.
TABLE3_COLUMNS = (
    "experiment",
    "method",
    "scheme",
    "level",
    "recovered",
    "recovered_low",
    "recovered_high",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("table", metavar="TABLE3_CSV", help="results/table3.csv")


def draw(args: argparse.Namespace) -> None:
    import numpy as np

    from irnoise.errors import UserError
    from irnoise.plan import PLAIN, SCHEMES_BY_HARM, level_name
    from irnoise.report.collect import read_csv
    from irnoise.report.figures import panel_grid, percent_axis, save_figure

    remedy = "build it with `snakemake --cores all results/table3.csv`"
    table = read_csv(args.table, "Table 3", remedy, TABLE3_COLUMNS)
    table = table[table["method"] != PLAIN]
    if table.empty:
        raise UserError(f"{args.table} has no method besides none: nothing to draw")
    panels = sorted({(e, lv) for e, lv in zip(table["experiment"], table["level"], strict=True)})
    figure, axes = panel_grid(len(panels), "Share of the noise-induced R@1 drop recovered")
    methods = list(dict.fromkeys(table["method"]))
    width = 0.8 / len(methods)
    for axis, (experiment, level) in zip(axes, panels, strict=True):
        rows = table[(table["experiment"] == experiment) & (table["level"] == level)]
        schemes = [s for s in SCHEMES_BY_HARM if s in set(rows["scheme"])]
        readable = [drop_is_measured(rows, s) for s in schemes]
        for position, method in enumerate(methods):
            mine = rows[rows["method"] == method].set_index("scheme").reindex(schemes)
            x = np.arange(len(schemes)) + (position - (len(methods) - 1) / 2) * width
            value = np.where(readable, mine["recovered"].to_numpy(dtype=float), np.nan)
            error = np.abs(
                np.stack([value - mine["recovered_low"], mine["recovered_high"] - value])
            )
            axis.bar(x, value, width, label=method, yerr=np.nan_to_num(error))
            label_cut_bars(axis, x, value)
        axis.set_ylim(*SHARE_LIMITS)
        axis.axhline(0, color="black", linewidth=0.8)
        axis.axhline(100, color="grey", linewidth=0.8, linestyle="--")
        labels = [scheme_label(s, ok) for s, ok in zip(schemes, readable, strict=True)]
        axis.set_xticks(np.arange(len(schemes)), labels)
        axis.set_title(f"{experiment}, {float(level) * 100:g}% noise ({level_name(level)})")
        axis.set_ylabel("drop recovered")
        percent_axis(axis.yaxis)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=3)
    save_figure(figure, args.out)


def drop_is_measured(rows: Any, scheme: str) -> bool:
    """Whether plain training's R@1 drop under `scheme` is measured well enough to divide
    by (Table 3's `share_readable`; a table3.csv from an older irnoise: its drop interval
    above 0, or no drop columns at all)."""
    mine = rows[rows["scheme"] == scheme]
    if "share_readable" in mine:
        return bool(mine["share_readable"].astype(bool).all())
    return "drop_low" not in mine or bool((mine["drop_low"].fillna(1.0) > 0).all())


def scheme_label(scheme: str, measured: bool) -> str:
    """The scheme's name, and a warning where its shares divide by noise."""
    return scheme if measured else f"{scheme}\n(no measurable drop)"


def label_cut_bars(axis: Any, positions: Any, values: Any) -> None:
    """The value of each bar beyond SHARE_LIMITS, written at the edge it is cut at."""
    low, high = SHARE_LIMITS
    for position, value in zip(positions, values, strict=True):
        if value > high or value < low:
            edge = high if value > high else low
            axis.annotate(
                f"{value:.0f}%",
                (position, edge),
                ha="center",
                va="top" if value > high else "bottom",
                rotation=90,
                fontsize=7,
            )
