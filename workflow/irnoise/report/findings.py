"""The paper's claims C1-C4 tested on a run's outputs, each with a verdict.

The rules (docs/findings.md) were fixed before any result was looked at; do not tune
them to one. Every claim is an effect that the paper predicts to lie above a null value:

- `reproduced` when the whole interval (statistics.confidence) lies above the null (low > null);
- `contradicted` when the whole interval lies below it (high < null);
- `inconclusive` when the interval contains the null or is undefined, or when a run the
  claim needs is missing (the row's note names it).

C1: drop(retrieval R@1) - drop(classification accuracy), uniform noise, per retrieval
experiment and level, in percentage points, null 0. C2a: drop(uniform) - drop(small);
C2b: drop(small) - drop(large), per retrieval experiment and level, pp, null 0. C3:
Spearman correlation between % corrupted classes and drop across the schemes within each
noise level, averaged over the levels, per retrieval experiment, null 0, decided by a
permutation test that shuffles the schemes within each level. C4: relative drop of the
verification experiment's TPR@FPR=1e-3 over all pairs of test images, %, null 50
("breaks down": more than half is lost), at the level whose share of corrupted classes
is closest to the study's (MS-Celeb-1M at 5% uniform noise: 88%).

Every reproduced or contradicted verdict must also hold under the seed-level t interval
computed from metrics.csv alone (`irnoise.report.seed_check`); where it does not, the
verdict is inconclusive and the note says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from irnoise.evaluate.tasks import ALL_PAIRS_TPR_NAME
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
from irnoise.report import seed_check
from irnoise.report.bootstrap import Interval, relative_drop
from irnoise.report.intervals import Condition, GridResamples
from irnoise.report.stratified import stratified_permutation_test, stratified_rho
from irnoise.report.study_reference import (
    PAPER_FIGURE3,
    PAPER_LEVELS,
    PAPER_NAMES,
    PAPER_TASKS,
    paper_drop,
)

if TYPE_CHECKING:
    import pandas as pd

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"
# C4 outside the study's regime: a drop below the null says nothing against the study.
NOT_IN_REGIME = "not reproduced in this regime"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_IN_REGIME)
C4_LEVEL = 0.05  # the study's level; C4 uses the run's level matching its regime
C4_NULL = 50.0  # % of TPR@FPR=1e-3 lost: "breaks down" means more than half
# MS-Celeb-1M at 5% uniform noise: the share of its classes that noise corrupts (%).
C4_STUDY_CORRUPTED_PCT = 88.0
C4_REGIME_TOLERANCE = 10.0  # points of corrupted-class share that still match the study
C3_MIN_CELLS = 3

# C4 reads TPR@FPR=1e-3 over all pairs of test images: the listed pairs' 3,000 negatives
# let the threshold rest on 4 scores.
HEADLINE = {RETRIEVAL: "R@1", CLASSIFICATION: "accuracy", VERIFICATION: ALL_PAIRS_TPR_NAME}

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
    "C3": "Spearman rho(% corrupted classes, drop) within a level, mean over levels",
    "C4": "drop of TPR@FPR=1e-3 over all pairs of test images, %",
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
    achieved: str  # achieved noise rate (labels changed) of each noisy condition
    seed_t_low: float  # the seed-level t interval from metrics.csv alone (the check)
    seed_t_high: float


def verdict(interval: Interval, null: float, missing: Sequence[str] = ()) -> str:
    """The verdict rule (module docstring): the same for every claim."""
    if missing or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return INCONCLUSIVE
    if interval.low > null:
        return REPRODUCED
    if interval.high < null:
        return CONTRADICTED
    return INCONCLUSIVE


@dataclass(frozen=True)
class StudyResults:
    """What findings need from a run: its resamples, experiments and noise statistics."""

    grid: GridResamples
    tasks: Mapping[str, str]  # experiment -> task, the paper's experiments included
    train: Mapping[str, str]  # experiment -> train dataset (experiments of the run)
    levels: tuple[float, ...]  # the run's levels and the paper's
    corrupted_pct: Mapping[tuple[str, str, float], float]  # (train, scheme, level) -> %
    # (train, scheme, level) -> % of labels actually changed (the label stats' noise_rate)
    achieved_pct: Mapping[tuple[str, str, float], float] = field(default_factory=dict)
    # condition name -> {seed: value} from metrics.csv; None: no seed-level check
    per_seed: Mapping[str, Mapping[int, float]] | None = None

    def experiments(self, task: str) -> list[str]:
        return sorted(name for name, t in self.tasks.items() if t == task)

    def reference(self, task: str) -> str | None:
        """The run's experiment for a task, the paper's name first."""
        run = [name for name in self.experiments(task) if name in self.train]
        preferred = [name for name in run if name in PAPER_NAMES]
        return (preferred or run or [None])[0]


def build_study(
    frame: pd.DataFrame,
    grid: GridResamples,
    corrupted_pct: Mapping[tuple[str, str, float], float],
    achieved_pct: Mapping[tuple[str, str, float], float],
) -> StudyResults:
    runs = frame.drop_duplicates("experiment").set_index("experiment")
    tasks = dict(PAPER_TASKS) | runs["task"].to_dict()
    levels = {float(level) for level in frame["level"] if level > 0} | set(PAPER_LEVELS)
    per_seed = seed_check.per_seed_metrics(frame, lambda *key: Condition(*key).name)
    return StudyResults(grid, tasks, runs["train"].to_dict(), tuple(sorted(levels)),
                        corrupted_pct, achieved_pct, per_seed)  # fmt: skip


def build_findings(study: StudyResults) -> list[Finding]:
    """Rows of C1, C2a, C2b, C3, C4 in that order (docs/findings.md says which exist)."""
    retrieval = study.experiments(RETRIEVAL)
    cells = [
        (experiment, level) for experiment in retrieval for level in _levels(study, experiment)
    ]
    rows = [c1(study, experiment, level) for experiment, level in cells]
    c2_rows = [row for experiment, level in cells for row in c2(study, experiment, level)]
    rows += sorted(c2_rows, key=lambda row: row.claim)  # stable: C2a rows, then C2b
    rows += [c3(study, experiment) for experiment in retrieval]
    return [*rows, c4(study)]


def _levels(study: StudyResults, experiment: str) -> list[float]:
    """The paper's levels and those the experiment was trained at (an experiment may run
    fewer levels than the grid: a level it never ran would only give a "missing" row)."""
    return [
        level
        for level in study.levels
        if level in PAPER_LEVELS
        or any(
            study.grid.has(Condition(experiment, scheme, level, HEADLINE[RETRIEVAL]))
            for scheme in SCHEMES_BY_HARM
        )
    ]


def c1(study: StudyResults, experiment: str, level: float) -> Finding:
    classifier = study.reference(CLASSIFICATION)
    retrieval = Condition(experiment, UNIFORM, level, HEADLINE[RETRIEVAL])
    if classifier is None:
        return _finding(study, "C1", experiment, level, _c1_paper(experiment, level),
                        (retrieval,), ["no classification experiment in the run"])  # fmt: skip
    classification = Condition(classifier, UNIFORM, level, HEADLINE[CLASSIFICATION])

    def statistic(m):
        return 100 * (_drop(m, retrieval) - _drop(m, classification))

    # Unrelated trainings: Welch's interval, not paired by seed number.
    check = _check(
        study,
        lambda d: seed_check.welch_interval(
            list(d(retrieval).values()), list(d(classification).values()), study.grid.confidence
        ),
    )
    return _finding(
        study,
        "C1",
        experiment,
        level,
        _c1_paper(experiment, level),
        (retrieval, classification),
        statistic=statistic,
        check=_scaled(check, 100),
    )


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
        check = _check(study, lambda d, pair=pair: _paired_interval(study, d, *pair))
        rows.append(_finding(study, claim, experiment, level, figure, pair, statistic=statistic,
                             check=_scaled(check, 100)))  # fmt: skip
    return rows


def c3(study: StudyResults, experiment: str) -> Finding:
    """Within each level: does the scheme with more corrupted classes drop more? The
    level drives both the share and the drop, so cells are only compared within a level,
    and the null shuffles the schemes within each level (docs/findings.md)."""
    paper = ("positive (Figure 3)", math.nan)
    by_level = _c3_cells(study, experiment)
    cells = [c for level_cells in by_level.values() for c in level_cells]
    if len(cells) < C3_MIN_CELLS:
        note = f"{len(cells)} scheme x level cells with a drop and noise stats, C3 needs 3"
        return _finding(study, "C3", experiment, math.nan, paper, (), [note])
    train = study.train.get(experiment)
    xs = [[study.corrupted_pct[(train, c.scheme, c.level)] for c in cs] for cs in by_level.values()]
    drops = [[study.grid.drop(c).estimate for c in cs] for cs in by_level.values()]
    rho, p_above, p_below = stratified_permutation_test(xs, drops)
    interval = Interval(rho, math.nan, math.nan, study.grid.confidence)
    alpha = (1 - study.grid.confidence) / 2  # one side of the two-sided interval rule
    decided = REPRODUCED if p_above < alpha else CONTRADICTED if p_below < alpha else INCONCLUSIVE
    check = _check(
        study,
        lambda d: seed_check.mean_interval(
            _per_seed_rho(study, d, by_level, xs), study.grid.confidence
        ),
    )
    note = (
        f"{len(cells)} cells in {len(by_level)} level(s); permutation p (schemes "
        f"shuffled within a level): {p_above:.3g} above, {p_below:.3g} below"
    )
    return _finding(
        study,
        "C3",
        experiment,
        math.nan,
        paper,
        cells,
        interval=interval,
        decided=decided,
        check=check,
        extra_note=note,
    )


def _c3_cells(study: StudyResults, experiment: str) -> dict[float, list[Condition]]:
    """The usable cells per level (a drop and noise stats), levels with >= 2 schemes."""
    train = study.train.get(experiment)
    by_level = {}
    for level in study.levels:
        cells = [
            c
            for c in (Condition(experiment, s, level, HEADLINE[RETRIEVAL]) for s in SCHEMES_BY_HARM)
            if study.grid.has(c, c.clean) and (train, c.scheme, c.level) in study.corrupted_pct
        ]
        if len(cells) >= 2:
            by_level[level] = cells
    return by_level


def _per_seed_rho(study, per_seed_drops, by_level, xs) -> list[float]:
    """The stratified rho of each seed's drops (metrics.csv alone)."""
    drops = [[per_seed_drops(c) for c in cs] for cs in by_level.values()]
    seeds = set.intersection(*(set(d) for level in drops for d in level))
    return [stratified_rho(xs, [[d[s] for d in level] for level in drops]) for s in sorted(seeds)]


