"""The paper's claims C1-C4 tested on this run: results/findings.csv and findings.md.

One row per claim (and per retrieval experiment and level where the claim is made per
level), with the paper's figure, our effect estimate, its seed-level t interval from a
paired bootstrap (over seeds and test queries, from the runs' per_query.npz) and a
verdict: reproduced, contradicted or inconclusive. The rules are in
irnoise.report.findings and docs/findings.md.

With --recipes, the same findings under each training recipe, one verdict column per
recipe and whether they agree (results/findings_by_recipe.csv,
irnoise.report.findings_by_recipe)."""

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
    parser.add_argument(
        "--recipes",
        metavar="JSON",
        help="write the verdicts under each recipe instead: a JSON object recipe -> "
        "{experiment: the experiment whose runs the recipe reads for it} (the config's "
        'recipe_experiments, e.g. {"default": {"sop": "sop"}, "lr_x1.5": '
        '{"sop": "sop-lr_x1.5"}})',
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
    if args.recipes is not None:
        write_by_recipe(args, frame)
        return
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


def write_by_recipe(args: argparse.Namespace, frame) -> None:
    from irnoise.atomic import write_text
    from irnoise.report.findings_by_recipe import recipe_findings, verdicts_frame, verdicts_markdown
    from irnoise.report.table2 import load_stats, mean_by_cell

    recipes = parse_recipes(args.recipes, set(frame["experiment"]))
    records = load_stats(args.stats)
    by_recipe = recipe_findings(
        frame,
        args.per_query,
        recipes,
        mean_by_cell(records, "corrupted_pct"),
        mean_by_cell(records, "noise_rate_pct"),
        args.resamples,
        args.confidence,
    )
    write_text(args.out, verdicts_frame(by_recipe).to_csv(index=False))
    md_path = args.md or Path(args.out).with_suffix(".md")
    write_text(md_path, verdicts_markdown(by_recipe, recipes, args.resamples, args.confidence))


def parse_recipes(text: str, runs: set[str]) -> dict[str, dict[str, str]]:
    """--recipes checked: recipe -> {experiment: run experiment}, every run given."""
    import json

    from irnoise.errors import UserError

    try:
        recipes = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"--recipes is not JSON: {error}") from None
    valid = (
        isinstance(recipes, dict)
        and recipes
        and all(
            isinstance(reads, dict) and all(isinstance(v, str) for v in reads.values())
            for reads in recipes.values()
        )
    )
    if not valid:
        raise UserError(
            "--recipes: expected a JSON object recipe -> {experiment: experiment whose runs "
            'it reads}, e.g. {"default": {"sop": "sop"}}'
        )
    missing = sorted({r for reads in recipes.values() for r in reads.values()} - runs)
    if missing:
        raise UserError(
            f"--recipes reads experiment(s) {', '.join(missing)}, of which no metrics.json "
            "was given: pass their runs' metrics.json too"
        )
    return recipes
