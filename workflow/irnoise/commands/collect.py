"""Gather every run's metrics.json into one tidy table (results/metrics.csv).

One row per run and metric: experiment, train, eval, task, scheme, level, seed, metric,
value (a fraction in [0, 1]). Tables and figures read runs through the same parser.
"""

from __future__ import annotations

import argparse

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the CSV to write (results/metrics.csv)")
    parser.add_argument(
        "metrics",
        nargs="*",
        metavar="METRICS_JSON",
        help="metrics.json files of the runs (results/runs/.../metrics.json)",
    )


def run(args: argparse.Namespace) -> None:
    from irnoise.report.collect import metrics_frame, write_metrics_csv

    frame = metrics_frame(args.metrics)
    write_metrics_csv(frame, args.out)
