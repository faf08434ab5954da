"""Table 4: how well each detector finds each noise scheme's changed labels.

Takes every noisy run's detect.npz (--scores), its noisy label file (--labels) and the
train dataset's shard directory (--clean, for the clean labels), in the same order; writes
results/table4.csv (AUROC, average precision, precision and recall at T; mean over seeds
with a seed-level t interval) and the same table in Markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnoise.arguments import add_bootstrap_arguments

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out", "md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the CSV to write (results/table4.csv)")
    parser.add_argument("--md", help="the Markdown to write (default: --out with suffix .md)")
    parser.add_argument("--scores", nargs="+", required=True, help="detect.npz of each run")
    parser.add_argument("--labels", nargs="+", required=True, help="noisy label file of each run")
    parser.add_argument("--clean", nargs="+", required=True, help="shard directory of each run")
    add_bootstrap_arguments(parser)


def run(args: argparse.Namespace) -> None:
    from irnoise.report.table4 import build_table4, per_run_metrics, write_table4

    per_run = per_run_metrics(args.scores, args.labels, args.clean)
    table = build_table4(per_run, args.resamples, args.confidence)
    write_table4(table, args.out, args.md or Path(args.out).with_suffix(".md"), args.confidence)
