"""The study's Table 1: headline metrics under uniform label noise, clean vs each level.

Reads runs from their metrics.json files (as the workflow passes them) and/or from
results/metrics.csv; writes the table as CSV (values and drops in %) and as Markdown
beside it (same name, .md) unless --md names another file. With --per-query (the runs'
per_query.npz), every relative drop gets its seed-level t interval (the config's
statistics.confidence); with --stats (the uniform label files' stats), every level gets
the noise rate achieved on each train dataset beside the nominal one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnoise.arguments import add_bootstrap_arguments

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out", "md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the CSV to write (results/table1.csv)")
    parser.add_argument("--md", help="the Markdown to write (default: --out with suffix .md)")
    parser.add_argument("--metrics", help="a tidy metrics table written by `irnoise collect`")
    parser.add_argument(
        "--per-query",
        nargs="+",
        default=[],
        metavar="NPZ",
        help="per_query.npz of the same runs: intervals for the drops",
    )
    parser.add_argument(
        "--stats",
        nargs="*",
        default=[],
        metavar="STATS_JSON",
        help="label stats data/labels/<dataset>/uniform/<level>/seed<seed>.json: the "
        "achieved noise rate beside the nominal level",
    )
    add_bootstrap_arguments(parser)
    parser.add_argument(
        "metrics_json",
        nargs="*",
        metavar="METRICS_JSON",
        help="metrics.json files of the clean and uniform-noise runs",
    )


def run(args: argparse.Namespace) -> None:
    from irnoise.report.collect import load_metrics
    from irnoise.report.intervals import grid_resamples
    from irnoise.report.table1 import (
        HEADLINE_METRICS,
        NOISE_SCHEME,
        build_table1,
        uniform_runs,
        write_table1,
    )
    from irnoise.report.table2 import load_stats, mean_by_cell

    frame = uniform_runs(load_metrics(args.metrics_json, args.metrics))
    resamples = None
    if args.per_query:
        metrics = {metric for names in HEADLINE_METRICS.values() for metric in names}
        resamples = grid_resamples(frame, args.per_query, metrics, args.resamples, args.confidence)
    achieved = {
        (dataset, level): pct
        for (dataset, scheme, level), pct in mean_by_cell(
            load_stats(args.stats), "noise_rate_pct"
        ).items()
        if scheme == NOISE_SCHEME
    }
    table = build_table1(frame, resamples, achieved)
    seeds = sorted(set(frame["seed"].astype(int)))
    md_path = args.md or Path(args.out).with_suffix(".md")
    write_table1(
        table, seeds, args.out, md_path, args.resamples if resamples else 0, args.confidence
    )