def c4(study: StudyResults) -> Finding:
    experiment = study.reference(VERIFICATION) or "faces"
    level, share = matched_level(study, experiment)
    paper_text = "TPR@FPR=1e-3 99.27% -> ~0 (drop ~100%) at 5%"
    paper = (paper_text, paper_drop("faces", C4_LEVEL)) if experiment == "faces" else ("", math.nan)
    condition = Condition(experiment, UNIFORM, level, HEADLINE[VERIFICATION])

    def statistic(m):
        return 100 * _drop(m, condition)

    check = _check(
        study,
        lambda d: seed_check.mean_interval(list(d(condition).values()), study.grid.confidence),
    )
    in_regime = math.isfinite(share) and abs(share - C4_STUDY_CORRUPTED_PCT) <= C4_REGIME_TOLERANCE
    regime = (
        f"regime: {100 * level:g}% uniform noise corrupts "
        + (f"{share:.0f}%" if math.isfinite(share) else "an unknown share")
        + f" of the classes (the study's MS-Celeb-1M at 5%: {C4_STUDY_CORRUPTED_PCT:g}%)"
    )
    finding = _finding(
        study,
        "C4",
        experiment,
        level,
        paper,
        (condition,),
        null=C4_NULL,
        statistic=statistic,
        check=_scaled(check, 100),
        extra_note=regime,
    )
    if finding.verdict == CONTRADICTED and not in_regime:
        return Finding(**(asdict(finding) | {"verdict": NOT_IN_REGIME}))
    return finding


