"""The paper's claims C1-C4 tested on a run's outputs, each with a verdict.

The rules (docs/findings.md) were fixed before any result was looked at; do not tune
them to one. Every claim is an effect that the paper predicts to lie above a null value:

- `reproduced` when the whole 95% interval lies above the null (low > null);
- `contradicted` when the whole interval lies below it (high < null);
- `inconclusive` when the interval contains the null or is undefined, or when a run the
  claim needs is missing (the row's note names it).

C1: drop(retrieval R@1) - drop(classification accuracy), uniform noise, per retrieval
experiment and level, in percentage points, null 0. C2a: drop(uniform) - drop(small);
C2b: drop(small) - drop(large), per retrieval experiment and level, pp, null 0. C3:
Spearman correlation between % corrupted classes and drop over scheme x level, per
retrieval experiment, null 0. C4: relative drop of the verification experiment's
TPR@FPR=1e-3 at 5% uniform noise, %, null 50 ("breaks down": more than half is lost).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from irnoise.evaluate.tasks import TPR_NAME
from irnoise.plan import (
    CLASSIFICATION,
    CLEAN_SCHEME,
    LARGE,
    RETRIEVAL,
    SCHEMES_BY_HARM,
    SMALL,
    UNIFORM,
    VERIFICATION,
)
from irnoise.report.bootstrap import Interval, rank_correlation, relative_drop
from irnoise.report.intervals import Condition, GridResamples

if TYPE_CHECKING:
    import pandas as pd

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE)
C4_LEVEL = 0.05
C4_NULL = 50.0  # % of TPR@FPR=1e-3 lost: "breaks down" means more than half
C3_MIN_CELLS = 3

# The paper's datasets, matched to experiments by name, and the task of each.
PAPER_NAMES = {"sop": "SOP", "inshop": "In-Shop", "faces": "LFW", "imagenet": "ImageNet"}
PAPER_TASKS = {
    "sop": RETRIEVAL,
    "inshop": RETRIEVAL,
    "faces": VERIFICATION,
    "imagenet": CLASSIFICATION,
}
HEADLINE = {RETRIEVAL: "R@1", CLASSIFICATION: "accuracy", VERIFICATION: TPR_NAME}
# The study's Table 1 (%): clean, then 1%, 5%, 10% uniform noise (~0 written as 0).
PAPER_LEVELS = (0.01, 0.05, 0.1)
PAPER_TABLE1 = {
    "imagenet": (67.32, 67.09, 66.42, 65.80),
    "inshop": (84.61, 82.09, 74.70, 72.70),
    "sop": (63.49, 63.68, 60.72, 58.78),
    "faces": (99.27, 99.23, 0.0, 0.0),  # TPR@FPR=1e-3 on LFW
}
# The paper's Figure 3, In-Shop at 5%: relative drop (%) per scheme.
PAPER_FIGURE3 = {("inshop", 0.05): {UNIFORM: 10.0, SMALL: 4.5, LARGE: 2.0}}

STATEMENTS = {
    "C1": "retrieval is less robust than classification",
    "C2a": "uniform noise hurts more than small-class noise",
    "C2b": "small-class noise hurts more than large-class noise",
    "C3": "the drop grows with the share of corrupted classes",
    "C4": "face verification breaks down at 5% uniform noise",
}
EFFECTS = {
    "C1": "drop(R@1) - drop(accuracy), pp",
    "C2a": "drop(uniform) - drop(small), pp",
    "C2b": "drop(small) - drop(large), pp",
    "C3": "Spearman rho(% corrupted classes, drop)",
    "C4": "drop of TPR@FPR=1e-3, %",
}


@dataclass(frozen=True)
class Finding:
    claim: str
    statement: str
    experiment: str
    level: float  # NaN for claims over all levels
    paper: str
    paper_effect: float
    effect_measure: str
    effect: float
    low: float
    high: float
    null: float
    verdict: str
    note: str


def verdict(interval: Interval, null: float, missing: Sequence[str] = ()) -> str:
    """The verdict rule (module docstring): the same for every claim."""
    if missing or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return INCONCLUSIVE
    if interval.low > null:
        return REPRODUCED
    if interval.high < null:
        return CONTRADICTED
    return INCONCLUSIVE


def paper_drop(experiment: str, level: float) -> float:
    """The paper's relative drop (%) of an experiment at a level of its Table 1, or NaN."""
    if experiment not in PAPER_TABLE1 or level not in PAPER_LEVELS:
        return math.nan
    values = PAPER_TABLE1[experiment]
    clean, noisy = values[0], values[1 + PAPER_LEVELS.index(level)]
    return 100 * (clean - noisy) / clean


