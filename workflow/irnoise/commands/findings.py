"""The paper's claims C1-C4 tested on this run: results/findings.csv and findings.md.

One row per claim (and per retrieval experiment and level where the claim is made per
level), with the paper's figure, our effect estimate, its seed-level t interval from a
paired bootstrap (over seeds and test queries, from the runs' per_query.npz) and a
verdict: reproduced, contradicted or inconclusive. The rules are in
irnoise.report.findings and docs/findings.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from irnoise.arguments import add_bootstrap_arguments

# The arguments this command writes (irnoise.outputs).
OUTPUTS = ("out", "md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the CSV to write (results/findings.csv)")
    parser.add_argument("--md", help="the Markdown to write (default: --out with suffix .md)")
    parser.add_argument(
        "--per-query",
        nargs="+",
        required=True,
        metavar="NPZ",
        help="per_query.npz of every run (results/runs/.../per_query.npz)",
    )
    parser.add_argument(
        "--stats",
        nargs="*",
        default=[],
        metavar="STATS_JSON",
        help="label stats data/labels/<dataset>/<scheme>/<level>/seed<seed>.json (C3, C4's "
        "regime, the achieved noise)",
    )
    add_bootstrap_arguments(parser)
    parser.add_argument(
        "metrics_json", nargs="+", metavar="METRICS_JSON", help="metrics.json of every run"
    )


def run(args: argparse.Namespace) -> None:
    from irnoise.atomic import write_text
    from irnoise.report.collect import load_metrics
    from irnoise.report.findings import (
        HEADLINE,
        build_findings,
        build_study,
    )
    from irnoise.report.findings_output import findings_frame, findings_markdown
    from irnoise.report.intervals import grid_resamples
    from irnoise.report.table2 import load_stats, mean_by_cell

    frame = load_metrics(args.metrics_json)
    grid = grid_resamples(
        frame, args.per_query, set(HEADLINE.values()), args.resamples, args.confidence
    )
    records = load_stats(args.stats)
    corrupted = mean_by_cell(records, "corrupted_pct")
    achieved = mean_by_cell(records, "noise_rate_pct")
    findings = build_findings(build_study(frame, grid, corrupted, achieved))
    write_text(args.out, findings_frame(findings).to_csv(index=False))
    md_path = args.md or Path(args.out).with_suffix(".md")
    write_text(md_path, findings_markdown(findings, grid.seeds, args.resamples, args.confidence))