def matched_level(study: StudyResults, experiment: str) -> tuple[float, float]:
    """(level, its % of corrupted classes): the run's uniform level whose share of
    corrupted classes is closest to the study's; the study's level (share NaN) without stats."""
    train = study.train.get(experiment)
    shares = {
        level: pct
        for (dataset, scheme, level), pct in study.corrupted_pct.items()
        if dataset == train
        and scheme == UNIFORM
        and study.grid.has(Condition(experiment, UNIFORM, level, HEADLINE[VERIFICATION]))
    }
    if not shares:
        return C4_LEVEL, math.nan
    level = min(sorted(shares), key=lambda lv: abs(shares[lv] - C4_STUDY_CORRUPTED_PCT))
    return level, shares[level]


def _drop(m: Mapping[str, np.ndarray], condition: Condition) -> np.ndarray:
    return relative_drop(m[condition.clean.name], m[condition.name])


def _check(study: StudyResults, interval_of) -> tuple[float, float] | None:
    """The seed-level t interval from metrics.csv (None: the study has no per-seed values)."""
    if study.per_seed is None:
        return None

    def drops(c: Condition) -> dict[int, float]:
        return seed_check.per_seed_drops(study.per_seed, c.clean.name, c.name)

    return interval_of(drops)


def _paired_interval(study: StudyResults, drops, more: Condition, less: Condition):
    a, b = drops(more), drops(less)
    seeds = sorted(set(a) & set(b))
    return seed_check.mean_interval([a[s] - b[s] for s in seeds], study.grid.confidence)