@dataclass(frozen=True)
class StudyResults:
    """What findings need from a run: its resamples, experiments and noise statistics."""

    grid: GridResamples
    tasks: Mapping[str, str]  # experiment -> task, the paper's experiments included
    train: Mapping[str, str]  # experiment -> train dataset (experiments of the run)
    levels: tuple[float, ...]  # the run's levels and the paper's
    corrupted_pct: Mapping[tuple[str, str, float], float]  # (train, scheme, level) -> %

    def experiments(self, task: str) -> list[str]:
        return sorted(name for name, t in self.tasks.items() if t == task)

    def reference(self, task: str) -> str | None:
        """The run's experiment for a task, the paper's name first."""
        run = [name for name in self.experiments(task) if name in self.train]
        preferred = [name for name in run if name in PAPER_NAMES]
        return (preferred or run or [None])[0]


def build_study(
    frame: pd.DataFrame, grid: GridResamples, corrupted_pct: Mapping[tuple[str, str, float], float]
) -> StudyResults:
    runs = frame.drop_duplicates("experiment").set_index("experiment")
    tasks = dict(PAPER_TASKS) | runs["task"].to_dict()
    levels = {float(level) for level in frame["level"] if level > 0} | set(PAPER_LEVELS)
    return StudyResults(grid, tasks, runs["train"].to_dict(), tuple(sorted(levels)), corrupted_pct)


def build_findings(study: StudyResults) -> list[Finding]:
    """Rows of C1, C2a, C2b, C3, C4 in that order (docs/findings.md says which exist)."""
    retrieval = study.experiments(RETRIEVAL)
    cells = [(experiment, level) for experiment in retrieval for level in study.levels]
    rows = [c1(study, experiment, level) for experiment, level in cells]
    c2_rows = [row for experiment, level in cells for row in c2(study, experiment, level)]
    rows += sorted(c2_rows, key=lambda row: row.claim)  # stable: C2a rows, then C2b
    rows += [c3(study, experiment) for experiment in retrieval]
    return [*rows, c4(study)]


def c1(study: StudyResults, experiment: str, level: float) -> Finding:
    classifier = study.reference(CLASSIFICATION)
    retrieval = Condition(experiment, UNIFORM, level, HEADLINE[RETRIEVAL])
    if classifier is None:
        return _finding(study, "C1", experiment, level, _c1_paper(experiment, level),
                        (retrieval,), ["no classification experiment in the run"])  # fmt: skip
    classification = Condition(classifier, UNIFORM, level, HEADLINE[CLASSIFICATION])

    def statistic(m):
        return 100 * (_drop(m, retrieval) - _drop(m, classification))

    return _finding(study, "C1", experiment, level, _c1_paper(experiment, level),
                    (retrieval, classification), statistic=statistic)  # fmt: skip


def _c1_paper(experiment: str, level: float) -> tuple[str, float]:
    retrieval, classification = paper_drop(experiment, level), paper_drop("imagenet", level)
    if math.isnan(retrieval):
        return "", math.nan
    name = PAPER_NAMES[experiment]
    return f"{name} {retrieval:.1f}% vs ImageNet {classification:.1f}%", retrieval - classification


def c2(study: StudyResults, experiment: str, level: float) -> list[Finding]:
    conditions = {s: Condition(experiment, s, level, HEADLINE[RETRIEVAL]) for s in SCHEMES_BY_HARM}
    paper = PAPER_FIGURE3.get((experiment, level))
    rows = []
    for claim, more, less in (("C2a", UNIFORM, SMALL), ("C2b", SMALL, LARGE)):
        figure = ("", math.nan)
        if paper:
            text = f"{PAPER_NAMES[experiment]} {more} {paper[more]:g}% vs {less} {paper[less]:g}%"
            figure = (text, paper[more] - paper[less])

        def statistic(m, more=conditions[more], less=conditions[less]):
            return 100 * (_drop(m, more) - _drop(m, less))

        pair = (conditions[more], conditions[less])
        rows.append(_finding(study, claim, experiment, level, figure, pair, statistic=statistic))
    return rows


def c3(study: StudyResults, experiment: str) -> Finding:
    paper = ("positive (Figure 3)", math.nan)
    train = study.train.get(experiment)
    cells = [
        Condition(experiment, scheme, level, HEADLINE[RETRIEVAL])
        for scheme in SCHEMES_BY_HARM
        for level in study.levels
    ]
    usable = [
        c
        for c in cells
        if study.grid.has(c, c.clean) and (train, c.scheme, c.level) in study.corrupted_pct
    ]
    if len(usable) < C3_MIN_CELLS:
        note = f"{len(usable)} scheme x level cells with a drop and noise stats, C3 needs 3"
        return _finding(study, "C3", experiment, math.nan, paper, (), [note])
    x = [study.corrupted_pct[(train, c.scheme, c.level)] for c in usable]

    def statistic(m):
        return rank_correlation(x, [_drop(m, c) for c in usable])

    finding = _finding(study, "C3", experiment, math.nan, paper, usable, statistic=statistic)
    return _with_note(finding, f"{len(usable)} cells; rho is unitless")


