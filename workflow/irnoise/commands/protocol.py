"""The In-Shop protocol question: R@1 drops under query against gallery and leave-one-out.

Reads the per_query.npz (--official) and per_query_loo.npz (--leave-one-out, written by
`irnoise evaluate --protocol leave-one-out`) of every clean and noisy run of the
In-Shop-shaped experiments, and writes --out (CSV) and --md: per experiment, scheme and
level, the R@1 drop (clean minus noisy, points) under each protocol, their difference
and its verdict, each with the report's interval (`irnoise.report.protocol`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnoise.arguments import add_bootstrap_arguments

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out", "md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="the CSV to write")
    parser.add_argument("--md", type=Path, help="the Markdown to write (default: --out, .md)")
    parser.add_argument(
        "--official",
        nargs="+",
        required=True,
        type=Path,
        metavar="NPZ",
        help="per_query.npz of every clean and noisy run (query against gallery)",
    )
    parser.add_argument(
        "--leave-one-out",
        nargs="+",
        required=True,
        type=Path,
        metavar="NPZ",
        help="per_query_loo.npz of the same runs (leave-one-out over query + gallery)",
    )
    add_bootstrap_arguments(parser)


def run(args: argparse.Namespace) -> None:
    from irnoise.atomic import write_text
    from irnoise.plan import LEAVE_ONE_OUT, OFFICIAL
    from irnoise.report import protocol

    paths = {OFFICIAL: args.official, LEAVE_ONE_OUT: args.leave_one_out}
    rows = protocol.protocol_rows(paths, args.resamples, args.confidence)
    write_text(args.out, protocol.to_csv(rows))
    markdown = protocol.to_markdown(rows, args.resamples, args.confidence)
    write_text(args.md or args.out.with_suffix(".md"), markdown)
