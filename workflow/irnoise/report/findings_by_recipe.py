"""The findings under every training recipe, side by side, and where they agree.

Each recipe's findings are the very findings of `irnoise.report.findings`, run on the
recipe's experiments renamed to the config's (a recipe reads `sop-lr_x1.5`'s runs as
`sop`'s, and the config's own runs where it changes nothing), so that the paper's names
match and every recipe has the same rows. A claim row is robust only where every recipe
gives it the same verdict (docs/findings.md, "Robustness across recipes").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from irnoise.report.findings import HEADLINE, Finding, build_findings, build_study
from irnoise.report.findings_output import effect_text
from irnoise.report.intervals import grid_resamples, method_text

if TYPE_CHECKING:
    import pandas as pd

NOT_ROBUST = "not robust (recipes disagree)"
KEY_COLUMNS = ["claim", "statement", "experiment", "level"]
ROBUST_COLUMN = "robust"
EFFECT_FIELDS = ("effect", "low", "high")  # each recipe's, after the verdicts: "<recipe> effect"

RowKey = tuple[str, str, str]  # claim, experiment, level as written (NaN: "all")


def recipe_frame(frame: pd.DataFrame, runs_of: Mapping[str, str]) -> pd.DataFrame:
    """The metrics of a recipe's runs, under the config's experiment names."""
    renamed = {run: name for name, run in runs_of.items()}
    rows = frame[frame["experiment"].isin(renamed)]
    return rows.assign(experiment=rows["experiment"].map(renamed))


def recipe_findings(
    frame: pd.DataFrame,
    per_query: Sequence[str],
    recipes: Mapping[str, Mapping[str, str]],
    corrupted: Mapping[tuple[str, str, float], float],
    achieved: Mapping[tuple[str, str, float], float],
    resamples: int,
    confidence: float,
) -> dict[str, list[Finding]]:
    """recipe -> its findings; `recipes`: recipe -> config's experiment -> run experiment."""
    by_recipe = {}
    for recipe, runs_of in recipes.items():
        rows = recipe_frame(frame, runs_of)
        grid = grid_resamples(
            rows, per_query, set(HEADLINE.values()), resamples, confidence, runs_of=runs_of
        )
        by_recipe[recipe] = build_findings(build_study(rows, grid, corrupted, achieved))
    return by_recipe


def row_key(finding: Finding) -> RowKey:
    level = "all" if math.isnan(finding.level) else f"{finding.level:g}"
    return finding.claim, finding.experiment, level


def robust_verdict(verdicts: Sequence[str]) -> str:
    """The shared verdict where every recipe agrees, else NOT_ROBUST."""
    return verdicts[0] if len(set(verdicts)) == 1 else NOT_ROBUST


def verdict_rows(by_recipe: Mapping[str, Sequence[Finding]]) -> list[dict[str, Any]]:
    """One row per claim row of any recipe: its key, each recipe's verdict, `robust`, and
    each recipe's effect and interval (a verdict is read with its number). A row a recipe
    lacks counts as its disagreement ('–')."""
    rows: dict[RowKey, dict[str, Any]] = {}
    for recipe, findings in by_recipe.items():
        for finding in findings:
            claim, experiment, level = row_key(finding)
            row = rows.setdefault(
                (claim, experiment, level),
                {"claim": claim, "statement": finding.statement,
                 "experiment": experiment, "level": level},
            )  # fmt: skip
            row[recipe] = finding.verdict
            for field in EFFECT_FIELDS:
                row[f"{recipe} {field}"] = getattr(finding, field)
    for row in rows.values():
        row[ROBUST_COLUMN] = robust_verdict([row.get(recipe, "–") for recipe in by_recipe])
    return list(rows.values())


def verdicts_frame(by_recipe: Mapping[str, Sequence[Finding]]) -> pd.DataFrame:
    import pandas as pd

    effects = [f"{recipe} {field}" for recipe in by_recipe for field in EFFECT_FIELDS]
    columns = [*KEY_COLUMNS, *by_recipe, ROBUST_COLUMN, *effects]
    frame = pd.DataFrame(verdict_rows(by_recipe), columns=columns)
    return frame.fillna({name: "–" for name in [*by_recipe, ROBUST_COLUMN]})


def verdicts_markdown(
    by_recipe: Mapping[str, Sequence[Finding]],
    recipes: Mapping[str, Mapping[str, str]],
    resamples: int,
    confidence: float,
) -> str:
    rows = verdict_rows(by_recipe)
    robust = sum(row[ROBUST_COLUMN] != NOT_ROBUST for row in rows)
    lines = [
        "# Findings by recipe: the paper's claims under each training recipe",
        "",
        f"{len(rows)} claim rows, {robust} with the same verdict under every recipe. "
        "Each recipe's cell: its verdict, then its effect [interval] as in "
        f"results/findings.md. {method_text(resamples, confidence)}. A claim is robust "
        'only where every recipe gives the same verdict (docs/findings.md, "Robustness '
        'across recipes").',
        "",
        "Experiments each recipe reads (the config's where it changes nothing): "
        + "; ".join(
            f"{recipe}: " + ", ".join(f"{name} <- {run}" for name, run in runs.items())
            for recipe, runs in recipes.items()
        ),
        "",
        "| Claim | Experiment | Level | " + " | ".join(by_recipe) + " | Robust |",
        "|---|---|---:|" + "---|" * len(by_recipe) + "---|",
    ]
    for row in rows:
        level = row["level"] if row["level"] == "all" else f"{100 * float(row['level']):g}%"
        verdicts = [
            f"{row[recipe]}, {effect_text(*(row[f'{recipe} {f}'] for f in EFFECT_FIELDS))}"
            if recipe in row
            else "–"
            for recipe in by_recipe
        ]
        cells = [f"{row['claim']} {row['statement']}", row["experiment"], level, *verdicts,
                 f"**{row[ROBUST_COLUMN]}**"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
