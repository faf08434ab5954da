"""Precision-recall curves of the best label-noise detector, one panel per noise scheme.

The best detector is the one with the highest average precision over Table 4's conditions.
One line per experiment and noise level (darker: more noise), one per seed; the dotted
line at each level's share of changed labels is a random ranking's precision.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--table", required=True, help="results/table4.csv (picks the detector)")
    parser.add_argument("--scores", nargs="+", required=True, help="detect.npz of each run")
    parser.add_argument("--labels", nargs="+", required=True, help="noisy label file of each run")
    parser.add_argument("--clean", nargs="+", required=True, help="shard directory of each run")


def draw(args: argparse.Namespace) -> None:
    import matplotlib

    from irnoise.detect.evaluation import precision_recall_curve
    from irnoise.detect.scores import load
    from irnoise.plan import SCHEMES_BY_HARM, parse_run_path
    from irnoise.report.collect import read_csv
    from irnoise.report.figures import panel_grid, save_figure
    from irnoise.report.table4 import best_detector, changed_mask

    table = read_csv(
        args.table,
        "Table 4",
        "build it with `snakemake --cores all results/table4.csv`",
        ("detector", "average_precision"),
    )
    detector = best_detector(table)
    runs = [
        (parse_run_path(scores), scores, labels, clean)
        for scores, labels, clean in zip(args.scores, args.labels, args.clean, strict=True)
    ]
    schemes = [s for s in SCHEMES_BY_HARM if any(run.scheme == s for run, *_ in runs)]
    levels = sorted({run.level for run, *_ in runs})
    experiments = sorted({run.experiment for run, *_ in runs})
    figure, axes = panel_grid(len(schemes), f"Finding the changed labels: {detector} detector")
    for axis, scheme in zip(axes, schemes, strict=True):
        for run, scores, labels, clean in runs:
            if run.scheme != scheme:
                continue
            changed = changed_mask(labels, clean)
            precision, recall = precision_recall_curve(load(scores).scores[detector], changed)
            shade = 0.4 + 0.6 * (levels.index(run.level) + 1) / len(levels)
            colormap = matplotlib.colormaps[
                ("Reds", "Blues", "Greens", "Purples")[experiments.index(run.experiment) % 4]
            ]
            label = f"{run.experiment} {run.level:g}"
            axis.plot(recall, precision, color=colormap(shade), label=label, linewidth=1.2)
            axis.axhline(changed.mean(), color=colormap(shade), linestyle=":", linewidth=0.8)
        handles, names = axis.get_legend_handles_labels()
        unique = dict(zip(names, handles, strict=True))
        axis.legend(unique.values(), unique.keys(), title="experiment, level")
        axis.set(title=f"{scheme} noise", xlabel="recall", ylabel="precision", xlim=(0, 1))
        axis.set_ylim(0, 1.02)
    save_figure(figure, args.out)