def _scaled(check: tuple[float, float] | None, scale: float):
    return None if check is None else (check[0] * scale, check[1] * scale)


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
    check: tuple[float, float] | None = None,
    interval: Interval | None = None,
    decided: str | None = None,
    extra_note: str = "",
) -> Finding:
    """A row: the verdict of the interval (or `decided` by another test), kept only where
    the seed-level `check` interval agrees with it."""
    missing = list(missing) + _missing(study, conditions)
    nan = Interval(math.nan, math.nan, math.nan, study.grid.confidence)
    if interval is None:
        interval = nan if missing or statistic is None else study.grid.interval(statistic)
    result = verdict(interval, null, missing) if decided is None or missing else decided
    notes = ["missing: " + "; ".join(missing)] if missing else []
    if not missing and result == INCONCLUSIVE and decided is None:
        notes.append(
            "interval undefined" if math.isnan(interval.low) else "interval contains the null"
        )
    check_low, check_high = check if check is not None else (math.nan, math.nan)
    if check is not None and result != INCONCLUSIVE:
        agrees = verdict(Interval(math.nan, check_low, check_high, interval.level), null)
        if agrees != result:
            notes.append(
                f"{result} by the bootstrap, but not by the seed-level t interval from metrics.csv"
            )
            result = INCONCLUSIVE
    notes += [extra_note] if extra_note else []
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
        verdict=result,
        note="; ".join(notes),
        achieved=_achieved(study, conditions),
        seed_t_low=check_low,
        seed_t_high=check_high,
    )


def _achieved(study: StudyResults, conditions: Sequence[Condition]) -> str:
    """'uniform 5%: 5.0%' per noisy condition: nominal level, then labels actually changed."""
    parts = []
    for c in dict.fromkeys(conditions):
        pct = study.achieved_pct.get((study.train.get(c.experiment), c.scheme, c.level))
        if pct is not None:
            parts.append(f"{c.experiment} {c.scheme} {100 * c.level:g}%: {pct:.1f}%")
    return "; ".join(parts)


def _missing(study: StudyResults, conditions: Sequence[Condition]) -> list[str]:
    """The runs (clean included) that the conditions need and the grid lacks."""
    needed = dict.fromkeys(c for condition in conditions for c in (condition.clean, condition))
    return [_describe(c) for c in needed if not study.grid.has(c)]


def _describe(c: Condition) -> str:
    where = CLEAN_SCHEME if c.scheme == CLEAN_SCHEME else f"{c.scheme} {100 * c.level:g}%"
    return f"{c.experiment} {where} ({c.metric})"