def c4(study: StudyResults) -> Finding:
    experiment = study.reference(VERIFICATION) or "faces"
    paper_text = "TPR@FPR=1e-3 99.27% -> ~0 (drop ~100%)"
    paper = (paper_text, paper_drop("faces", C4_LEVEL)) if experiment == "faces" else ("", math.nan)
    condition = Condition(experiment, UNIFORM, C4_LEVEL, TPR_NAME)

    def statistic(m):
        return 100 * _drop(m, condition)

    return _finding(study, "C4", experiment, C4_LEVEL, paper, (condition,), null=C4_NULL,
                    statistic=statistic)  # fmt: skip


def _drop(m: Mapping[str, np.ndarray], condition: Condition) -> np.ndarray:
    return relative_drop(m[condition.clean.name], m[condition.name])


def _finding(
    study: StudyResults,
    claim: str,
    experiment: str,
    level: float,
    paper: tuple[str, float],
    conditions: Sequence[Condition],
    missing: Sequence[str] = (),
    null: float = 0.0,
    statistic: Callable | None = None,
) -> Finding:
    missing = list(missing) + _missing(study, conditions)
    nan = Interval(math.nan, math.nan, math.nan, study.grid.confidence)
    interval = nan if missing or statistic is None else study.grid.interval(statistic)
    note = "missing: " + "; ".join(missing) if missing else ""
    if not missing and verdict(interval, null) == INCONCLUSIVE:
        note = "interval undefined" if math.isnan(interval.low) else "interval contains the null"
    return Finding(
        claim=claim,
        statement=STATEMENTS[claim],
        experiment=experiment,
        level=level,
        paper=paper[0],
        paper_effect=paper[1],
        effect_measure=EFFECTS[claim],
        effect=interval.estimate,
        low=interval.low,
        high=interval.high,
        null=null,
        verdict=verdict(interval, null, missing),
        note=note,
    )


def _missing(study: StudyResults, conditions: Sequence[Condition]) -> list[str]:
    """The runs (clean included) that the conditions need and the grid lacks."""
    needed = dict.fromkeys(c for condition in conditions for c in (condition.clean, condition))
    return [_describe(c) for c in needed if not study.grid.has(c)]


def _describe(c: Condition) -> str:
    where = CLEAN_SCHEME if c.scheme == CLEAN_SCHEME else f"{c.scheme} {100 * c.level:g}%"
    return f"{c.experiment} {where} ({c.metric})"


def _with_note(finding: Finding, note: str) -> Finding:
    joined = f"{finding.note}; {note}" if finding.note else note
    return Finding(**(asdict(finding) | {"note": joined}))


COLUMNS = [f.name for f in fields(Finding)]


def findings_frame(findings: Sequence[Finding]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([asdict(f) for f in findings], columns=COLUMNS)


def findings_markdown(findings: Sequence[Finding], seeds: Sequence[int], resamples: int) -> str:
    counts = {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
    lines = [
        "# Findings: the paper's claims tested on this run",
        "",
        f"{len(findings)} rows: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".",
        f"Seeds: {', '.join(map(str, seeds))}. 95% intervals: percentile bootstrap "
        f"({resamples} resamples) over the seeds and the test queries (pairs for TPR@FPR), "
        "paired (clean and noisy runs of a seed on the same resampled queries).",
        "Verdict: reproduced when the whole interval lies above the null, contradicted "
        "when it lies below, inconclusive when it contains the null or a needed run is "
        "missing (docs/findings.md).",
        "",
        "| Claim | Experiment | Level | Paper | Effect | Ours [95% interval] | Null | Verdict "
        "| Note |",
        "|---|---|---:|---|---|---:|---:|---|---|",
    ]
    for f in findings:
        level = "all" if math.isnan(f.level) else f"{100 * f.level:g}%"
        paper = f.paper + ("" if math.isnan(f.paper_effect) else f" ({f.paper_effect:+.1f})")
        ours = "–" if math.isnan(f.effect) else f"{f.effect:+.2f}"
        if not math.isnan(f.low):
            ours += f" [{f.low:+.2f}, {f.high:+.2f}]"
        cells = [f"{f.claim} {f.statement}", f.experiment, level, paper or "–", f.effect_measure,
                 ours, f"{f.null:g}", f"**{f.verdict}**", f.note]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
