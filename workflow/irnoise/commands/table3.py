"""Table 3: noise-robust training methods under each noise scheme (docs/methods.md).

Reads method none's clean and noisy runs and every method's runs from their metrics.json
files (and their per_query.npz, for intervals over test queries too), and the filtering
methods' filter.json files; writes the tidy table as CSV (R@1,
the share of the drop recovered, and the filters' precision and recall, each with an
interval, in %) and as Markdown beside it (same name, .md) unless --md names another file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnoise.arguments import add_bootstrap_arguments

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out", "md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the CSV to write (results/table3.csv)")
    parser.add_argument("--md", help="the Markdown to write (default: --out with suffix .md)")
    parser.add_argument(
        "--metrics", nargs="+", required=True, metavar="METRICS_JSON", help="runs' metrics.json"
    )
    parser.add_argument(
        "--filters", nargs="*", default=[], metavar="FILTER_JSON", help="methods' filter.json"
    )
    parser.add_argument(
        "--per-query",
        nargs="*",
        default=[],
        metavar="PER_QUERY_NPZ",
        help="the runs' per_query.npz (intervals over seeds and queries; else seeds only)",
    )
    add_bootstrap_arguments(parser)


def run(args: argparse.Namespace) -> None:
    from irnoise.report.collect import metrics_frame
    from irnoise.report.table3 import build_table3, read_filters, write_table3

    frame = metrics_frame(args.metrics)
    table = build_table3(
        frame, read_filters(args.filters), args.per_query, args.resamples, args.confidence
    )
    write_table3(table, args.out, args.md or Path(args.out).with_suffix(".md"), args.confidence)
